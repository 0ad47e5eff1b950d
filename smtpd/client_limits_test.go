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

// Finding (not fixed): clients that send junk commands fast enough for
// min_rate (NOOP, RSET, EHLO) hold their connections until
// session_timeout (30 minutes by default); max_connections_per_ip (20)
// times 50 addresses fills max_connections (1,000) for 32 KB/s in all, and
// every other client gets 421 "busy" for as long as they like. Here: two
// slots, two junk clients from two addresses, a third client refused for
// the whole test although the junk clients send nothing but NOOP.
func TestReviewFastJunkHoldsSlots(t *testing.T) {
	t.Skip("finding: junk commands at min_rate hold every slot until session_timeout; needs a limit on commands outside transactions, or shorter limits when the server is nearly full (Postfix's stress mode)")
	addr := startWith(t, &fakeSpool{}, func(c *Config) {
		c.MaxConnections, c.MaxConnectionsPerIP = 2, 1
		c.Limits.MinRate, c.Limits.MinRateGrace = 32, 300*time.Millisecond
		c.Limits.Session = 30 * time.Minute
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
	time.Sleep(3 * time.Second) // the junk clients' grace and more: the limit under test is a rate
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.4")}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl := &client{t: t, conn: c, r: bufio.NewReader(c)}
	if g := cl.reply(); !strings.HasPrefix(g, "220") {
		t.Fatalf("an honest client is refused while junk holds the slots: %q", g)
	}
}
