package hub

import (
	"bytes"
	"context"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/groups"
	"codeberg.org/relais/relais/outbox"
	"codeberg.org/relais/relais/queue"
	"codeberg.org/relais/relais/smtpd"
	"codeberg.org/relais/relais/store"
)

func decodeQP(t *testing.T, m outbox.Mail) string {
	t.Helper()
	ent, err := message.Read(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(ent.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func dsn(rcpt, action, status, diag string) string {
	return crlf(`From: MAILER-DAEMON@mx.exemple.fr (Mail Delivery System)
To: bounces@hub.example
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.exemple.fr
Arrival-Date: Sat, 21 Nov 2026 10:00:00 +0100

Final-Recipient: rfc822; ` + rcpt + `
Original-Recipient: rfc822;` + rcpt + `
Action: ` + action + `
Status: ` + status + `
Diagnostic-Code: smtp; ` + diag + `

--B
Content-Type: text/rfc822-headers

From: Marie Dupont <marie@example.org>
Subject: x

--B--
`)
}

// A bounce to the VERP address of a delivery is tied to it: "failed" marks
// it bounced (and, nobody else having received the message, tells the
// writer); "delayed" is recorded and counts for nothing.
func TestBouncesTiedToDelivery(t *testing.T) {
	e := newEnv(t)
	e.addGroup("4402.nantes-nord", "Nantes Nord", "lea@exemple.fr")
	if err := e.send("marie@example.org", []string{"4402.nantes-nord@hub.example"}, crlf(strings.Replace(groupMessage, "4405.nantes-sud", "4402.nantes-nord", 1))); err != nil {
		t.Fatal(err)
	}
	sent := e.wait(1)[0]
	e.waitState(map[string]int{"sent": 1})

	if err := e.send("", []string{sent.From}, dsn("lea@exemple.fr", "delayed", "4.4.1", "451 4.4.1 try again")); err != nil {
		t.Fatal(err)
	}
	if err := e.send("", []string{sent.From}, dsn("lea@exemple.fr", "failed", "5.2.2", "552 5.2.2 mailbox full")); err != nil {
		t.Fatal(err)
	}
	e.waitState(map[string]int{"bounced": 1})
	tok := strings.TrimSuffix(strings.TrimPrefix(sent.From, "bounces+"), "@hub.example")
	id, _ := e.h.Queue.ParseToken(tok)
	d, err := queue.Get(context.Background(), e.h.DB, id)
	if err != nil || d.LastReply != "bounce: failed 5.2.2 552 5.2.2 mailbox full" {
		t.Fatalf("delivery: %+v %v", d, err)
	}
	rows, err := e.h.DB.Query(context.Background(), "bounce.by-delivery", id)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var a, s, dg, m string
		rows.Scan(&a, &s, &dg, &m)
		got = append(got, a+" "+s)
	}
	rows.Close()
	if strings.Join(got, ",") != "delayed 4.4.1,failed 5.2.2" {
		t.Fatalf("bounces recorded: %v", got)
	}
	// The writer hears that nobody got the message (null sender, once).
	mails := e.wait(2)
	if mails[1].To != "marie@example.org" || mails[1].From != "" || !strings.Contains(decodeQP(t, mails[1]), "code 5.2.2") {
		t.Fatalf("notice: %+v\n%s", mails[1], mails[1].Data)
	}
	// A token altered by one character is refused at RCPT.
	bad := []byte(sent.From)
	i := len("bounces+") + len(tok) - 1
	bad[i] = map[bool]byte{true: 'b', false: 'a'}[bad[i] == 'a']
	if code, _, _ := smtpCode(t, e.send("", []string{string(bad)}, dsn("x", "failed", "5.0.0", "x"))); code != 550 {
		t.Fatalf("forged token: %d", code)
	}
}

func TestParseDSN(t *testing.T) {
	b := parseDSN([]byte(dsn("a@b", "failed", "5.1.1 (bad mailbox)", "550 5.1.1 <a@b>:\r\n  user unknown")))
	if b.Action != "failed" || b.Status != "5.1.1" || b.Diagnostic != "550 5.1.1 <a@b>: user unknown" {
		t.Fatalf("%+v", b)
	}
	if b := parseDSN([]byte("Subject: Hello\r\n\r\nWho are you?\r\n")); b.Action != "unknown" || b.Permanent() {
		t.Fatalf("plain message: %+v", b)
	}
	if b := parseDSN([]byte("Auto-Submitted: auto-replied (vacation)\r\nSubject: Absence\r\n\r\nJe suis absente.\r\n")); b.Action != "auto-reply" || b.Permanent() {
		t.Fatalf("vacation notice: %+v", b)
	}
	if b := parseDSN([]byte(dsn("a@b", "delayed", "4.4.7", "x"))); b.Permanent() {
		t.Fatalf("delayed counted as permanent: %+v", b)
	}
}

func TestPostmasterForwarded(t *testing.T) {
	e := newEnv(t, func(c *configT) { c.Postmaster = []string{"ops@exemple.fr"} })
	if err := e.send("someone@example.org", []string{"Postmaster@hub.example"}, crlf("From: someone@example.org\nSubject: spam?\n\nhello\n")); err != nil {
		t.Fatal(err)
	}
	m := e.wait(1)[0]
	if m.To != "ops@exemple.fr" || !strings.HasPrefix(unsigned(t, m.Data), "Delivered-To: postmaster@hub.example\r\n") {
		t.Fatalf("%+v", m)
	}
	// The message had neither Date nor Message-ID: added on receipt, once.
	h := m.Header()
	if len(h.Values("Date")) != 1 || !regexp.MustCompile(`^<[0-9a-v]{20}@mx\.hub\.example>$`).MatchString(h.Get("Message-Id")) {
		t.Errorf("Date %q Message-ID %q", h.Values("Date"), h.Get("Message-Id"))
	}
}

// A group removed while its mail was being accepted: the message is kept,
// and its writer is told why it went nowhere.
func TestGroupRemovedBeforeDispatch(t *testing.T) {
	e := newEnv(t)
	e.stop()
	// Accept through the spool of a hub that does not run yet, as smtpd would.
	h, err := Open(context.Background(), e.cfg, Options{Now: e.clock.now, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	code, name, _ := address.GroupLocal("4405.nantes-sud")
	id, _ := groups.Lookup(context.Background(), h.DB, code, name)
	route, err := (&router{h: h}).Route(context.Background(), "4405.nantes-sud@hub.example")
	if err != nil || route.Target == "" || route.Kind != routeGroup {
		t.Fatalf("route %+v %v (group %d)", route, err, id)
	}
	// Removed between RCPT and the end of DATA.
	if err := groups.Remove(context.Background(), h.DB, "4405.nantes-sud"); err != nil {
		t.Fatal(err)
	}
	env := &smtpd.Envelope{ID: "test-gone", From: "marie@example.org",
		Rcpts: []smtpd.Rcpt{{Addr: "4405.nantes-sud@hub.example", Route: route}}, Received: e.clock.now()}
	if err := (&spool{h: h}).Accept(context.Background(), env, []byte(crlf(groupMessage))); err != nil {
		t.Fatal(err)
	}
	h.Close(context.Background())
	e.start()
	m := e.wait(1)[0]
	if m.To != "marie@example.org" || m.From != "" || !strings.Contains(decodeQP(t, m), "Cette adresse a été supprimée") {
		t.Fatalf("notice: %+v\n%s", m, m.Data)
	}
	var state, detail string
	e.h.DB.QueryRow(context.Background(), "inbound.by-message", "test-gone").Scan(new(int64), new(string), new(string), new(string), &state, &detail)
	if state != "failed" || !strings.Contains(detail, "no such group") {
		t.Fatalf("inbound %s %q", state, detail)
	}
}

// Another process (the command line, another node) removes a group and
// makes a new one with its address, while the router still keeps the old
// group's id (groups.LookupCached): mail written to the address goes to
// the new group's animators, and its writer is told nothing went wrong.
func TestGroupMadeAgainByAnotherProcess(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	code, name, _ := address.GroupLocal("4405.nantes-sud")
	old, err := groups.LookupCached(ctx, e.h.DB, code, name) // as an RCPT would
	if err != nil {
		t.Fatal(err)
	}
	other, err := OpenStore(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec("group.delete", old)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := groups.Add(ctx, other, groups.Group{Code: code, Name: name, DisplayName: "Nantes Sud", Animators: []string{"lea@exemple.fr"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.send("marie@example.org", []string{"4405.nantes-sud@hub.example"}, crlf(groupMessage)); err != nil {
		t.Fatal(err)
	}
	if m := e.wait(1); m[0].To != "lea@exemple.fr" {
		t.Fatalf("went to %s, want the new group's animator", m[0].To)
	}
	// One copy, no notice to the writer.
	total := 0
	for _, n := range e.waitState(map[string]int{"sent": 1}) {
		total += n
	}
	if total != 1 {
		t.Fatalf("%d deliveries, want the one copy", total)
	}
}

// Clean-up deletes what is finished and old, never what is still waiting:
// a delivery being retried, or mail kept for a postmaster.
func TestCollectKeepsWhatIsWaiting(t *testing.T) {
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	e := newEnv(t) // postmaster not configured: postmaster@ mail is kept
	e.addGroup("4402.nantes-nord", "Nantes Nord", "lea@exemple.fr")
	if err := e.send("marie@example.org", []string{"4405.nantes-sud@hub.example"}, crlf(groupMessage)); err != nil {
		t.Fatal(err)
	}
	e.waitState(map[string]int{"sent": 2})
	if err := e.send("x@example.org", []string{"postmaster@hub.example"}, crlf("From: x@example.org\nSubject: hello\n\nhi\n")); err != nil {
		t.Fatal(err)
	}
	e.stop()
	e.cfg.Relay.Address = deadAddr
	e.start()
	if err := e.send("marie@example.org", []string{"4402.nantes-nord@hub.example"}, crlf(groupMessage)); err != nil {
		t.Fatal(err)
	}
	e.waitState(map[string]int{"sent": 2, "queued": 1})

	n, err := e.h.collectOnce(context.Background())
	if err != nil || n != 0 {
		t.Fatalf("fresh messages collected: %d %v", n, err)
	}
	e.clock.advance(e.cfg.Queue.Keep.D() + time.Hour)
	n, err = e.h.collectOnce(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("collected %d, want 1 (the delivered one): %v", n, err)
	}
	got, _ := queue.Counts(context.Background(), e.h.DB)
	if got["sent"] != 0 || got["queued"] != 1 {
		t.Fatalf("deliveries after clean-up: %v", got)
	}
	var kept int
	if err := e.h.DB.QueryRow(context.Background(), "message.count-kept").Scan(&kept); err != nil || kept != 1 {
		t.Fatalf("kept postmaster mail: %d %v", kept, err)
	}
}
