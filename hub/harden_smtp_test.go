package hub

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/internal/dkimcheck"
	"codeberg.org/relais/relais/lists"
)

// foldedHeader is a field folded over lines of 64 characters, about size
// bytes in all.
func foldedHeader(name string, size int) string {
	var b strings.Builder
	b.WriteString(name + ": start\r\n")
	for b.Len() < size {
		b.WriteString("\t" + strings.Repeat("x", 64) + "\r\n")
	}
	return b.String()
}

// A header over smtp.max_header_bytes is refused while the sender waits,
// at every kind of address, with 552 5.3.4 and a sentence; one under it
// is accepted and delivered.
func TestHardenHeaderSizeLimit(t *testing.T) {
	e := deskEnv(t)
	e.createList("4405.discussion", lists.Open, []string{"anim@exemple.fr"}, "m@example.org")
	big := foldedHeader("X-Long", 101<<10)
	for _, rcpt := range []string{"4405.nantes-sud@hub.example", "4405.discussion@hub.example", "support@hub.example"} {
		msg := "From: Marie <marie@example.org>\r\nTo: " + rcpt + "\r\nSubject: long\r\n" + big + "\r\nbody\r\n"
		err := e.send("marie@example.org", []string{rcpt}, msg)
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code != 552 || se.EnhancedCode != (smtp.EnhancedCode{5, 3, 4}) ||
			!strings.Contains(se.Message, "en-tête du message trop gros, limite 100 kB") {
			t.Errorf("%s: %v", rcpt, err)
		}
	}
	e.settle()
	if n := len(e.box.Mails()); n != 0 {
		t.Fatalf("%d mails sent for refused messages", n)
	}
	// Just under the limit: accepted and forwarded, and the hub's
	// signatures (which cover a folded Subject) verify.
	msg := "From: Marie <marie@example.org>\r\nTo: 4405.nantes-sud@hub.example\r\n" +
		foldedHeader("Subject", 2<<10) + foldedHeader("X-Long", 95<<10) + "\r\nbody\r\n"
	if err := e.send("marie@example.org", []string{"4405.nantes-sud@hub.example"}, msg); err != nil {
		t.Fatal(err)
	}
	ms := e.waitFor("the forward", countTo("karim@exemple.fr", 1))
	dkimcheck.Require(t, to(ms, "karim@exemple.fr")[0].Data, dkimRecords(t), domain, "rsa-sha256", "ed25519-sha256")
}

// A header of 1 MB, with the limit raised past it, still goes through the
// whole inbound check and on to the animators: the check is linear (the
// benchmark in mailauth measures it), where it once took half a minute.
func TestHardenHugeHeaderStillHandled(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.SMTP.MaxHeaderBytes = 2 << 20 })
	sig := "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=s1; h=from:subject:x-long; bh=x; b=y\r\n"
	msg := sig + "From: Marie <marie@example.org>\r\nTo: 4405.nantes-sud@hub.example\r\nSubject: long\r\n" +
		foldedHeader("X-Long", 1<<20) + "\r\nbody\r\n"
	if err := e.send("marie@example.org", []string{"4405.nantes-sud@hub.example"}, msg); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the forward", countTo("karim@exemple.fr", 1))
}

// TestHardenFromForms: a From the hub would forward signed with its own
// domain must be one well-formed mailbox that every reader reads alike,
// and never pass for the hub. None of these reach the animators.
func TestHardenFromForms(t *testing.T) {
	e := newEnv(t)
	// The attacker's own domain passes SPF from here (newEnv publishes
	// 127.0.0.1 for its domains): proof of evil.example is no proof of
	// the hub.
	e.dns.Set("evil.example", "v=spf1 ip4:127.0.0.1 -all")
	e.dns.Set("_dmarc.evil.example", "v=DMARC1; p=none")
	malformed := []string{
		"support@HUB.EXAMPLE.",
		"support@hub.example;",
		"<support@hub.example",
		"Support <support@hub.example>>",
		"supp\x00ort@hub.example",
		"support@hub.example\x00@evil.example",
		"=?utf-8?q?support=40hub=2Eexample?=",
		"support@hub.example, attacker@evil.example",
		"support@hub.example attacker@evil.example",
		"Support <support@hub.example> <attacker@evil.example>",
		"Relais: support@hub.example;",
		"<@evil.example:support@hub.example>",
		"support@hub..example",
		"support@hub.example?=",
		"support@[127.0.0.1]",
	}
	hub := []string{
		"support@hub.example",      // ours, unproven
		"support@mail.hub.example", // aligned with ours (relaxed DMARC)
		"=?utf-8?b?c3VwcG9ydEBodWIuZXhhbXBsZQ==?= <attacker@evil.example>", // encoded display name
		`"support@hub.example" <attacker@evil.example>`,
		`"support@hub.example"@evil.example`,
		"Support (support@hub.example) <attacker@evil.example>",
	}
	send := func(from string) error {
		return e.send("attacker@evil.example", []string{"4405.nantes-sud@hub.example"},
			"From: "+from+"\r\nTo: 4405.nantes-sud@hub.example\r\nSubject: Mot de passe\r\n\r\nhttp://evil.example/login\r\n")
	}
	var se *smtp.SMTPError
	for _, f := range malformed {
		err := send(f)
		if !errors.As(err, &se) || se.Code != 554 || se.EnhancedCode != (smtp.EnhancedCode{5, 6, 0}) ||
			!strings.Contains(se.Message, "une seule adresse bien formée") {
			t.Errorf("From %q: %v, want 554 5.6.0", f, err)
		}
	}
	for _, f := range hub {
		err := send(f)
		if !errors.As(err, &se) || se.Code != 550 || se.EnhancedCode[1] != 7 || !strings.Contains(se.Message, "hub.example") {
			t.Errorf("From %q: %v, want 550 5.7.x", f, err)
		}
	}
	// Well-formed strangers' Froms, the attacker's own included, go
	// through.
	for _, f := range []string{"Attacker <attacker@evil.example>", "=?utf-8?q?Am=C3=A9lie?= <amelie@exemple.fr>", "camille@exemple.fr (Camille)"} {
		if err := send(f); err != nil {
			t.Errorf("From %q: %v", f, err)
		}
	}
	ms := e.waitFor("three forwards", countTo("karim@exemple.fr", 3))
	e.settle()
	if n := len(to(e.box.Mails(), "karim@exemple.fr")); n != 3 {
		t.Fatalf("%d forwards, want 3", n)
	}
	for _, m := range ms {
		if strings.Contains(strings.ToLower(m.Header().Get("From")), "hub.example") {
			t.Errorf("forwarded with From %q", m.Header().Get("From"))
		}
	}
}

// RFC 5321 §4.1.1.3: RCPT TO:<Postmaster>, without a domain, is accepted
// and reaches the postmaster.
func TestHardenPostmasterWithoutDomain(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Postmaster = []string{"pm@ops.example"} })
	if err := e.send("marie@example.org", []string{"Postmaster"}, "From: marie@example.org\r\nSubject: abuse\r\n\r\nhello\r\n"); err != nil {
		t.Fatal(err)
	}
	ms := e.waitFor("the postmaster's copy", countTo("pm@ops.example", 1))
	if !strings.Contains(string(to(ms, "pm@ops.example")[0].Data), "Delivered-To: postmaster@hub.example\r\n") {
		t.Errorf("copy:\n%.400s", to(ms, "pm@ops.example")[0].Data)
	}
}

// slowClient connects from local (an address of 127.0.0.0/8) and sends
// one byte of an endless command every gap until the hub closes the
// connection; greeted says whether the hub let it in, said what the hub
// answered after the greeting.
func slowClient(addr, local string, gap time.Duration) (greeted bool, said string, err error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return false, "", err
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	r := bufio.NewReader(c)
	first, err := r.ReadString('\n')
	if !strings.HasPrefix(first, "220 ") {
		return false, first, nil
	}
	done := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	for i := 0; ; i++ {
		select {
		case s := <-done:
			return true, s, nil
		case <-time.After(gap):
		}
		if _, err := c.Write([]byte{"NOOP NOOP NOOP"[i%14]}); err != nil {
			return true, <-done, nil
		}
	}
}

// TestHardenSlowloris: a thousand connections that trickle a byte now and
// then, from one address outside smtp.limit_exempt, then from a hundred;
// the hub keeps room for a client from 127.0.0.1, and closes the slow ones
// once they fall below smtp.min_rate.
func TestHardenSlowloris(t *testing.T) {
	e := newEnv(t, func(c *config.Config) {
		c.SMTP.LimitExempt = []string{"127.0.0.1/32"}
		c.SMTP.MaxConnections = 100
		c.SMTP.MaxConnectionsPerIP = 20
		c.SMTP.ConnectionsPerIPMinute = 0
		c.SMTP.MinRate = 50
		c.SMTP.MinRateGrace = config.Duration(time.Second)
	})
	type outcome struct {
		greeted bool
		said    string
		err     error
	}
	run := func(n int, local func(i int) string) []outcome {
		out := make([]outcome, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				g, s, err := slowClient(e.addr, local(i), 100*time.Millisecond)
				out[i] = outcome{g, s, err}
			}()
		}
		// While they hold on, an ordinary client gets through.
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := e.send("marie@example.org", []string{"4405.nantes-sud@hub.example"}, crlf(groupMessage))
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("ordinary client: %v", err)
			}
			time.Sleep(50 * time.Millisecond) // retrying after 421 busy, as a client would
		}
		wg.Wait()
		return out
	}

	// One address: twenty let in, the rest refused at once.
	out := run(1000, func(int) string { return "127.0.0.2" })
	in := 0
	for i, o := range out {
		switch {
		case o.err != nil:
			t.Fatalf("client %d: %v", i, o.err)
		case o.greeted:
			in++
			if !strings.Contains(o.said, "421 4.4.2") {
				t.Errorf("slow client %d was not closed with 421 4.4.2: %q", i, o.said)
			}
		case !strings.HasPrefix(o.said, "421 4.7.0"):
			t.Errorf("client %d refused with %q", i, o.said)
		}
	}
	if in != 20 {
		t.Errorf("%d slow sessions let in from one address, want 20 (max_connections_per_ip)", in)
	}

	// A hundred addresses, three each: max_connections fills, and
	// empties again as the slow ones are closed.
	out = run(300, func(i int) string { return fmt.Sprintf("127.0.1.%d", 1+i%100) })
	in = 0
	for i, o := range out {
		if o.err != nil {
			t.Fatalf("client %d: %v", i, o.err)
		}
		if o.greeted {
			in++
			if !strings.Contains(o.said, "421 4.4.2") {
				t.Errorf("slow client %d was not closed with 421 4.4.2: %q", i, o.said)
			}
		}
	}
	if in > 100 {
		t.Errorf("%d slow sessions at once, over max_connections", in)
	}
	if !strings.Contains(e.logs.String(), "below the minimum rate") {
		t.Errorf("the log does not say why slow clients were closed")
	}
	e.waitFor("two forwards", countTo("karim@exemple.fr", 2))
}
