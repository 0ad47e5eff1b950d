package smtpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"codeberg.org/relais/relais/templates"
)

type fakeRouter struct{ err error }

func (r fakeRouter) Route(_ context.Context, rcpt string) (Route, error) {
	if r.err != nil {
		return Route{}, r.err
	}
	return Route{Kind: "group", Target: strings.ToLower(rcpt)}, nil
}

type fakeSpool struct {
	mu   sync.Mutex
	err  error
	envs []*Envelope
	body [][]byte
}

func (s *fakeSpool) Accept(_ context.Context, env *Envelope, body []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.envs = append(s.envs, env)
	s.body = append(s.body, body)
	return nil
}

func start(t *testing.T, r Router, sp Spool) string {
	t.Helper()
	return startWith(t, r, sp, func(*Config) {})
}

func send(addr, rcpt string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.SendMail("a@example.org", []string{rcpt}, strings.NewReader(msg))
}

const msg = "From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n"

// An internal failure while storing becomes 451 4.3.0 with a generic
// sentence: the sender keeps the message and retries, and the internal
// error text never reaches it (go-smtp would have made it a 554 with it).
func TestStoreFailureIsTemporaryAndGeneric(t *testing.T) {
	sp := &fakeSpool{err: errors.New("disk I/O error: /var/lib/relais/relais.db")}
	addr := start(t, fakeRouter{}, sp)
	err := send(addr, "4405.x@hub.example")
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 451 || se.EnhancedCode != (smtp.EnhancedCode{4, 3, 0}) {
		t.Fatalf("got %v", err)
	}
	if strings.Contains(se.Message, "disk") || strings.Contains(se.Message, "relais.db") || !strings.Contains(se.Message, "temporary failure") {
		t.Fatalf("reply text %q", se.Message)
	}
}

func TestRouterFailureIsTemporary(t *testing.T) {
	addr := start(t, fakeRouter{err: errors.New("database is locked")}, &fakeSpool{})
	err := send(addr, "4405.x@hub.example")
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 451 || strings.Contains(se.Message, "locked") {
		t.Fatalf("got %v", err)
	}
}

func TestEnvelopeAndReceived(t *testing.T) {
	sp := &fakeSpool{}
	addr := start(t, fakeRouter{}, sp)
	c2, _ := smtp.Dial(addr)
	defer c2.Close()
	c2.Hello("client.example.org")
	if err := c2.Mail("a@example.org", &smtp.MailOptions{UTF8: true}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"4405.x@hub.example", "4405.X@hub.example", "4405.y@hub.example"} {
		if err := c2.Rcpt(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	w, _ := c2.Data()
	io.WriteString(w, msg)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if len(sp.envs) != 1 {
		t.Fatalf("%d messages", len(sp.envs))
	}
	env := sp.envs[0]
	if env.From != "a@example.org" || len(env.Rcpts) != 2 || env.Rcpts[0].Addr != "4405.x@hub.example" ||
		env.Rcpts[1].Addr != "4405.y@hub.example" || !env.SMTPUTF8 || env.RemoteIP != "127.0.0.1" || env.Helo != "client.example.org" {
		t.Fatalf("envelope %+v", env)
	}
	body := string(sp.body[0])
	if !strings.HasPrefix(body, "Received: from client.example.org ([127.0.0.1])\r\n\tby mx.test (relais) with UTF8SMTP id ID1;\r\n\t") ||
		!strings.HasSuffix(body, "\r\n"+msg) {
		t.Fatalf("body:\n%s", body)
	}
}

func TestMaxRecipients(t *testing.T) {
	addr := start(t, fakeRouter{}, &fakeSpool{})
	c, _ := smtp.Dial(addr)
	defer c.Close()
	c.Hello("x.example")
	c.Mail("a@example.org", nil)
	for i := 0; i < 3; i++ {
		if err := c.Rcpt(strings.Repeat("a", i+1)+"@hub.example", nil); err != nil {
			t.Fatal(err)
		}
	}
	var se *smtp.SMTPError
	if err := c.Rcpt("d@hub.example", nil); !errors.As(err, &se) || se.Code != 452 {
		t.Fatalf("4th recipient: %v", err)
	}
}

func TestSanitize(t *testing.T) {
	if got := sanitize("a (b)\r\nReceived: x"); got != "abReceived:x" {
		t.Fatal(got)
	}
}

// Shutdown right after Serve was started (before go-smtp has seen the
// listener) still stops it.
func TestShutdownRightAfterServe(t *testing.T) {
	texts, _ := templates.Load("")
	for i := 0; i < 50; i++ {
		s := New(Config{Hostname: "mx.test", MaxMessageBytes: 1 << 20, MaxRecipients: 3, MaxConnectionsPerIP: 10,
			MaxConnections: 10, Timeout: time.Minute, NewID: func() string { return "x" }},
			fakeRouter{}, &fakeSpool{}, texts, slog.New(slog.NewTextHandler(io.Discard, nil)))
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- s.Serve(ln) }()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		s.Shutdown(ctx)
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: Serve still running after Shutdown", i)
		}
	}
}

// A BDAT chunk cut short by the client going away is not stored: go-smtp
// v0.25.1 hands it over as if whole, the session notices the end of the
// connection. A whole chunk is stored.
func TestBDATCutShortNotStored(t *testing.T) {
	sp := &fakeSpool{}
	addr := start(t, fakeRouter{}, sp)
	talk := func(chunk string, size int) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "EHLO client.test\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<g@hub.test>\r\nBDAT %d LAST\r\n%s", size, chunk)
		if size == len(chunk) {
			fmt.Fprintf(c, "QUIT\r\n")
		}
		c.(*net.TCPConn).CloseWrite()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.ReadAll(c)
	}
	talk(msg[:17], 500)
	talk(msg, len(msg))
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if len(sp.body) != 1 || !strings.HasSuffix(string(sp.body[0]), msg) {
		t.Fatalf("stored %d messages: %q", len(sp.body), sp.body)
	}
}
