package smtpd

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"codeberg.org/relais/relais/templates"
)

// v6Listener gives each connection a different IPv6 address of one /64,
// as a client that holds the /64 a provider gives every subscriber can.
type v6Listener struct {
	net.Listener
	n atomic.Int32
}

type v6Conn struct {
	net.Conn
	remote net.Addr
}

func (c v6Conn) RemoteAddr() net.Addr { return c.remote }

func (l *v6Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	ip := net.ParseIP("2001:db8:1:2::")
	ip[15] = byte(l.n.Add(1))
	return v6Conn{Conn: c, remote: &net.TCPAddr{IP: ip, Port: 4000}}, nil
}

// The per-address limits count an IPv6 client by its /64: otherwise one
// subscriber, with 2^64 addresses, fills max_connections alone (and goes
// round every rate per address), which the per-address cap is there to
// prevent.
func TestPerAddressLimitsCountIPv6By64(t *testing.T) {
	texts, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Hostname: "mx.test", MaxMessageBytes: 1 << 20, MaxRecipients: 3, MaxConnectionsPerIP: 2,
		MaxConnections: 10, Timeout: time.Minute, NewID: func() string { return "ID1" }},
		fakeRouter{}, &fakeSpool{}, texts, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(&v6Listener{Listener: ln})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	var greetings []string
	for range 3 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cl := &client{t: t, conn: c, r: bufio.NewReader(c)}
		greetings = append(greetings, cl.reply())
	}
	if !strings.HasPrefix(greetings[2], "421 4.7.0") {
		t.Fatalf("third connection from the same /64 greeted %q", greetings[2])
	}
}

// A client whose recipients keep being refused (guessing group names or
// tokens, or keeping a connection busy with lookups) has its session
// ended after maxRefused of them, as Postfix's smtpd_hard_error_limit
// does; before, it could ask for ever.
func TestRefusedRecipientsEndTheSession(t *testing.T) {
	texts, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Hostname: "mx.test", MaxMessageBytes: 1 << 20, MaxRecipients: 3, MaxConnectionsPerIP: 10,
		MaxConnections: 10, Timeout: time.Minute, NewID: func() string { return "ID1" }},
		fakeRouter{err: ErrUnknownRecipient}, &fakeSpool{}, texts, slog.New(slog.NewTextHandler(io.Discard, nil)))
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
	c := dial(t, ln.Addr().String())
	c.cmd("EHLO client.test")
	c.cmd("MAIL FROM:<x@example.org>")
	for i := range maxRefused {
		if r := c.cmd(fmt.Sprintf("RCPT TO:<guess%d@hub.test>", i)); !strings.HasPrefix(r, "550") {
			t.Fatalf("recipient %d: %q", i, r)
		}
	}
	if r := c.cmd("RCPT TO:<guess@hub.test>"); !strings.HasPrefix(r, "421 4.7.0") {
		t.Fatalf("after %d refusals: %q", maxRefused, r)
	}
	if r := c.cmd("RCPT TO:<again@hub.test>"); r != "" {
		t.Fatalf("the session goes on: %q", r)
	}
}

// Clients that send junk commands fast enough for min_rate (NOOP, RSET,
// EHLO) once held their connections until session_timeout (30 minutes by
// default): max_connections_per_ip (20) times 50 addresses filled
// max_connections (1,000) for 32 KB/s in all. Here: two slots, two junk
// clients from two addresses; once the server is busy, their connections
// end after Busy, and a third client gets in.
func TestReviewFastJunkHoldsSlots(t *testing.T) {
	addr := startWith(t, fakeRouter{}, &fakeSpool{}, func(c *Config) {
		c.MaxConnections, c.MaxConnectionsPerIP = 2, 1
		c.Limits.MinRate, c.Limits.MinRateGrace = 32, 300*time.Millisecond
		c.Limits.Session = 30 * time.Minute
		c.Limits.Busy = time.Second
		c.LimitExempt = nil
	})
	stop := make(chan struct{})
	defer close(stop)
	for _, local := range []string{"127.0.0.2", "127.0.0.3"} {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go func() {
			go io.Copy(io.Discard, c)
			for {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond): // 60 B/s
				}
				if _, err := io.WriteString(c, "NOOP\r\n"); err != nil {
					return
				}
			}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.4")}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		g, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if strings.HasPrefix(g, "220") {
			return
		}
		if !strings.HasPrefix(g, "421 4.3.2") || time.Now().After(deadline) {
			t.Fatalf("an honest client is refused while junk holds the slots: %q", g)
		}
		time.Sleep(100 * time.Millisecond) // retrying after 421 busy, as a client would
	}
}

// A client outside limit_exempt that sends commands without delivering
// (NOOP, RSET, MAIL) is closed after JunkCommands beyond what a message
// needs; one that delivers starts afresh with each message; an exempt one
// is not counted.
func TestJunkCommandsEndTheSession(t *testing.T) {
	sp := &fakeSpool{}
	tweak := func(c *Config) { c.Limits.JunkCommands = 10 } // and MaxRecipients 3: 17 commands
	addr := startWith(t, fakeRouter{}, sp, tweak)
	// Exempt (127.0.0.1 is not by default in startWith: nothing is).
	cl := dial(t, addr)
	cl.cmd("EHLO junk.example")
	for i := range 16 {
		if r := cl.cmd("NOOP"); !strings.HasPrefix(r, "250") {
			t.Fatalf("NOOP %d: %q", i+2, r)
		}
	}
	if r := cl.cmd("NOOP"); !strings.HasPrefix(r, "421") {
		t.Fatalf("command 18: %q", r)
	}
	// A client that delivers is not cut, however many messages it sends.
	cl = dial(t, addr)
	cl.cmd("EHLO busy.example")
	for m := range 5 {
		for _, c := range []string{"RSET", "NOOP", "MAIL FROM:<a@example.org>", "RCPT TO:<g@hub.example>", "DATA"} {
			cl.cmd(c)
		}
		if r := cl.cmd("From: a@example.org\r\nSubject: m\r\n\r\nhello\r\n."); !strings.HasPrefix(r, "250") {
			t.Fatalf("message %d: %q", m, r)
		}
	}
	sp.mu.Lock()
	n := len(sp.envs)
	sp.mu.Unlock()
	if n != 5 {
		t.Fatalf("%d messages stored, want 5", n)
	}
	// Exempt clients are not counted.
	exempt := startWith(t, fakeRouter{}, &fakeSpool{}, func(c *Config) {
		tweak(c)
		c.LimitExempt = []*net.IPNet{{IP: net.IPv4(127, 0, 0, 1), Mask: net.CIDRMask(32, 32)}}
	})
	cl = dial(t, exempt)
	for i := range 30 {
		if r := cl.cmd("NOOP"); !strings.HasPrefix(r, "250") {
			t.Fatalf("exempt NOOP %d: %q", i+1, r)
		}
	}
}
