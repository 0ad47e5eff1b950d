package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	_ "github.com/mattn/go-sqlite3"

	"codeberg.org/relais/relais/internal/schematest"
	"codeberg.org/relais/relais/internal/testcert"
	"codeberg.org/relais/relais/outbox"
	"codeberg.org/relais/relais/store"
)

// runCmd runs the binary and returns its standard output, standard error
// and exit status.
func runCmd(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(relaisBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// expect runs the binary and checks its exact output and status.
func expect(t *testing.T, wantOut, wantErr string, wantCode int, args ...string) {
	t.Helper()
	out, errs, code := runCmd(t, nil, args...)
	if out != wantOut || errs != wantErr || code != wantCode {
		t.Fatalf("relais %s:\nstdout %q\nwant   %q\nstderr %q\nwant   %q\nstatus %d, want %d", strings.Join(args, " "), out, wantOut, errs, wantErr, code, wantCode)
	}
}

// sqlExec changes the database behind the hub's back, as time would.
func sqlExec(t *testing.T, data, query string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(data, store.FileName)+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatal(err)
	}
}

// Read-only commands on a data directory that does not exist say so and
// create nothing, whether it came from --data or a configuration file.
func TestCLIReadOnlyCreatesNothing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "typo-dir")
	for _, args := range [][]string{{"group", "list"}, {"list", "list"}, {"list", "members", "4405.x"}, {"ticket", "list"}, {"queue", "list"},
		{"outbox"}, {"outbox", "show", "1"}, {"held", "list"}, {"status"}, {"event", "list"}, {"group", "remove", "4405.x"},
		{"outbox", "retry", "--all"}, {"digest", "preview", "--member", "a@b.example", "--domain", "hub.example"}} {
		name := strings.Join(args[:1], " ")
		if len(args) > 1 && !strings.HasPrefix(args[1], "-") {
			name = strings.Join(args[:2], " ")
		}
		if args[0] == "outbox" && len(args) == 1 {
			name = "outbox list"
		}
		expect(t, "", "relais "+name+": no relais data in "+missing+": give --data DIR or --config FILE (nothing was created; "+
			"`relais serve` and the commands that add something create it)\n", 1, append(args, "--data", missing)...)
		if _, err := os.Stat(missing); err == nil {
			t.Fatalf("relais %v created %s", args, missing)
		}
	}
	// The example configuration names /var/lib/relais: nothing there is
	// made either (its data_dir comes from the environment here).
	out, errs, code := runCmd(t, []string{"RELAIS_DATA_DIR=" + missing}, "group", "list", "--config", "../../deploy/relais.toml")
	if out != "" || code != 1 || !strings.Contains(errs, "no relais data in "+missing) {
		t.Fatalf("%q %q %d", out, errs, code)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("created")
	}
}

// Reading commands never migrate: a newer binary run for a look at a data
// directory whose schema is behind says so and changes nothing, so that a
// hub still running the older binary is not migrated under its feet. The
// database is the previous release's (the store's migrations but the
// last), so a command that migrated would be seen doing it; one that
// writes (group add) does.
func TestCLIReadOnlyDoesNotMigrate(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite3", "file:"+filepath.Join(data, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	was, now := schematest.PreviousRelease(t, raw, "../../store/migrations/*.sql")
	raw.Close()
	sqlExec(t, data, fmt.Sprintf("PRAGMA journal_mode = WAL; PRAGMA user_version = %d", was))
	version := func() (v int) {
		db, err := sql.Open("sqlite3", "file:"+filepath.Join(data, store.FileName))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, args := range [][]string{{"group", "list"}, {"status"}, {"outbox"}, {"outbox", "show", "1"}, {"held", "list"}, {"ticket", "list"},
		{"digest", "preview", "--member", "a@b.example", "--domain", "hub.example"}, {"digest", "run", "--dry-run", "--domain", "hub.example"}} {
		name := strings.Join(args[:min(2, len(args))], " ")
		if name == "outbox" {
			name = "outbox list"
		}
		out, errs, code := runCmd(t, nil, append(args, "--data", data)...)
		want := fmt.Sprintf("relais %s: the database's schema is at version %d and this relais's at %d: start `relais serve` with this relais once", name, was, now)
		if out != "" || code != 1 || !strings.HasPrefix(errs, want) || strings.Count(errs, "\n") != 1 {
			t.Errorf("relais %v: %d\nstdout %q\nstderr %q", args, code, out, errs)
		}
		if v := version(); v != was {
			t.Fatalf("relais %v migrated to %d", args, v)
		}
	}
	// A backup before an upgrade, taken with the new binary: the database
	// copied as it is, its schema left where it was.
	id, _ := age.GenerateX25519Identity()
	file := filepath.Join(t.TempDir(), "before-upgrade.tar.age")
	out := relais(t, "backup", "--out", file, "--recipient", id.Recipient().String(), "--data", data)
	if !strings.HasPrefix(out, fmt.Sprintf("backup: the database's schema is at version %d, this relais's at %d: copied as it is\n", was, now)) ||
		!strings.Contains(out, fmt.Sprintf(", schema %d, ", was)) {
		t.Fatalf("backup of a schema behind:\n%s", out)
	}
	if v := version(); v != was {
		t.Fatalf("backup migrated to %d", v)
	}
	// Without a recipient: one line, the command's name said once.
	if out, errs, code := runCmd(t, nil, "backup", "--out", file+"2", "--data", data); code != 1 || out != "" ||
		!strings.HasPrefix(errs, "relais backup: no recipient: set backup.recipients") || strings.Count(errs, "\n") != 1 {
		t.Errorf("backup without a recipient: %d\nstdout %q\nstderr %q", code, out, errs)
	}
	relais(t, "group", "add", "4405.x", "--name", "X", "--animator", "a@b.example", "--data", data)
	if v := version(); v != now {
		t.Fatalf("group add: schema at %d, want %d", v, now)
	}
	relais(t, "group", "list", "--data", data)
}

// --help of a subcommand shows its own flags; errors have one prefix;
// mistakes in the command line exit 2.
func TestCLIHelpErrorsVersion(t *testing.T) {
	out, errs, code := runCmd(t, nil, "list", "members", "--help")
	if code != 0 || errs != "" || !strings.HasPrefix(out, "Usage: relais list members CODE.NAME [--json]\n\n") ||
		!strings.Contains(out, "  -json\n") || strings.Contains(out, "-policy") || strings.Contains(out, "-owner") {
		t.Fatalf("list members --help: %d %q\n%s", code, errs, out)
	}
	out, _, code = runCmd(t, nil, "outbox", "--help")
	if code != 0 || !strings.HasPrefix(out, "Usage: relais outbox COMMAND [flags]\n") || !strings.Contains(out, "relais outbox retry ID | --all") {
		t.Fatalf("outbox --help: %d\n%s", code, out)
	}
	out, _, code = runCmd(t, nil, "serve", "--help")
	if code != 0 || !strings.Contains(out, "  -web string\n") || !strings.Contains(out, "  -metrics string\n") {
		t.Fatalf("serve --help: %d\n%s", code, out)
	}
	data := t.TempDir()
	relais(t, "group", "add", "4405.nantes-sud", "--name", "Nantes Sud", "--animator", "a@exemple.fr", "--data", data)
	expect(t, "", "relais queue remove: no queue nope\n", 1, "queue", "remove", "nope", "--data", data)
	expect(t, "", "relais queue: unknown command \"frob\": add, remove, list\n", 2, "queue", "frob")
	expect(t, "", "relais ticket show: \"x\" is not a ticket number\n", 2, "ticket", "show", "x", "--data", data)
	expect(t, "", "relais group add: takes 1 argument (--help)\n", 2, "group", "add", "--data", data)
	expect(t, "", "relais group list: flag provided but not defined: -nope (--help)\n", 2, "group", "list", "--nope", "--data", data)
	expect(t, "", "relais: unknown command \"frob\" (relais --help lists them)\n", 2, "frob")
	out, _, code = runCmd(t, nil, "version")
	if code != 0 || !regexp.MustCompile(`^relais \S+( commit [0-9a-f]{12}(\+changes)?)? go1\.\d+(\.\d+)? [a-z0-9]+/[a-z0-9]+\nRSA signatures: (OpenSSL .*\(libcrypto\.so\.3\)|Go crypto/rsa.*)\n$`).MatchString(out) {
		t.Fatalf("version: %q", out)
	}
	out, _, _ = runCmd(t, nil, "version", "--json")
	var v struct{ Version, Go, Platform string }
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Go == "" || v.Platform == "" || v.Version == "" {
		t.Fatalf("version --json: %v %q", err, out)
	}
	if o, _, _ := runCmd(t, nil, "--version"); o != strings.SplitN(out, "\n", 2)[0]+"\n" && !strings.HasPrefix(o, "relais ") {
		t.Fatalf("--version: %q", o)
	}
	expect(t, `[
  {
    "address": "4405.nantes-sud",
    "name": "Nantes Sud",
    "commune": "",
    "animators": [
      "a@exemple.fr"
    ]
  }
]
`, "", 0, "group", "list", "--json", "--data", data)
}

// Members: bounce score and last bounce shown; an operator removes a
// member and sends mail again to one set to bouncing; settings change;
// a list is deleted with its archive kept in a file.
func TestCLIListOperations(t *testing.T) {
	data := t.TempDir()
	relais(t, "list", "create", "4405.discussion", "--policy", "members", "--owner", "o@exemple.fr", "--data", data)
	relais(t, "list", "subscribe", "4405.discussion", "--consent", "Sympa export", "a@exemple.fr", "b@exemple.fr", "c@exemple.fr", "--data", data)
	bounced := time.Date(2026, 11, 30, 10, 0, 0, 0, time.Local)
	sqlExec(t, data, "UPDATE members SET state = 'bouncing', bounce_score = 5, bounce_at = ? WHERE email = 'b@exemple.fr'", bounced.Unix())
	sqlExec(t, data, "UPDATE members SET consent_at = ?", time.Date(2026, 11, 1, 9, 0, 0, 0, time.Local).Unix())
	expect(t, `EMAIL         STATE     MODE  PAUSED  BOUNCES  LAST BOUNCE  SINCE       CONSENT
a@exemple.fr  active    each  -       0        -            2026-11-01  operator: Sympa export
b@exemple.fr  bouncing  each  -       5        2026-11-30   2026-11-01  operator: Sympa export
c@exemple.fr  active    each  -       0        -            2026-11-01  operator: Sympa export
`, "", 0, "list", "members", "4405.discussion", "--data", data)
	expect(t, "", "relais list enable: a@exemple.fr: lists: member is not bouncing: a@exemple.fr is active\n", 1, "list", "enable", "4405.discussion", "a@exemple.fr", "--data", data)
	expect(t, "enabled: b@exemple.fr from 4405.discussion\n", "", 0, "list", "enable", "4405.discussion", "b@exemple.fr", "--data", data)
	expect(t, "removed: c@exemple.fr from 4405.discussion\n", "", 0, "list", "remove", "4405.discussion", "c@exemple.fr", "--reason", "asked by phone", "--data", data)
	out, _, _ := runCmd(t, nil, "list", "members", "4405.discussion", "--json", "--data", data)
	var ms []memberJSON
	if err := json.Unmarshal([]byte(out), &ms); err != nil || len(ms) != 3 {
		t.Fatalf("%v %s", err, out)
	}
	if ms[1].State != "active" || ms[1].Bounces != 0 || ms[2].State != "unsubscribed" || ms[2].LeftHow != "operator: asked by phone" || ms[2].Subscribed {
		t.Fatalf("members after: %+v", ms)
	}
	expect(t, "", "relais list remove: c@exemple.fr: lists: not a member: c@exemple.fr left on "+time.Now().Format("2006-01-02")+"\n", 1,
		"list", "remove", "4405.discussion", "c@exemple.fr", "--data", data)
	expect(t, "updated: 4405.discussion (Discussion), policy moderated, replies to list, auth strict, owners: o@exemple.fr (owner), m@exemple.fr (moderator)\n", "", 0,
		"list", "update", "4405.discussion", "--policy", "moderated", "--name", "Discussion", "--moderator", "m@exemple.fr", "--data", data)
	// An archive: one post.
	sqlExec(t, data, "INSERT INTO posts (list_id, poster, subject, posted_at, body) VALUES (1, 'a@exemple.fr', 'Un', 1764000000, ?)",
		[]byte("From: a@exemple.fr\r\nSubject: Un\r\n\r\nPremier.\r\n"))
	expect(t, "", "relais list delete: 4405.discussion has 1 archived post(s): give --keep-archive or --delete-archive\n", 2,
		"list", "delete", "4405.discussion", "--data", data)
	out, errs, code := runCmd(t, nil, "list", "delete", "4405.discussion", "--keep-archive", "--data", data)
	m := regexp.MustCompile(`^deleted: 4405\.discussion; its archive \(1 posts\) is in (.+/archives/4405\.discussion-\d{8}-\d{6}\.mbox)\n$`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("%d %q %q", code, out, errs)
	}
	if b, err := os.ReadFile(m[1]); err != nil || !strings.Contains(string(b), "Premier.") {
		t.Fatalf("archive: %v %q", err, b)
	}
	expect(t, "", "relais list members: lists: no such list: 4405.discussion\n", 1, "list", "members", "4405.discussion", "--data", data)
}

// Held posts from the command line: listed with their reason, shown
// decoded, approved (the running hub sends the post to the members) and
// rejected (the poster is not told: their From is not proven).
func TestCLIHeld(t *testing.T) {
	data := t.TempDir()
	relais(t, "list", "create", "4405.discussion", "--policy", "members", "--owner", "o@exemple.fr", "--data", data)
	relais(t, "list", "subscribe", "4405.discussion", "--consent", "test", "a@exemple.fr", "--data", data)
	box, err := outbox.Start("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	dns := startDNS(t)
	p := serveHub(t, data, box.Addr(), "RELAIS_AUTH_DNS_SERVER="+dns.addr)
	for i, subject := range []string{"=?utf-8?q?R=C3=A9union?=", "Spam"} {
		msg := "From: Stranger <s@example.org>\r\nTo: 4405.discussion@hub.example\r\nSubject: " + subject + "\r\nMessage-ID: <h" + string(rune('0'+i)) +
			"@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nBonjour =C3=A0 tous.\r\n"
		if err := sendOne(p.addr, "s@example.org", "4405.discussion@hub.example", msg); err != nil {
			t.Fatal(err)
		}
		// One at a time: the dispatcher handles messages concurrently, and
		// the held posts' numbers follow the order it stores them in.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := box.Wait(ctx, i+1) // the owner's notice
		cancel()
		if err != nil {
			t.Fatalf("%v\n%s", err, p.log())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	env := []string{"RELAIS_DOMAINS=hub.example", "RELAIS_AUTH_DNS_SERVER=" + dns.addr}
	out, _, _ := runCmd(t, env, "held", "list", "--json", "--data", data)
	var hs []struct {
		ID                                   int64
		List, Poster, Reason, Subject, State string
		HeldAt                               time.Time `json:"held_at"`
	}
	if err := json.Unmarshal([]byte(out), &hs); err != nil || len(hs) != 2 {
		t.Fatalf("%v %s", err, out)
	}
	if hs[0].ID != 1 || hs[0].List != "4405.discussion" || hs[0].Poster != "s@example.org" || hs[0].Reason != "non-member" ||
		hs[0].Subject != "Réunion" || hs[0].State != "held" {
		t.Fatalf("held list: %+v", hs[0])
	}
	out, _, code := runCmd(t, env, "held", "list", "--data", data)
	if code != 0 || !regexp.MustCompile(`^N  LIST +STATE  HELD +EXPIRES +REASON +POSTER +SUBJECT\n1  4405\.discussion  held   [0-9: -]+  [0-9-]+  non-member  s@example\.org  Réunion\n2  .*  Spam\n$`).MatchString(out) {
		t.Fatalf("held list:\n%s", out)
	}
	out, _, code = runCmd(t, env, "held", "show", "1", "--data", data)
	if code != 0 || !regexp.MustCompile(`^Held post 1 · 4405\.discussion · held\nReason:  non-member\nPoster:  s@example\.org\nHeld:    .*\n\n(?s:.*)From: Stranger <s@example\.org>\nTo: 4405\.discussion@hub\.example\nSubject: Réunion\n\nBonjour à tous\.\n$`).MatchString(out) {
		t.Fatalf("held show:\n%s", out)
	}
	expectEnv := func(wantOut, wantErr string, wantCode int, args ...string) {
		t.Helper()
		out, errs, code := runCmd(t, env, args...)
		if out != wantOut || errs != wantErr || code != wantCode {
			t.Fatalf("relais %v: %q %q %d", args, out, errs, code)
		}
	}
	expectEnv("held post 1: approved\n", "", 0, "held", "approve", "1", "--data", data)
	// The running hub sends it to the member (it looks again every 10 s).
	mails, err := box.Wait(ctx, 3)
	if err != nil {
		t.Fatalf("%v\n%s", err, p.log())
	}
	if m := mails[2]; m.To != "a@exemple.fr" || m.Header().Get("List-Id") == "" {
		t.Fatalf("approved post: %s %s", m.To, m.Data)
	}
	expectEnv("held post 2: rejected\n", "", 0, "held", "reject", "2", "--reason", "hors sujet", "--data", data)
	expectEnv("", "relais held approve: lists: already decided: post 2 is rejected\n", 1, "held", "approve", "2", "--data", data)
	expectEnv("", "relais held show: no held post 9\n", 1, "held", "show", "9", "--data", data)
	expectEnv("N  LIST  STATE  HELD  EXPIRES  REASON  POSTER  SUBJECT\n", "", 0, "held", "list", "--data", data)
	out, _, _ = runCmd(t, env, "held", "list", "--all", "--json", "--data", data)
	if err := json.Unmarshal([]byte(out), &hs); err != nil || len(hs) != 2 || hs[0].State != "approved" || hs[1].State != "rejected" {
		t.Fatalf("%v %s", err, out)
	}
	if !strings.Contains(p.log(), `msg="post held" part=lists list=4405.discussion held=1`) || !strings.Contains(p.log(), "reason=non-member") {
		t.Fatalf("holds are not logged with their reason:\n%s", p.log())
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(box.Mails()); n != 3 {
		t.Fatalf("%d mails: the unproven poster was told", n)
	}
}

// The outbound queue as postqueue/postsuper handle it: hold, release,
// delete, retry; the age of the oldest; one numbering from the table to
// show.
func TestCLIOutboxOperations(t *testing.T) {
	data := t.TempDir()
	relais(t, "group", "add", "4405.nantes-sud", "--name", "Nantes Sud", "--animator", "a@exemple.fr,b@exemple.fr", "--data", data)
	dead := freePort(t)
	p := serveHub(t, data, dead)
	msg := "From: w@example.org\r\nTo: 4405.nantes-sud@hub.example\r\nSubject: =?utf-8?q?Caf=C3=A9?=\r\nMessage-ID: <q1@example.org>\r\n\r\nbody\r\n"
	if err := sendOne(p.addr, "w@example.org", "4405.nantes-sud@hub.example", msg); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.log(), "dlv=2") || !strings.Contains(p.log(), "result=deferred") {
		if time.Now().After(deadline) {
			t.Fatalf("no attempt:\n%s", p.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.kill()
	sqlExec(t, data, "UPDATE deliveries SET created_at = created_at - 7200")
	out := relais(t, "outbox", "--data", data)
	if !regexp.MustCompile(`^Queue \(` + regexp.QuoteMeta(data) + `\): queued 2\nOldest waiting: queued 2h0[01]m ago \([0-9: -]+\)\n\n` +
		`ID +STATE +KIND +TO +TRIES +UPDATED +SUBJECT +LAST REPLY\n2 +queued +forward +b@exemple\.fr +1 +[0-9: -]+ +Café +relay 127\.0\.0\.1:\d+: .*\(next [0-9:]+\)\n1 +queued +forward +a@exemple\.fr +1 .* Café .*\n$`).MatchString(out) {
		t.Fatalf("outbox:\n%s", out)
	}
	expect(t, "delivery 1: held\n", "", 0, "outbox", "hold", "1", "--data", data)
	expect(t, "", "relais outbox hold: delivery 1 is held\n", 1, "outbox", "hold", "1", "--data", data)
	expect(t, "", "relais outbox release: no delivery 9\n", 1, "outbox", "release", "9", "--data", data)
	expect(t, "delivery 2: deleted\n", "", 0, "outbox", "delete", "2", "--data", data)
	out, _, _ = runCmd(t, nil, "outbox", "--json", "--data", data)
	var o outboxJSON
	if err := json.Unmarshal([]byte(out), &o); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if o.Counts["held"] != 1 || o.Counts["queued"] != 0 || len(o.Deliveries) != 1 || o.Deliveries[0].ID != 1 || o.Deliveries[0].State != "held" ||
		o.Deliveries[0].Subject != "Café" || o.OldestAge != 0 {
		t.Fatalf("outbox --json: %+v", o)
	}
	expect(t, "retry: 0 delivery(ies) due now\n", "", 0, "outbox", "retry", "--all", "--data", data)
	expect(t, "delivery 1: released\n", "", 0, "outbox", "release", "1", "--data", data)
	expect(t, "retry: 1 delivery(ies) due now\n", "", 0, "outbox", "retry", "1", "--data", data)
	expect(t, "", "relais outbox retry: give a delivery ID or --all\n", 2, "outbox", "retry", "--data", data)
	out = relais(t, "outbox", "show", "1", "--data", data)
	if !regexp.MustCompile(`^Delivery 1 · queued · forward → a@exemple\.fr · 1 attempt\(s\) · relay .*\n\n(?s:.*)From: w@example\.org\nTo: 4405\.nantes-sud@hub\.example\nSubject: Café\n\nbody\n$`).MatchString(out) {
		t.Fatalf("outbox show 1:\n%s", out)
	}
	// Released and retried: the next start sends it.
	box, err := outbox.Start(dead, "")
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	p = serveHub(t, data, dead)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if m, err := box.Wait(ctx, 1); err != nil || m[0].To != "a@exemple.fr" {
		t.Fatalf("%v %v\n%s", err, m, p.log())
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(box.Mails()); n != 1 {
		t.Fatalf("%d sent: the deleted delivery went too", n)
	}
}

// The desk: a queue with tickets is removed only when told; tickets are
// closed, reopened and assigned from the command line.
func TestCLIDeskOperations(t *testing.T) {
	data := t.TempDir()
	relais(t, "queue", "add", "support", "--operator", "nadia@ops.example,paul@ops.example", "--data", data)
	relais(t, "queue", "add", "vide", "--operator", "x@ops.example", "--data", data)
	box, err := outbox.Start("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	dns := startDNS(t)
	p := serveHub(t, data, box.Addr(), "RELAIS_AUTH_DNS_SERVER="+dns.addr)
	if err := sendOne(p.addr, "c@example.org", "support@hub.example", "From: c@example.org\r\nSubject: Salle\r\nMessage-ID: <t1@example.org>\r\n\r\nUne salle.\r\n"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := box.Wait(ctx, 3); err != nil {
		t.Fatalf("%v\n%s", err, p.log())
	}
	p.kill()
	expect(t, "ticket #1: assigned to paul@ops.example\n", "", 0, "ticket", "assign", "1", "Paul@ops.example", "--data", data)
	expect(t, "", "relais ticket assign: zoe@ops.example is not an operator of support (nadia@ops.example, paul@ops.example)\n", 1,
		"ticket", "assign", "1", "zoe@ops.example", "--data", data)
	expect(t, "ticket #1: closed\n", "", 0, "ticket", "close", "#1", "--data", data)
	expect(t, "", "relais ticket close: ticket 1 is already closed\n", 1, "ticket", "close", "1", "--data", data)
	expect(t, "ticket #1: open\n", "", 0, "ticket", "reopen", "1", "--data", data)
	expect(t, "ticket #1: assigned to -\n", "", 0, "ticket", "assign", "1", "--none", "--data", data)
	expect(t, "", "relais ticket reopen: no ticket 7\n", 1, "ticket", "reopen", "7", "--data", data)
	out, _, _ := runCmd(t, nil, "ticket", "list", "--json", "--data", data)
	var ts []ticketJSON
	if err := json.Unmarshal([]byte(out), &ts); err != nil || len(ts) != 1 || ts[0].State != "open" || ts[0].Assignee != "" || ts[0].Queue != "support" || ts[0].Subject != "Salle" {
		t.Fatalf("%v %s", err, out)
	}
	expect(t, "", "relais queue remove: tickets: queue has tickets: support has 1 ticket(s); give --delete-tickets to delete them with it\n", 1,
		"queue", "remove", "support", "--data", data)
	expect(t, "removed: queue vide, with 0 ticket(s)\n", "", 0, "queue", "remove", "vide", "--data", data)
	expect(t, "removed: queue support, with 1 ticket(s)\n", "", 0, "queue", "remove", "support", "--delete-tickets", "--data", data)
	expect(t, "[]\n", "", 0, "queue", "list", "--json", "--data", data)
	expect(t, "[]\n", "", 0, "ticket", "list", "--json", "--data", data)
}

// zoneTXT reads the TXT records of `relais dns` output into the DNS
// server, and the MX.
func zoneTXT(t *testing.T, dns *dnsServer, zone string) {
	t.Helper()
	for _, line := range strings.Split(zone, "\n") {
		f := strings.SplitN(line, "\t", 5)
		if len(f) != 5 {
			continue
		}
		switch f[3] {
		case "MX":
			dns.MX(f[0], strings.Fields(f[4])[1])
		case "TXT":
			var v string
			for _, q := range regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`).FindAllStringSubmatch(f[4], -1) {
				v += q[1]
			}
			dns.TXT(f[0], v)
		}
	}
}

// relais doctor against a DNS server publishing what relais dns prints,
// a relay that answers, a certificate for the host and an https base
// URL: nothing found. Without a DKIM record: the finding and its fix.
// relais status: the listeners, the queue, the keys, the certificate.
func TestCLIDoctorAndStatus(t *testing.T) {
	data := t.TempDir()
	relais(t, "dkim", "keygen", "--domain", "hub.example", "--data", data)
	relais(t, "group", "add", "4405.nantes-sud", "--name", "Nantes Sud", "--animator", "a@exemple.fr", "--data", data)
	zone := relais(t, "dns", "--domain", "hub.example", "--mx", "localhost", "--spf", "ip4:127.0.0.1", "--data", data)
	dns := startDNS(t)
	zoneTXT(t, dns, zone)
	box, err := outbox.Start("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	cert, key, err := testcert.Files(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"RELAIS_AUTH_DNS_SERVER=" + dns.addr, "RELAIS_HOSTNAME=localhost", "RELAIS_RELAY_ADDRESS=" + box.Addr(),
		"RELAIS_SMTP_TLS_CERT=" + cert, "RELAIS_SMTP_TLS_KEY=" + key, "RELAIS_WEB_BASE_URL=https://listes.hub.example", "RELAIS_SMTP_LISTEN=127.0.0.1:2525"}
	args := []string{"doctor", "--domain", "hub.example", "--mx", "localhost", "--spf", "ip4:127.0.0.1", "--data", data}
	// All right but the test certificate, which lives a day: a warning,
	// exit status 0.
	renew := "  fix: renew it (certbot renew) and check the renewal timer runs; the hub reads the new files at the next connection\n"
	tlsWarning := "warning tls: the certificate expires on " + time.Now().UTC().Add(24*time.Hour).Format("2006-01-02") + ", in 0 days\n" + renew
	out, errs, code := runCmd(t, env, args...)
	if out != tlsWarning || errs != "" || code != 0 {
		t.Fatalf("doctor, all right: %q %q %d", out, errs, code)
	}
	var sel string
	for _, line := range strings.Split(zone, "\n") {
		if strings.HasPrefix(line, "ed-") {
			sel = strings.SplitN(line, "\t", 2)[0]
		}
	}
	dns.TXT(sel) // the Ed25519 key's record removed
	out, errs, code = runCmd(t, env, append(args, "--json")...)
	var fs []struct{ Check, Severity, Problem, Fix string }
	if err := json.Unmarshal([]byte(out), &fs); err != nil || code != 1 || errs != "relais doctor: 2 problem(s) found, errors among them\n" {
		t.Fatalf("%v %q %q %d", err, out, errs, code)
	}
	name := strings.TrimSuffix(sel, ".")
	if len(fs) != 2 || fs[1].Check != "tls" || fs[0].Check != "dkim" || fs[0].Severity != "error" ||
		fs[0].Problem != "no DKIM record at "+name+": mail the hub signs with this key fails DKIM, and DMARC with it" ||
		!strings.HasPrefix(fs[0].Fix, "publish "+sel+"\t3600\tIN\tTXT\t\"v=DKIM1; k=ed25519; p=") {
		t.Fatalf("doctor: %+v", fs)
	}
	out, _, code = runCmd(t, env, args...)
	if code != 1 || !strings.HasPrefix(out, "error dkim: no DKIM record at "+name+": mail the hub signs with this key fails DKIM, and DMARC with it\n  fix: publish "+sel+"\t3600\tIN\tTXT\t\"v=DKIM1; k=ed25519; p=") ||
		!strings.HasSuffix(out, "\"\n"+tlsWarning) {
		t.Fatalf("doctor:\n%s", out)
	}

	// status, with the relay's port standing in for a listener that answers.
	senv := append(env, "RELAIS_SMTP_LISTEN="+box.Addr(), "RELAIS_METRICS_LISTEN=", "RELAIS_WEB_LISTEN="+freePort(t))
	out, _, code = runCmd(t, senv, "status", "--json", "--data", data)
	var st statusJSON
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 0 {
		t.Fatalf("%v %s", err, out)
	}
	if len(st.Listeners) != 2 || !st.Listeners[0].Up || st.Listeners[0].Name != "smtp" || st.Listeners[1].Up || st.Queue.Depth != 0 ||
		st.Held.Waiting != 0 || st.Digest != nil || len(st.DKIM) != 2 || !st.DKIM[0].Active || st.Cert == nil ||
		st.Cert.Names[0] != "localhost" || st.Cert.DaysLeft != 0 {
		t.Fatalf("status --json: %s", out)
	}
	out, _, code = runCmd(t, senv, "status", "--data", data)
	if code != 0 || !regexp.MustCompile(`(?s)^relais status · .* · domains \[\]\n\nListeners\n  smtp     127\.0\.0\.1:\d+ +answers\n  web      127\.0\.0\.1:\d+ +NOT ANSWERING\n\n`+
		`Queue     0 waiting \(sent 0, failed 0, bounced 0, held 0\)\nHeld      0 post\(s\) waiting for a moderator\nDigests   no run recorded yet\n`+
		`DKIM      hub\.example rsa-\d+ active; hub\.example ed-\d+ active;\nTLS       \[localhost\], expires [0-9-]+ \(0 days\)\n$`).MatchString(out) {
		t.Fatalf("status:\n%s", out)
	}
}

// digest preview shows the digest decoded, as a mail client would; --raw
// gives the MIME.
func TestCLIDigestPreviewDecoded(t *testing.T) {
	data := t.TempDir()
	relais(t, "group", "add", "4405.nantes-sud", "--name", "Nantes Sud", "--commune", "44200", "--animator", "a@exemple.fr", "--data", data)
	when := time.Now().AddDate(0, 0, 3).Format("02/01/2006")
	relais(t, "event", "add", "--group", "4405.nantes-sud", "--title", "Réunion publique", "--date", when+" 18h30", "--duration", "2h",
		"--place", "Salle des fêtes, 44000 Nantes", "--data", data)
	sqlExec(t, data, "INSERT INTO agenda_members (email, postcode, insee, place, lat, lon, created_at, updated_at) VALUES ('m@example.org', '44000', '44109', 'Nantes', 47.2184, -1.5536, 0, 0)")
	out := relais(t, "digest", "preview", "--member", "m@example.org", "--domain", "hub.example", "--data", data)
	if !regexp.MustCompile(`(?s)^Date: .*\nFrom: "Agenda" <agenda@hub\.example>\nTo: <m@example\.org>\nSubject: Agenda de la semaine autour de Nantes : 1 événement\nList-Id: .*\nList-Unsubscribe: .*\n\nBonjour,\n.*: Réunion publique\n.*`).MatchString(out) ||
		strings.Contains(out, "=C3=") || strings.Contains(out, "Content-Transfer-Encoding") || strings.Contains(out, "DKIM-Signature") {
		t.Fatalf("digest preview:\n%s", out)
	}
	// Every link is whole, web.listen's when web.base_url is not set.
	if links := regexp.MustCompile(`(\S*)/(signin|agenda/stop|agenda/attend)/`).FindAllStringSubmatch(out, -1); len(links) < 3 {
		t.Fatalf("digest preview links: %v\n%s", links, out)
	} else {
		for _, l := range links {
			if !strings.Contains(l[1], "http://127.0.0.1:") {
				t.Errorf("a link without its host: %s", l[0])
			}
		}
	}
	raw := relais(t, "digest", "preview", "--member", "m@example.org", "--domain", "hub.example", "--raw", "--data", data)
	if !strings.Contains(raw, "Content-Type: multipart/alternative") {
		t.Fatalf("digest preview --raw:\n%s", raw)
	}
	var evs []eventJSON
	if out := relais(t, "event", "list", "--json", "--data", data); json.Unmarshal([]byte(out), &evs) != nil || len(evs) != 1 ||
		evs[0].Title != "Réunion publique" || evs[0].Groups[0] != "4405.nantes-sud" || evs[0].End.Sub(evs[0].Start) != 2*time.Hour {
		t.Fatalf("event list --json: %s", out)
	}
	// A run from the command line is the last run relais status shows.
	if out := relais(t, "digest", "run", "--domain", "hub.example", "--data", data); !strings.HasPrefix(out, "1 members with a place, ") {
		t.Fatalf("digest run: %s", out)
	}
	var st statusJSON
	if out := relais(t, "status", "--json", "--data", data); json.Unmarshal([]byte(out), &st) != nil || st.Digest == nil || time.Since(st.Digest.At) > time.Minute {
		t.Fatalf("status after digest run: %s", out)
	}
}

// On a terminal, list delete asks whether to keep the archive, and the
// export shows its progress bar; without one it asks nothing (tested in
// TestCLIListOperations). script(1) gives the command a terminal.
func TestCLIListDeleteAsksOnATerminal(t *testing.T) {
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("SKIP: script(1) not found: install the Debian package bsdutils")
	}
	data := t.TempDir()
	relais(t, "list", "create", "4405.discussion", "--policy", "members", "--owner", "o@exemple.fr", "--data", data)
	sqlExec(t, data, "INSERT INTO posts (list_id, poster, subject, posted_at, body) VALUES (1, 'a@exemple.fr', 'Un', 1764000000, ?)",
		[]byte("From: a@exemple.fr\r\nSubject: Un\r\n\r\nPremier.\r\n"))
	cmd := exec.Command(script, "-qec", relaisBin+" list delete 4405.discussion --data "+data, "/dev/null")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out lockedBuf
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "Keep them in an mbox file? [y/n] ") {
		if time.Now().After(deadline) {
			t.Fatalf("not asked:\n%q", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	stdin.Write([]byte("oui\n"))
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v\n%q", err, out.String())
	}
	got := out.String()
	if !strings.Contains(got, "4405.discussion has 1 archived post(s). Keep them in an mbox file? [y/n] ") ||
		!strings.Contains(got, "exporting 4405.discussion (") || !regexp.MustCompile(`deleted: 4405\.discussion; its archive \(1 posts\) is in \S+\.mbox`).MatchString(got) {
		t.Fatalf("%q", got)
	}
}
