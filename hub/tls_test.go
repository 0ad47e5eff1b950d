package hub

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/internal/testcert"
	"codeberg.org/relais/relais/outbox"
	"codeberg.org/relais/relais/queue"
)

// withTLSRelay replaces the recording relay by one that offers STARTTLS.
func withTLSRelay(t *testing.T) (*outbox.Server, func(*config.Config)) {
	t.Helper()
	tc, err := testcert.Config(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	box, err := outbox.Start("127.0.0.1:0", "", outbox.WithTLS(tc))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { box.Close() })
	return box, func(c *config.Config) { c.Relay.Address = box.Addr() }
}

func TestRelaySTARTTLS(t *testing.T) {
	for _, mode := range []string{"opportunistic", "required"} {
		t.Run(mode, func(t *testing.T) {
			box, relay := withTLSRelay(t)
			e := newEnv(t, relay, func(c *config.Config) {
				c.Relay.StartTLS = mode
				c.Relay.TLSSkipVerify = true // self-signed test certificate
			})
			e.box = box
			if err := e.send("marie@example.org", []string{"4405.nantes-sud@hub.example"}, crlf(groupMessage)); err != nil {
				t.Fatal(err)
			}
			for _, m := range e.wait(2) {
				if !m.TLS {
					t.Errorf("%s: copy to %s sent in clear", mode, m.To)
				}
			}
		})
	}
}

// A relay that does not offer STARTTLS when it is required: nothing is sent
// in clear; the deliveries wait, with the reason.
func TestRelaySTARTTLSRequiredButAbsent(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Relay.StartTLS = "required" })
	if err := e.send("marie@example.org", []string{"4405.nantes-sud@hub.example"}, crlf(groupMessage)); err != nil {
		t.Fatal(err)
	}
	e.waitState(map[string]int{"queued": 2})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatal("attempts not recorded")
		}
		time.Sleep(10 * time.Millisecond) // polling an asynchronous state
		ds, _ := queue.List(t.Context(), e.h.DB, "queued", 10)
		if len(ds) == 2 && ds[0].Attempts == 1 && ds[1].Attempts == 1 {
			for _, d := range ds {
				if !strings.Contains(d.LastReply, "STARTTLS is required") {
					t.Fatalf("reply %q", d.LastReply)
				}
			}
			break
		}
	}
	if n := len(e.box.Mails()); n != 0 {
		t.Fatalf("%d messages sent in clear", n)
	}
}

func TestInboundSTARTTLS(t *testing.T) {
	cert, key, err := testcert.Files(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *config.Config) { c.SMTP.TLSCert, c.SMTP.TLSKey = cert, key })
	c, err := smtp.DialStartTLS(e.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail("marie@example.org", []string{"4405.nantes-sud@hub.example"}, strings.NewReader(crlf(groupMessage))); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	for _, m := range e.wait(2) {
		if !strings.Contains(string(m.Data), "(relais) with ESMTPS id ") {
			t.Fatalf("Received does not say ESMTPS:\n%s", m.Data)
		}
	}
}
