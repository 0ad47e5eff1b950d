package smtpd

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"codeberg.org/relais/relais/templates"
)

// startWith runs a server on 127.0.0.1 with small limits, changed by
// tweak.
func startWith(t *testing.T, r Router, sp Spool, tweak func(*Config)) string {
	t.Helper()
	texts, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Hostname: "mx.test", MaxMessageBytes: 1 << 20, MaxRecipients: 3, MaxConnectionsPerIP: 10,
		MaxConnections: 10, Timeout: time.Minute, NewID: func() string { return "ID1" }}
	tweak(&cfg)
	s := New(cfg, r, sp, texts, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return ln.Addr().String()
}

// client is a hand-driven SMTP client: it says exactly what a test wants,
// as slowly as it wants.
type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cl := &client{t: t, conn: c, r: bufio.NewReader(c)}
	if g := cl.reply(); !strings.HasPrefix(g, "220") {
		t.Fatalf("greeting %q", g)
	}
	return cl
}

// reply reads one reply (all its lines).
func (c *client) reply() string {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var all string
	for {
		line, err := c.r.ReadString('\n')
		all += line
		if err != nil || len(line) < 4 || line[3] != '-' {
			return all
		}
	}
}

func (c *client) cmd(s string) string {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s+"\r\n"); err != nil {
		c.t.Fatal(err)
	}
	return c.reply()
}

// trickle writes s one byte at a time, every gap, until the server closes
// the connection; it returns everything the server said after that.
func (c *client) trickle(s string, gap time.Duration) string {
	c.t.Helper()
	done := make(chan string)
	go func() {
		c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		b, _ := io.ReadAll(c.r)
		done <- string(b)
	}()
	for i := 0; ; i++ {
		select {
		case said := <-done:
			return said
		case <-time.After(gap):
		}
		if _, err := c.conn.Write([]byte{s[i%len(s)]}); err != nil {
			return <-done
		}
	}
}

// Each limit ends a client that sends too slowly, with 421 4.4.2, and
// stores nothing of a message cut short.
func TestSlowClientsCut(t *testing.T) {
	for _, c := range []struct {
		name  string
		tweak func(*Config)
		data  bool // trickle inside DATA, not as commands
		gap   time.Duration
	}{
		{"command", func(c *Config) { c.Timeout = 300 * time.Millisecond }, false, time.Hour},
		{"data block", func(c *Config) { c.Limits.DataBlock = 300 * time.Millisecond }, true, time.Hour},
		{"data", func(c *Config) { c.Limits.Data = 500 * time.Millisecond }, true, 20 * time.Millisecond},
		{"session", func(c *Config) { c.Limits.Session = 500 * time.Millisecond }, false, 20 * time.Millisecond},
		{"min rate, commands", func(c *Config) { c.Limits.MinRate, c.Limits.MinRateGrace = 100, 300*time.Millisecond }, false, 50 * time.Millisecond},
		{"min rate, data", func(c *Config) { c.Limits.MinRate, c.Limits.MinRateGrace = 100, 300*time.Millisecond }, true, 50 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			sp := &fakeSpool{}
			addr := startWith(t, fakeRouter{}, sp, c.tweak)
			cl := dial(t, addr)
			if c.data {
				for _, s := range []string{"EHLO slow.example", "MAIL FROM:<a@example.org>", "RCPT TO:<g@hub.example>", "DATA"} {
					cl.cmd(s)
				}
			}
			text := "NOOP\r\n"
			if c.data {
				text = "From: a@example.org\r\nSubject: slow\r\n\r\nhello\r\n"
			}
			var said string
			if c.gap == time.Hour {
				cl.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				b, _ := io.ReadAll(cl.r)
				said = string(b)
			} else {
				said = cl.trickle(text, c.gap)
			}
			if !strings.Contains(said, "421 4.4.2") {
				t.Errorf("server said %q, want 421 4.4.2 and the end", said)
			}
			if c.data && !strings.Contains(said, "délai dépassé") {
				t.Errorf("a message cut short is answered from the templates: %q", said)
			}
			if len(sp.envs) != 0 {
				t.Errorf("%d messages stored", len(sp.envs))
			}
		})
	}
}

// A client that keeps up is not cut by the minimum rate, however long it
// takes in all: time the server spends itself does not count.
func TestMinRateSparesBriskClients(t *testing.T) {
	sp := &fakeSpool{}
	addr := startWith(t, fakeRouter{}, sp, func(c *Config) { c.Limits.MinRate, c.Limits.MinRateGrace = 100, 300*time.Millisecond })
	cl := dial(t, addr)
	cl.cmd("EHLO brisk.example")
	for range 3 {
		for _, s := range []string{"MAIL FROM:<a@example.org>", "RCPT TO:<g@hub.example>", "DATA"} {
			cl.cmd(s)
		}
		if r := cl.cmd("From: a@example.org\r\nSubject: brisk\r\n\r\n" + strings.Repeat("x", 100) + "\r\n."); !strings.HasPrefix(r, "250") {
			t.Fatalf("message: %q", r)
		}
		// Idle, but within what the bytes sent so far allow.
		time.Sleep(200 * time.Millisecond)
	}
	if r := cl.cmd("QUIT"); !strings.HasPrefix(r, "221") {
		t.Fatalf("QUIT: %q", r)
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if len(sp.envs) != 3 {
		t.Fatalf("%d messages stored, want 3", len(sp.envs))
	}
}
