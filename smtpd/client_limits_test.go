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
