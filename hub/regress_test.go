package hub

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/queue"
)

// A bounce arriving for a delivery cleaned up since must not be taken for
// a newer delivery: ids are never reused.
func TestLateBounceAfterCleanUp(t *testing.T) {
	e := newEnv(t)
	e.addGroup("4402.nantes-nord", "Nantes Nord", "lea@exemple.fr")
	msg := crlf(strings.Replace(groupMessage, "4405.nantes-sud", "4402.nantes-nord", 1))
	if err := e.send("marie@example.org", []string{"4402.nantes-nord@hub.example"}, msg); err != nil {
		t.Fatal(err)
	}
	old := e.wait(1)[0]
	e.waitState(map[string]int{"sent": 1})
	e.clock.advance(e.cfg.Queue.Keep.D() + time.Hour)
	if n, err := e.h.collectOnce(context.Background()); err != nil || n != 1 {
		t.Fatalf("clean-up: %d %v", n, err)
	}
	if err := e.send("paul@example.org", []string{"4402.nantes-nord@hub.example"}, msg); err != nil {
		t.Fatal(err)
	}
	fresh := e.wait(2)[1]
	e.waitState(map[string]int{"sent": 1})
	if fresh.From == old.From {
		t.Fatalf("return path %s reused", old.From)
	}
	if err := e.send("", []string{old.From}, dsn("lea@exemple.fr", "failed", "5.1.1", "550 5.1.1 gone")); err != nil {
		t.Fatal(err)
	}
	// Handled (and dropped) without touching Paul's delivery.
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, _ := queue.Counts(context.Background(), e.h.DB)
		if got["bounced"] != 0 || got["failed"] != 0 {
			t.Fatalf("a late bounce hit another delivery: %v", got)
		}
		if strings.Contains(e.logs.String(), "route=bounce") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bounce not handled:\n%s", e.logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(e.box.Mails()) != 2 {
		t.Fatalf("%d messages sent", len(e.box.Mails()))
	}
}

// A vacation notice sent to the return path is not a bounce.
func TestAutoReplyToReturnPathIsNotABounce(t *testing.T) {
	e := newEnv(t)
	if err := e.send("marie@example.org", []string{"4405.nantes-sud@hub.example"}, crlf(groupMessage)); err != nil {
		t.Fatal(err)
	}
	m := e.wait(2)[0]
	e.waitState(map[string]int{"sent": 2})
	vacation := crlf("From: Camille <camille@exemple.fr>\nTo: " + m.From + "\nSubject: Absence\nAuto-Submitted: auto-replied (vacation)\n\nJe suis absente jusqu'au 30.\n")
	if err := e.send(m.From, []string{m.From}, vacation); err != nil {
		t.Fatal(err)
	}
	e.waitState(map[string]int{"sent": 2})
	tok := strings.TrimSuffix(strings.TrimPrefix(m.From, "bounces+"), "@hub.example")
	id, _ := e.h.Queue.ParseToken(tok)
	deadline := time.Now().Add(5 * time.Second)
	for {
		rows, _ := e.h.DB.Query(context.Background(), "bounce.by-delivery", id)
		var actions []string
		for rows.Next() {
			var a, s, d, mid string
			rows.Scan(&a, &s, &d, &mid)
			actions = append(actions, a)
		}
		rows.Close()
		if len(actions) == 1 {
			if actions[0] != "auto-reply" {
				t.Fatalf("recorded as %v", actions)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("auto-reply not recorded")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got, _ := queue.Counts(context.Background(), e.h.DB); got["sent"] != 2 || got["bounced"] != 0 {
		t.Fatalf("deliveries %v", got)
	}
	if len(e.box.Mails()) != 2 {
		t.Fatal("a notice was sent for an auto-reply")
	}
}

// One group written to under two of the hub's domains in one message: each
// animator gets one copy.
func TestSameGroupTwoDomainsOneCopy(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Domains = []string{"hub.example", "alias.example"} })
	if err := e.send("marie@example.org", []string{"4405.nantes-sud@hub.example", "4405.Nantes-Sud@alias.example"}, crlf(groupMessage)); err != nil {
		t.Fatal(err)
	}
	e.waitState(map[string]int{"sent": 2})
	if n := len(e.box.Mails()); n != 2 {
		t.Fatalf("%d copies, want 2", n)
	}
}

// A relay refusing on policy (5.7.1, typically spam): recorded, but the
// sender, likely forged, gets no notice.
func TestPolicyRefusalNoBackscatter(t *testing.T) {
	e := newEnv(t)
	e.box.Rcpt = func(from, to string) error {
		if from == "" {
			return nil
		}
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "message refused as spam"}
	}
	if err := e.send("forged@example.org", []string{"4405.nantes-sud@hub.example"}, crlf(groupMessage)); err != nil {
		t.Fatal(err)
	}
	e.waitState(map[string]int{"failed": 2})
	if got, _ := queue.Counts(context.Background(), e.h.DB); got["queued"] != 0 || len(got) != 1 {
		t.Fatalf("a notice was queued: %v", got)
	}
}

// Whether the writer hears of a failure does not depend on which animator
// failed last: one address problem among the refusals is enough.
func TestNoticeDecidedFromEveryRecipient(t *testing.T) {
	e := newEnv(t)
	e.box.Rcpt = func(from, to string) error {
		switch to {
		case "camille@exemple.fr":
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		case "karim@exemple.fr":
			return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "refused as spam"}
		}
		return nil
	}
	if err := e.send("marie@example.org", []string{"4405.nantes-sud@hub.example"}, crlf(groupMessage)); err != nil {
		t.Fatal(err)
	}
	m := e.wait(1)[0]
	if m.To != "marie@example.org" || !strings.Contains(decodeQP(t, m), "code 550 5.1.1") {
		t.Fatalf("notice %+v\n%s", m, m.Data)
	}
}

// A relay that accepts the connection and then says nothing: stopping the
// hub does not wait for the relay's timeout; the cut attempt is recorded as
// deferred, and the copy is still queued for the next start.
func TestCloseCutsAHungRelay(t *testing.T) {
	hung, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := hung.Accept()
			if err != nil {
				return
			}
			accepted <- c // held open, never greeted
		}
	}()
	e := newEnv(t, func(c *config.Config) { c.Relay.Address = hung.Addr().String() })
	if err := e.send("marie@example.org", []string{"4405.nantes-sud@hub.example"}, crlf(groupMessage)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-accepted: // an attempt is under way
	case <-time.After(10 * time.Second):
		t.Fatal("the hub never dialed the relay")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := e.h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("Close took %s: it waited for the relay", took)
	}
	e.h = nil
	e.start()
	got, _ := queue.Counts(context.Background(), e.h.DB)
	if got["queued"] != 2 || got["sent"]+got["failed"] != 0 {
		t.Fatalf("after the stop: %v", got)
	}
}
