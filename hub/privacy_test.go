package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/emersion/go-smtp"

	"codeberg.org/relais/relais/archive"
	"codeberg.org/relais/relais/audit"
	"codeberg.org/relais/relais/backup"
	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/groups"
	"codeberg.org/relais/relais/internal/mention"
	"codeberg.org/relais/relais/lists"
	"codeberg.org/relais/relais/outbox"
	"codeberg.org/relais/relais/privacy"
	"codeberg.org/relais/relais/queue"
	"codeberg.org/relais/relais/store"
	"codeberg.org/relais/relais/tickets"
)

const (
	marie = "marie@example.org"
	bob   = "bob@example.net"
)

// personEnv is a hub where marie has two lists, a place for the weekly
// agenda, one attendance, one ticket, one bounce, a post in an archive and
// a copy still queued; bob shares her lists and agenda.
type personEnv struct {
	*env
	discussion, annonces lists.List
}

func newPersonEnv(t *testing.T, tweak ...func(*configT)) personEnv {
	e := newEnv(t, tweak...)
	paris, _ := time.LoadLocation("Europe/Paris")
	e.clock.advance(time.Date(2026, 11, 23, 9, 0, 0, 0, paris).Sub(e.clock.now()))
	p := personEnv{env: e}
	p.discussion = e.createList("4405.discussion", lists.Members, []string{"anim@exemple.fr"}, marie, bob)
	p.annonces = e.createList("4405.annonces", lists.Announce, []string{"anim@exemple.fr"}, marie, bob)
	if _, err := tickets.SaveQueue(context.Background(), e.h.DB, domain, tickets.Queue{
		Name: "support", DisplayName: "Support national", Operators: []string{nadia, paul},
	}, e.clock.now()); err != nil {
		t.Fatal(err)
	}
	rcpt := "4405.nantes-sud+agenda@hub.example"
	e.mustSend("camille@exemple.fr", rcpt, post("camille@exemple.fr", rcpt, "Événement",
		"Titre : Collage d'affiches\nDate : jeudi 26 novembre 2026 à 18h\nDurée : 2h\nLieu : Place Royale, 44000 Nantes\n"))
	e.waitFor("published", countTo("camille@exemple.fr", 1))
	e.agendaMember(marie, "code-postal 44000")
	e.agendaMember(bob, "code-postal 44300")
	if _, err := e.h.Digest.Run(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	ms := e.waitFor("digest", countTo(marie, 2))
	attend := regexp.MustCompile(`Je participe : (\S+)`).FindStringSubmatch(text(to(ms, marie)[1]))
	if attend == nil {
		t.Fatalf("no attend link:\n%s", text(to(ms, marie)[1]))
	}
	if resp, err := http.Post(attend[1], "application/x-www-form-urlencoded", nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("attend: %v", err)
	}
	e.mustSend(marie, "support@hub.example", mailTo("Marie Dupont <"+marie+">", "support@hub.example", "Question",
		"<q1@example.org>", "Bonjour, je suis Marie Dupont, écrivez-moi à marie@example.org."))
	e.waitFor("ack", countTo(marie, 3))
	// marie posts; bob posts and marie's copy bounces.
	e.mustSend(marie, "4405.discussion@hub.example", post("Marie Dupont <"+marie+">", "4405.discussion@hub.example", "Affiches", "Qui vient coller ?"))
	e.waitFor("marie's post", countTo(bob, 3))
	e.mustSend(bob, "4405.discussion@hub.example", post(bob, "4405.discussion@hub.example", "Moi", "Je viens."))
	ms = e.waitFor("bob's post", countTo(marie, 5))
	copyOf := to(ms, marie)[len(to(ms, marie))-1]
	e.settle()
	e.mustSend("", copyOf.From, dsn(marie, "failed", "5.2.2", "552 5.2.2 mailbox full"))
	e.settle()
	// From now on marie's server says "later": the next copy stays queued.
	e.box.Rcpt = func(from, to string) error {
		if to == marie {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "try later"}
		}
		return nil
	}
	e.mustSend(bob, "4405.discussion@hub.example", post(bob, "4405.discussion@hub.example", "Encore", "Rendez-vous à 18h."))
	e.waitFor("bob's second post", countTo(bob, 5))
	e.waitState(map[string]int{"queued": 1})
	// Queued before its first attempt is queued too: wait for the "later".
	deadline := time.Now().Add(10 * time.Second)
	for e.count("test.queued-tried") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("marie's copy was never tried\nlogs:\n%s", e.logs)
		}
		time.Sleep(10 * time.Millisecond) // polling for an asynchronous state
	}
	return p
}

// Export: everything about marie, with exact fields, and nothing of
// anyone else.
func TestMemberExport(t *testing.T) {
	e := newPersonEnv(t)
	ctx := context.Background()
	var posts []privacy.PostBody
	x, err := privacy.ExportOf(ctx, e.h.DB, domain, "Marie@Example.org", e.clock.now(), func(p privacy.PostBody) error {
		posts = append(posts, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if x.Address != marie || !strings.HasPrefix(x.LogPseudonym, "person:") {
		t.Errorf("address %q pseudonym %q", x.Address, x.LogPseudonym)
	}
	if len(x.Subscriptions) != 2 {
		t.Fatalf("subscriptions %+v", x.Subscriptions)
	}
	for i, l := range []string{"4405.annonces@hub.example", "4405.discussion@hub.example"} {
		s := x.Subscriptions[i]
		if s.List != l || s.State != "active" || s.Mode != "each" || s.Paused || s.Lang != "fr" || s.ConsentHow != "operator: test fixture" ||
			s.ConsentAt == nil || s.LeftAt != nil {
			t.Errorf("subscription %d: %+v", i, s)
		}
	}
	if b := x.Subscriptions[1]; b.BounceScore != 1 || b.LastBounceAt == nil {
		t.Errorf("bounce on the discussion list's record: %+v", b)
	}
	d := x.Digest
	if d == nil || d.PostCode != "44000" || d.INSEE != "44109" || d.Place != "Nantes" || d.RadiusKm != 25 || !d.Active || d.Lang != "fr" ||
		d.Zone != "Europe/Paris" || len(d.Sent) != 1 || d.Sent[0].Week != "2026-W48" {
		t.Errorf("digest %+v", d)
	}
	if len(x.Attendance) != 1 || x.Attendance[0].Title != "Collage d'affiches" || x.Attendance[0].Since == nil ||
		x.Attendance[0].Start.Format(time.RFC3339) != "2026-11-26T17:00:00Z" {
		t.Errorf("attendance %+v", x.Attendance)
	}
	if len(x.Tickets) != 1 {
		t.Fatalf("tickets %+v", x.Tickets)
	}
	tk := x.Tickets[0]
	if tk.Number != 1 || tk.Queue != "support@hub.example" || tk.Subject != "Question" || tk.Role != "requester" || tk.State != "new" ||
		len(tk.Messages) != 1 || tk.Messages[0].Kind != "request" || tk.Messages[0].From != marie ||
		!strings.Contains(tk.Messages[0].Text, "je suis Marie Dupont") {
		t.Errorf("ticket %+v", tk)
	}
	if len(x.Bounces) != 1 || x.Bounces[0].Action != "failed" || x.Bounces[0].Status != "5.2.2" ||
		!strings.Contains(x.Bounces[0].Diagnostic, "mailbox full") {
		t.Errorf("bounces %+v", x.Bounces)
	}
	if len(x.QueuedMail) != 1 || x.QueuedMail[0].Kind != lists.KindPost || x.QueuedMail[0].State != "queued" ||
		x.QueuedMail[0].LastReply != "451 4.2.0 try later" {
		t.Errorf("queued mail %+v", x.QueuedMail)
	}
	if len(x.DeliveredMail) < 4 {
		t.Errorf("delivered mail %+v", x.DeliveredMail)
	}
	if len(x.Posts) != 1 || x.Posts[0].List != "4405.discussion@hub.example" || !strings.Contains(x.Posts[0].Subject, "Affiches") ||
		len(posts) != 1 || !bytes.Contains(posts[0].Body, []byte("Qui vient coller ?")) {
		t.Errorf("posts %+v", x.Posts)
	}
	if len(x.GroupsAnimated)+len(x.ListRoles)+len(x.QueuesOperated)+len(x.HeldPosts) != 0 {
		t.Errorf("roles or held posts she does not have: %+v", x)
	}
	var b bytes.Buffer
	if err := x.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"subscriptions", "digest", "attendance", "tickets", "bounces", "queued_mail", "posts", "held_posts"} {
		if _, ok := back[k]; !ok {
			t.Errorf("no %q in the JSON", k)
		}
	}
	for _, other := range []string{bob, "camille@exemple.fr", "karim@exemple.fr", nadia, paul, "anim@exemple.fr", "44300"} {
		if mention.In(b.Bytes(), other) {
			t.Errorf("the export names %s", other)
		}
	}
	// Someone unknown: nothing.
	if _, err := privacy.ExportOf(ctx, e.h.DB, domain, "nobody@example.org", e.clock.now(), nil); !errors.Is(err, privacy.ErrUnknown) {
		t.Errorf("unknown address: %v", err)
	}
}

// Erase: afterwards the address is in no byte of the database files, an
// old import does not bring it back, the ticket reads under the pseudonym,
// the queued copy is gone, and nothing is sent to the pseudonym.
func TestMemberErase(t *testing.T) {
	e := newPersonEnv(t)
	ctx := context.Background()
	x, err := privacy.Erase(ctx, e.h.DB, "MARIE@example.org", e.clock.now())
	if err != nil {
		t.Fatal(err)
	}
	if x.Pseudonym != "effacé-1" || len(x.Left) != 0 || x.Deleted["subscriptions"] != 2 || x.Deleted["attendance"] != 1 ||
		x.Deleted["digest"] != 1 || x.Deleted["posts"] != 1 || x.Pseudonymised["tickets"] != 1 {
		t.Fatalf("erasure %+v", x)
	}
	for _, f := range sqliteFiles("relais.db", "relais.db-wal", "relais.db-shm") {
		b, err := os.ReadFile(filepath.Join(e.dir, f))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if mention.In(b, marie) {
			i := bytes.Index(bytes.ToLower(b), []byte(marie))
			t.Errorf("%s (%d bytes) still holds the address at %d: %q", f, len(b), i, b[max(0, i-200):min(len(b), i+100)])
		}
	}
	// An import of an old file: marie stays out, a new address comes in.
	n, err := lists.Subscribe(ctx, e.h.DB, e.discussion.ID, "old CSV", []string{"Marie@example.org", "new@example.org"}, audit.Actor{}, e.clock.now())
	if err != nil || n != 1 {
		t.Fatalf("re-import added %d: %v", n, err)
	}
	if yes, _ := privacy.Erased(ctx, e.h.DB, marie, 0); !yes {
		t.Error("erasure not recorded")
	}
	// The ticket still reads for the operators, under the pseudonym.
	tk, msgs := ticketOf(t, e.env, 1)
	if tk.Requester != "effacé-1" || tk.RequesterName != "" || len(msgs) != 1 || msgs[0].Author != "effacé-1" ||
		!strings.Contains(msgs[0].Text, "je suis effacé-1, écrivez-moi à effacé-1.") {
		t.Fatalf("ticket %+v %+v", tk, msgs)
	}
	// No copy to her waits any more.
	qs, err := queue.List(ctx, e.h.DB, "queued", 100)
	if err != nil || len(qs) != 0 {
		t.Fatalf("queued: %+v %v", qs, err)
	}
	// An operator answers the ticket: recorded, sent to nobody.
	before := len(e.box.Mails())
	ms := to(e.box.Mails(), nadia)
	key := keyOf(t, ms[len(ms)-1], "Reply-To")
	e.mustSend(nadia, "support+"+key+"@hub.example", mailTo(nadia, "support+"+key+"@hub.example", "Re: Question", "<a1@ops.example>", "Voici la réponse."))
	e.settle()
	if _, msgs := ticketOf(t, e.env, 1); msgs[len(msgs)-1].Kind != "answer" {
		t.Fatalf("answer not recorded: %+v", msgs)
	}
	for _, m := range e.box.Mails()[before:] {
		if m.To == marie || !strings.Contains(m.To, "@") {
			t.Fatalf("sent to %q after the erasure", m.To)
		}
	}
	// Logs named her by pseudonym only (log.pseudonymize is on by default).
	if strings.Contains(e.logs.String(), marie) || !strings.Contains(e.logs.String(), "person:") {
		t.Errorf("logs name the address:\n%s", grepLines(e.logs.String(), marie))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Erasure keeps a list's archive under the pseudonym when the list says
// so: the post stays, the address does not.
func TestEraseKeepsPostsWhenTheListSaysSo(t *testing.T) {
	e := newEnv(t)
	l := e.createList("4405.discussion", lists.Members, []string{"anim@exemple.fr"}, marie, bob)
	ctx := context.Background()
	if err := privacy.SetList(ctx, e.h.DB, l.ID, 0, "keep"); err != nil {
		t.Fatal(err)
	}
	e.mustSend(marie, "4405.discussion@hub.example", post("Marie <"+marie+">", "4405.discussion@hub.example", "Affiches", "Qui vient ?"))
	e.waitFor("post", countTo(bob, 1))
	e.settle()
	x, err := privacy.Erase(ctx, e.h.DB, marie, e.clock.now())
	if err != nil || x.Pseudonymised["posts"] != 1 || x.Deleted["posts"] != 0 || len(x.Left) != 0 {
		t.Fatalf("%+v %v", x, err)
	}
	var b bytes.Buffer
	if n, err := lists.Export(ctx, e.h.DB, l.ID, &b); err != nil || n != 1 || !strings.Contains(b.String(), "Qui vient ?") ||
		!strings.Contains(b.String(), "From: Marie <effacé-1>") || mention.In(b.Bytes(), marie) {
		t.Fatalf("archive (%d, %v):\n%s", n, err, b.String())
	}
	// The archive's search index follows: the post is found under the
	// pseudonym, not under the address or the name it had.
	find := func(author string) int {
		hits, err := archive.Search(ctx, e.h.DB, l.ID, archive.Query{Author: author})
		if err != nil {
			t.Fatal(err)
		}
		return len(hits)
	}
	if find("marie example org") != 0 || find("Marie") != 0 || find("effacé 1") != 1 {
		t.Fatalf("search after erasure: address %d, name %d, pseudonym %d", find("marie example org"), find("Marie"), find("effacé 1"))
	}
}

// Retention: each kind of record goes when its period has run from its
// date, not a second before.
func TestRetentionPeriods(t *testing.T) {
	// Every period apart from the others (the defaults give held posts
	// and message bodies the same week).
	e := newPersonEnv(t, func(c *configT) {
		c.Retention.Held = config.Duration(8 * 24 * time.Hour)
		c.Retention.Audit = config.Duration(200 * 24 * time.Hour)
	})
	ctx := context.Background()
	// marie leaves the announce list, a held post of hers is rejected, her
	// ticket is closed; all at t0.
	t0 := e.clock.now()
	e.box.Rcpt = nil
	e.clock.advance(2 * time.Minute)
	e.h.Queue.Kick()
	e.settle()
	e.clock.advance(-2 * time.Minute)
	if _, err := e.h.Lists.OneClick(ctx, e.h.Lists.UnsubscribeToken(e.annonces.ID, memberID(t, e, e.annonces.ID), marie), "test"); err != nil {
		t.Fatal(err)
	}
	e.mustSend(marie, "4405.annonces@hub.example", post(marie, "4405.annonces@hub.example", "Hors sujet", "…"))
	n := e.waitFor("held notice", countTo("anim@exemple.fr", 1))
	reject := regexp.MustCompile(`4405\.annonces\+reject-[a-z2-7]{20}@hub\.example`).FindString(text(to(n, "anim@exemple.fr")[0]))
	e.mustSend("anim@exemple.fr", reject, post("anim@exemple.fr", reject, "Re", "Non."))
	ms := to(e.waitFor("nadia's notification", countTo(nadia, 1)), nadia)
	key := keyOf(t, ms[0], "Reply-To")
	e.mustSend(nadia, "support+"+key+"@hub.example", mailTo(nadia, "support+"+key+"@hub.example", "Re: Question", "<a1@ops.example>", "#fermer\nC'est fait."))
	e.settle()
	x := exportOf(t, e)
	if len(x.Tickets) != 1 || x.Tickets[0].State != "closed" || len(x.HeldPosts) != 1 || x.HeldPosts[0].State != "rejected" ||
		x.Subscriptions[0].LeftAt == nil || !x.Subscriptions[0].LeftAt.Equal(t0.Truncate(time.Second)) {
		t.Fatalf("setup: %+v", x)
	}
	// An audit entry of hers (her page's change), at t0.
	if err := e.h.DB.Write(ctx, func(tx *store.Tx) error {
		return audit.Record(tx, audit.Actor{Who: marie, Via: audit.ViaWeb}, t0, "member.mode", "4405.discussion", "weekly")
	}); err != nil {
		t.Fatal(err)
	}
	end := time.Date(2026, 11, 26, 19, 0, 0, 0, time.UTC) // the event: 18h–20h Paris
	r := e.cfg.Retention
	kinds := []struct {
		name string
		due  time.Time
		has  func(privacy.Export) bool
	}{
		{"messages, deliveries and bounces", t0.Add(e.cfg.Queue.Keep.D()), func(x privacy.Export) bool {
			return len(x.DeliveredMail)+len(x.Bounces) > 0
		}},
		// The held post's body goes with its record.
		{"held", t0.Add(r.Held.D()), func(x privacy.Export) bool { return len(x.HeldPosts)+len(x.MessagesKept) > 0 }},
		{"attendance", end.Add(r.Attendance.D()), func(x privacy.Export) bool { return len(x.Attendance) > 0 }},
		{"digests", t0.Add(r.Digests.D()), func(x privacy.Export) bool { return x.Digest != nil && len(x.Digest.Sent) > 0 }},
		// The audit log.
		{"audit", t0.Add(r.Audit.D()), func(x privacy.Export) bool { return len(x.Audit) > 0 }},
		{"tickets", t0.Add(r.Tickets.D()), func(x privacy.Export) bool { return len(x.Tickets) > 0 }},
		// The list's own archive setting wins over retention.archive.
		{"archive", t0.Add(400 * 24 * time.Hour), func(x privacy.Export) bool { return len(x.Posts) > 0 }},
		{"consent", t0.Add(r.Consent.D()), func(x privacy.Export) bool { return len(x.Subscriptions) == 2 }},
	}
	if err := privacy.SetList(ctx, e.h.DB, e.discussion.ID, 400*24*time.Hour, "delete"); err != nil {
		t.Fatal(err)
	}
	for _, k := range kinds {
		e.clock.advance(k.due.Add(-time.Second).Sub(e.clock.now()))
		if _, err := e.h.Retain(ctx, false); err != nil {
			t.Fatal(err)
		}
		if !k.has(exportOf(t, e)) {
			t.Fatalf("%s: deleted a second before its period ended (%s)", k.name, k.due)
		}
		e.clock.advance(time.Second)
		items, err := e.h.Retain(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.h.Retain(ctx, false); err != nil {
			t.Fatal(err)
		}
		if k.has(exportOf(t, e)) {
			t.Fatalf("%s: still there when its period ended (%s); dry run said %+v", k.name, k.due, items)
		}
	}
	// The withdrawal outlived its record as a keyed hash: an old import
	// does not bring marie back to the list she left.
	if n, err := lists.Subscribe(ctx, e.h.DB, e.annonces.ID, "old CSV", []string{marie}, audit.Actor{}, e.clock.now()); err != nil || n != 0 {
		t.Fatalf("re-import after the consent record expired: %d %v", n, err)
	}
}

func exportOf(t *testing.T, e personEnv) privacy.Export {
	t.Helper()
	x, err := privacy.ExportOf(context.Background(), e.h.DB, domain, marie, e.clock.now(), nil)
	if err != nil && !errors.Is(err, privacy.ErrUnknown) {
		t.Fatal(err)
	}
	return x
}

func memberID(t *testing.T, e personEnv, listID int64) int64 {
	t.Helper()
	ms, err := lists.MemberList(context.Background(), e.h.DB, listID)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Email == marie {
			return m.ID
		}
	}
	t.Fatal("marie is not on the list")
	return 0
}

var _ = outbox.Mail{}
var _ = store.FileName

// serve makes a backup at start when none is recent, then every
// backup.every, keeping backup.keep; each opens with the identity.
func TestScheduledBackups(t *testing.T) {
	if onPostgres() {
		t.Skip("PostgreSQL: serve's backups are SQLite's; the cluster's own backups keep the database (deploy/SCALING.md)")
	}
	id, _ := age.GenerateX25519Identity()
	e := newEnv(t, func(c *configT) {
		c.Backup.Recipients = []string{id.Recipient().String()}
		c.Backup.Keep = 1
		c.Backup.Dir = ""
	})
	dir := filepath.Join(e.dir, "backups")
	deadline := time.Now().Add(10 * time.Second)
	var files []string
	for len(files) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no backup in %s\n%s", dir, e.logs)
		}
		time.Sleep(20 * time.Millisecond) // polling for the file
		files, _ = backup.Files(dir)
	}
	f, err := os.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := backup.Restore(context.Background(), f, []age.Identity{id}, filepath.Join(t.TempDir(), "r"))
	if err != nil || m.Schema < 9 || len(m.Counts) == 0 {
		t.Fatalf("restore: %+v %v", m, err)
	}
}

// Erasing an address that ends another one (a@… inside nadia@…) leaves
// the other alone: an operator of the desk, the group's animators.
func TestEraseLeavesLongerAddressesAlone(t *testing.T) {
	e := deskEnv(t)
	short := nadia[strings.IndexByte(nadia, '@')-1:] // "a@…", the end of nadia's address
	e.addGroup("4406.est", "Est", short, nadia)
	if _, err := privacy.Erase(context.Background(), e.h.DB, short, e.clock.now()); err != nil {
		t.Fatal(err)
	}
	q, err := tickets.FindQueue(context.Background(), e.h.DB, "support")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(q.Operators, ",") != nadia+","+paul {
		t.Errorf("the desk's operators after erasing %s: %v", short, q.Operators)
	}
	gs, err := groups.List(context.Background(), e.h.DB)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gs {
		if g.Local() == "4406.est" && strings.Join(g.Animators, ",") != nadia {
			t.Errorf("the group's animators after erasing %s: %v", short, g.Animators)
		}
	}
}
