package hub

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"codeberg.org/relais/relais/archive"
	"codeberg.org/relais/relais/audit"
	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/internal/mbsync"
	"codeberg.org/relais/relais/lists"
)

// imapEnv is a hub with its IMAP server on 127.0.0.1, a list with posts
// made over SMTP, and an app password of one of its members.
type imapEnv struct {
	*env
	list     lists.List
	host     string
	port     string
	password string
}

const imapMember = "marie@example.org"

func newIMAPEnv(t *testing.T, posts int) *imapEnv {
	e := newEnv(t, func(c *config.Config) { c.IMAP.Listen = "127.0.0.1:0"; c.Lists.RatePerHour = 1000 })
	l := e.createList("4405.discussion", "members", []string{"camille@exemple.fr"}, imapMember, "paul@example.org")
	e.createList("4405.autre", "members", []string{"camille@exemple.fr"}, "paul@example.org")
	for i := range posts {
		body := fmt.Sprintf("Message %d : la réunion de samedi.", i+1)
		if err := e.send("paul@example.org", []string{"4405.discussion@hub.example"},
			post("paul@example.org", "4405.discussion@hub.example", fmt.Sprintf("Sujet %d", i+1), body)); err != nil {
			t.Fatal(err)
		}
	}
	e.waitFor("the posts", countTo(imapMember, posts))
	e.settle()
	pw, err := e.h.SignIn.NewAppPassword(context.Background(), imapMember, "test")
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(e.h.IMAPAddr().String(), ":")
	return &imapEnv{env: e, list: l, host: host, port: port, password: pw}
}

// python runs script with python3, feeding it lines on its standard
// input as the test asks; it skips when python3 is missing.
type python struct {
	t   *testing.T
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
	log strings.Builder
}

func startPython(t *testing.T, script string, args ...string) *python {
	exe, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("SKIP: python3 is not installed (apt-get install python3)")
	}
	f := filepath.Join(t.TempDir(), "client.py")
	if err := os.WriteFile(f, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &python{t: t, cmd: exec.Command(exe, append([]string{f}, args...)...)}
	p.in, _ = p.cmd.StdinPipe()
	out, _ := p.cmd.StdoutPipe()
	p.cmd.Stderr = &p.log
	p.out = bufio.NewScanner(out)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.in.Close(); p.cmd.Process.Kill(); p.cmd.Wait() })
	return p
}

// expect reads the script's next line, which must start with want.
func (p *python) expect(want string) string {
	p.t.Helper()
	line := make(chan string, 1)
	go func() {
		if p.out.Scan() {
			line <- p.out.Text()
		}
		close(line)
	}()
	select {
	case l, ok := <-line:
		if !ok || !strings.HasPrefix(l, want) {
			p.t.Fatalf("python: got %q, want %q\n%s", l, want, p.log.String())
		}
		return l
	case <-time.After(20 * time.Second):
		p.t.Fatalf("python: no %q in 20 s\n%s", want, p.log.String())
	}
	return ""
}

func (p *python) say(s string) { fmt.Fprintln(p.in, s) }

// The IMAP client of Python's standard library: LOGIN, LIST, SELECT (read
// only), UID SEARCH, UID FETCH of a message as archived, IDLE seeing a
// new post (EXISTS) and a removed one (EXPUNGE, its UID gone); writes
// refused with a NO; a wrong password, a revoked app password and a list
// the member is not on refused.
func TestIMAPWithPythonImaplib(t *testing.T) {
	e := newIMAPEnv(t, 3)
	ctx := context.Background()
	script := `
import imaplib, sys
host, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def wait(): sys.stdin.readline()
def out(*a): print(*a, flush=True)
try:
    imaplib.IMAP4(host, port).login(user, "wrong password")
    out("wrong-accepted")
except imaplib.IMAP4.error as e:
    out("wrong-refused", e)
m = imaplib.IMAP4(host, port)
out("login", m.login(user, pw)[0])
typ, boxes = m.list()
out("list", " ".join(b.decode().split(' "/" ')[-1].strip('"') for b in boxes))
typ, data = m.select('"4405.autre"')
out("other", typ)
typ, data = m.select('"4405.discussion"', readonly=True)
out("select", typ, data[0].decode())
typ, data = m.uid("SEARCH", None, "ALL")
uids = data[0].decode().split()
out("uids", " ".join(uids))
typ, data = m.uid("SEARCH", None, "TEXT", "samedi", "SUBJECT", '"Sujet 2"')
out("search", data[0].decode())
typ, data = m.uid("FETCH", uids[0], "(UID RFC822.SIZE BODY.PEEK[])")
out("fetch", typ, data[0][0].decode(), len(data[0][1]))
sys.stdout.buffer.write(data[0][1].replace(b"\r\n", b"\n").replace(b"\n", b"\\n") + b"\n"); sys.stdout.flush()
out("store", m.uid("STORE", uids[0], "+FLAGS", "(\\Seen)")[0])
try:
    out("append", m.append('"4405.discussion"', None, None, b"Subject: x\r\n\r\nx\r\n")[0])
except imaplib.IMAP4.error as e:
    out("append", "NO", e)
def idle(want):
    tag = m._new_tag().decode()
    m.send(("%s IDLE\r\n" % tag).encode())
    out("idle", m.readline().decode().strip())
    wait()
    while True:
        line = m.readline().decode().strip()
        if want in line:
            out("seen", line)
            break
    m.send(b"DONE\r\n")
    while not m.readline().decode().startswith(tag):
        pass
idle("EXISTS")
typ, data = m.uid("SEARCH", None, "ALL")
out("uids", data[0].decode())
idle("EXPUNGE")
typ, data = m.uid("SEARCH", None, "ALL")
out("uids", data[0].decode())
m.logout()
wait()
try:
    imaplib.IMAP4(host, port).login(user, pw)
    out("revoked-accepted")
except imaplib.IMAP4.error as e:
    out("revoked-refused", e)
`
	p := startPython(t, script, e.host, e.port, imapMember, e.password)
	if l := p.expect("wrong-"); l != "wrong-refused b'[AUTHENTICATIONFAILED] Invalid credentials'" && !strings.HasPrefix(l, "wrong-refused") {
		t.Fatal(l)
	}
	p.expect("login OK")
	if l := p.expect("list"); l != "list INBOX 4405.discussion" {
		t.Fatalf("folders: %q", l)
	}
	p.expect("other NO")
	if l := p.expect("select OK"); l != "select OK 3" {
		t.Fatalf("select: %q", l)
	}
	uids := strings.Fields(strings.TrimPrefix(p.expect("uids"), "uids "))
	if len(uids) != 3 {
		t.Fatalf("uids: %v", uids)
	}
	if l := p.expect("search"); l != "search "+uids[1] {
		t.Fatalf("UID SEARCH TEXT samedi SUBJECT \"Sujet 2\": %q", l)
	}
	p.expect("fetch OK")
	got := strings.ReplaceAll(p.expect(""), `\n`, "\n")
	var id int64
	fmt.Sscan(uids[0], &id)
	want, err := archive.Body(ctx, e.h.DB, e.list.ID, id)
	if err != nil || got != strings.ReplaceAll(string(want), "\r\n", "\n") {
		t.Fatalf("the message fetched is not the one archived:\n%s\n---\n%s", got, want)
	}
	p.expect("store NO")
	p.expect("append NO")

	p.expect("idle +")
	if err := e.send("paul@example.org", []string{"4405.discussion@hub.example"},
		post("paul@example.org", "4405.discussion@hub.example", "Sujet 4", "Nouveau")); err != nil {
		t.Fatal(err)
	}
	p.say("go")
	p.expect("seen * 4 EXISTS")
	if l := p.expect("uids"); len(strings.Fields(l)) != 5 {
		t.Fatalf("after the new post: %q", l)
	}
	p.expect("idle +")
	if err := archive.Remove(ctx, e.h.DB, e.list.ID, e.list.Local(), id, audit.Actor{Who: "camille@exemple.fr", Via: audit.ViaCLI}, "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	p.say("go")
	p.expect("seen * 1 EXPUNGE")
	if l := p.expect("uids"); strings.Contains(" "+l+" ", " "+uids[0]+" ") || len(strings.Fields(l)) != 4 {
		t.Fatalf("after the removal: %q", l)
	}
	pws, _ := e.h.SignIn.AppPasswords(ctx, imapMember)
	if len(pws) != 1 || pws[0].Used.IsZero() {
		t.Fatalf("app passwords: %+v", pws)
	}
	if err := e.h.SignIn.RevokeAppPassword(ctx, imapMember, pws[0].ID); err != nil {
		t.Fatal(err)
	}
	p.say("go")
	p.expect("revoked-refused")
	if strings.Contains(e.logs.String(), e.password) || strings.Contains(e.logs.String(), strings.ReplaceAll(e.password, " ", "")) {
		t.Error("a password is in the logs")
	}
}

var tuidRE = regexp.MustCompile(`(?m)^X-TUID: [^\n]*\n`)

// Debian's isync (mbsync) syncs a list's folder to a Maildir: as many
// messages and as many bytes (line ends aside) as the archive holds.
func TestIMAPWithMbsync(t *testing.T) {
	exe, err := exec.LookPath("mbsync")
	if err != nil {
		t.Skip("SKIP: mbsync is not installed (apt-get install isync; scripts/test installs it when it may)")
	}
	e := newIMAPEnv(t, 5)
	dir := t.TempDir()
	if err := mbsync.WriteConfig(filepath.Join(dir, "mbsyncrc"), e.host, e.port, imapMember, e.password, filepath.Join(dir, "mail"), "4405.discussion"); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(exe, "-c", filepath.Join(dir, "mbsyncrc"), "-a").CombinedOutput()
	if err != nil {
		t.Fatalf("mbsync: %v\n%s", err, out)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "mail", "4405.discussion", "cur", "*"))
	news, _ := filepath.Glob(filepath.Join(dir, "mail", "4405.discussion", "new", "*"))
	files = append(files, news...)
	var synced int64
	for _, f := range files {
		b, _ := os.ReadFile(f)
		// mbsync marks what it writes with an X-TUID field of its own
		// (isync's transaction id): not the archive's bytes.
		synced += int64(len(tuidRE.ReplaceAll(b, nil)))
	}
	var count int
	var bytes int64
	rows, err := e.h.DB.Query(context.Background(), "imap.uids", e.list.ID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, at, size int64
		rows.Scan(&id, &at, &size)
		b, _ := archive.Body(context.Background(), e.h.DB, e.list.ID, id)
		count++
		bytes += int64(len(strings.ReplaceAll(string(b), "\r\n", "\n")))
	}
	rows.Close()
	if len(files) != count || synced != bytes || count != 5 {
		t.Fatalf("mbsync: %d messages, %d bytes; the archive: %d messages, %d bytes\n%s", len(files), synced, count, bytes, out)
	}
	// A wrong password: mbsync fails.
	mbsync.WriteConfig(filepath.Join(dir, "bad"), e.host, e.port, imapMember, "wrong", filepath.Join(dir, "bad-mail"), "4405.discussion")
	if out, err := exec.Command(exe, "-c", filepath.Join(dir, "bad"), "-a").CombinedOutput(); err == nil {
		t.Fatalf("mbsync with a wrong password succeeded:\n%s", out)
	}
}
