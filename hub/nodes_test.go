package hub

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"codeberg.org/relais/relais/outbox"
)

// secondNode starts another hub on the PostgreSQL database of e (a second
// node of the same hub, with its own listeners), stopped when the test
// ends.
func (e *env) secondNode() *Hub {
	e.t.Helper()
	c := e.cfg
	c.DataDir = e.t.TempDir()
	h, err := Open(context.Background(), c, Options{Logger: slog.New(slog.NewTextHandler(e.logs, nil)).With("node", "b"),
		Now: e.clock.now, Resolver: e.dns})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := h.Listen(); err != nil {
		e.t.Fatal(err)
	}
	h.Start()
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Close(ctx)
	})
	return h
}

// Two nodes on one PostgreSQL database: mail accepted by either is
// delivered once; both tick, and the weekly digest runs once (an advisory
// lock and the time of the last run), each member's digest once even when
// both nodes run the digests at the same moment by hand (the week's record
// of each member).
func TestTwoNodesShareTheWork(t *testing.T) {
	if !onPostgres() {
		t.Skip("two nodes need PostgreSQL (TestSuiteOnPostgres runs this)")
	}
	e := newEnv(t)
	b := e.secondNode()
	// Mail to each node: every copy once.
	for i := 0; i < 20; i++ {
		addr := e.addr
		if i%2 == 1 {
			addr = b.Addrs()[0].String()
		}
		msg := fmt.Sprintf("From: w%d@example.org\r\nTo: 4405.nantes-sud@hub.example\r\nSubject: n%d\r\nMessage-ID: <n%d@example.org>\r\n\r\nx\r\n", i, i, i)
		if err := sendVia(addr, fmt.Sprintf("w%d@example.org", i), "4405.nantes-sud@hub.example", msg); err != nil {
			t.Fatal(err)
		}
	}
	e.waitFor("40 copies", func(ms []outbox.Mail) bool { return len(ms) >= 40 })
	e.settle()
	time.Sleep(200 * time.Millisecond)
	seen := map[string]int{}
	for _, m := range e.box.Mails() {
		seen[m.Header().Get("Message-Id")+" "+m.To]++
	}
	if len(seen) != 40 || len(e.box.Mails()) != 40 {
		t.Fatalf("%d copies, %d distinct", len(e.box.Mails()), len(seen))
	}

	// The digest: members near Nantes, an event, Monday 9:00.
	paris, _ := time.LoadLocation("Europe/Paris")
	monday := time.Date(2026, 11, 23, 9, 0, 0, 0, paris)
	e.clock.advance(monday.Sub(e.clock.now()))
	rcpt := "4405.nantes-sud+agenda@hub.example"
	e.mustSend("camille@exemple.fr", rcpt, post("camille@exemple.fr", rcpt, "Événement",
		"Titre : Réunion publique\nDate : jeudi 3 décembre 2026 à 18h30\nFin : 21h\nLieu : 44000 Nantes\n"))
	e.waitFor("published", countTo("camille@exemple.fr", 1))
	for _, m := range []string{"near1@example.org", "near2@example.org", "near3@example.org"} {
		e.agendaMember(m, "code-postal 44400")
	}
	e.settle()
	before := len(e.box.Mails())
	ctx := context.Background()
	var wg sync.WaitGroup
	ran := make([]bool, 2)
	for i, h := range []*Hub{e.h, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ran[i] = h.RunDigests(ctx)
		}()
	}
	wg.Wait()
	if ran[0] == ran[1] {
		t.Fatalf("digest runs: node a %v, node b %v: want exactly one", ran[0], ran[1])
	}
	e.waitFor("3 digests", func(ms []outbox.Mail) bool { return len(ms) >= before+3 })
	e.settle() // a lease runs on the test's clock: nothing in flight when it jumps
	// The other node's next tick, a minute later: not again.
	e.clock.advance(time.Minute)
	if b.RunDigests(ctx) || e.h.RunDigests(ctx) {
		t.Fatal("the digests ran again a minute later")
	}
	// Both run them by hand at once: each member's week is recorded once.
	for _, h := range []*Hub{e.h, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := h.Digest.Run(ctx, false); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	e.settle()
	time.Sleep(300 * time.Millisecond)
	got := map[string]int{}
	for _, m := range e.box.Mails()[before:] {
		got[m.To]++
		t.Logf("%s: %s", m.To, dec(m.Header().Get("Subject")))
	}
	if len(got) != 3 || got["near1@example.org"] != 1 || got["near2@example.org"] != 1 || got["near3@example.org"] != 1 {
		t.Fatalf("digests: %v", got)
	}
}

// sendVia sends msg through the SMTP listener at addr.
func sendVia(addr, from, to, msg string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("client.example.org"); err != nil {
		return err
	}
	if err := c.SendMail(from, []string{to}, strings.NewReader(msg)); err != nil {
		return err
	}
	return c.Quit()
}
