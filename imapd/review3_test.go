package imapd

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/client"
)

// farListener hands out connections that say they come from afar
// (192.0.2.7): the server cannot tell them from a remote client's.
type farListener struct{ net.Listener }

type farConn struct{ net.Conn }

func (c farConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 4000} }

func (l farListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return farConn{c}, nil
}

// Implicit TLS (imap.listen_tls, port 993) is what the member's page
// tells mail clients to use; a client from afar must sign in there. The
// limits' wrapper around each connection hid the *tls.Conn from go-imap,
// which then took the connection for clear text: every sign-in from
// afar was refused ("use STARTTLS first", and STARTTLS offered inside
// TLS). Only loopback clients, as in the tests, could sign in.
func TestReview3ImplicitTLSFromAfar(t *testing.T) {
	s, _ := newServer(t, Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.ServeTLS(farListener{ln})
	c, err := client.DialTLS(ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Logout()
	if ok, _ := c.SupportStartTLS(); ok {
		t.Error("STARTTLS offered inside TLS")
	}
	if err := c.Login("marie@example.org", "right"); err != nil {
		t.Fatalf("sign-in over implicit TLS from afar: %v", err)
	}
	if _, err := c.Select("4405.discussion", true); err != nil {
		t.Fatal(err)
	}

	// Clear text from afar: LOGINDISABLED says a password is not taken
	// there (the backend refuses it all the same: TestTLS); after
	// STARTTLS, a sign-in.
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(farListener{ln2})
	c2, err := client.Dial(ln2.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Logout()
	if ok, _ := c2.Support("LOGINDISABLED"); !ok {
		t.Error("no LOGINDISABLED without TLS from afar: a client would send its password in clear text")
	}
	if err := c2.StartTLS(&tls.Config{InsecureSkipVerify: true}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c2.Support("STARTTLS"); ok {
		t.Error("STARTTLS offered again after STARTTLS")
	}
	if ok, _ := c2.Support("LOGINDISABLED"); ok {
		t.Error("LOGINDISABLED after STARTTLS")
	}
	if err := c2.Login("marie@example.org", "right"); err != nil {
		t.Fatalf("sign-in after STARTTLS from afar: %v", err)
	}
}

// rawIMAP is a client that writes what it is told, byte for byte.
type rawIMAP struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawIMAP {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := &rawIMAP{t: t, c: c, r: bufio.NewReader(c)}
	r.line() // greeting
	return r
}

// line reads one line of the server's, "" when the connection ends.
func (r *rawIMAP) line() string {
	r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, _ := r.r.ReadString('\n')
	return l
}

// until reads lines up to the tagged answer or a BYE, and returns it.
func (r *rawIMAP) until(tag string) string {
	for {
		l := r.line()
		if l == "" || strings.HasPrefix(l, tag+" ") || strings.HasPrefix(l, "* BYE") {
			return l
		}
	}
}

// A line go-imap v1's parser cannot take is refused before it is parsed:
// a list nested a few million times (its recursion overflowed the
// goroutine's stack, a fatal error that ended the whole hub: SMTP, web
// and all), an atom of hundreds of kilobytes (built by concatenation, in
// quadratic time: 18 s of CPU for 256 kB), a literal longer than the
// server takes (which the parser refuses, then reads its bytes as
// commands). The client gets a BYE, quickly; the server goes on serving,
// and what real clients send (literals, sections with lists, long UID
// sets) still works.
func TestReview3ParserBounds(t *testing.T) {
	defer debug.SetMaxStack(debug.SetMaxStack(64 << 20)) // were the guard gone, fail fast
	s, _ := newServer(t, Config{})
	addr := listen(t, s.Serve)
	for name, line := range map[string]string{
		"nested lists":     "a1 LOGIN " + strings.Repeat("(", 2_000_000) + "\r\n",
		"a long atom":      "a2 LOGIN " + strings.Repeat("x", 300<<10) + " y\r\n",
		"a long section":   "a3 FETCH 1 BODY[" + strings.Repeat("x ", 50<<10) + "]\r\n",
		"a long line":      "a4 LOGIN " + strings.Repeat("x ", 40<<10) + "\r\n",
		"a huge literal":   "a5 LOGIN {99999999+}\r\n" + strings.Repeat("(", 1<<20),
		"a runaway length": "a6 LOGIN {1" + strings.Repeat("x", 1<<20),
	} {
		r := dialRaw(t, addr)
		start := time.Now()
		go r.c.Write([]byte(line))
		if got := r.until(name[:2]); !strings.HasPrefix(got, "* BYE") {
			t.Errorf("%s: %q", name, got)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: answered in %v", name, d)
		}
	}
	r := dialRaw(t, addr)
	fmt.Fprintf(r.c, "b1 LOGIN {17}\r\n")
	if l := r.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("literal: %q", l)
	}
	fmt.Fprintf(r.c, "marie@example.org \"right\"\r\n")
	if l := r.until("b1"); !strings.HasPrefix(l, "b1 OK") {
		t.Fatalf("LOGIN with a literal: %q", l)
	}
	fmt.Fprintf(r.c, "b2 EXAMINE 4405.discussion\r\n")
	if l := r.until("b2"); !strings.HasPrefix(l, "b2 OK") {
		t.Fatalf("EXAMINE: %q", l)
	}
	var set []string
	for i := 1; i < 1000; i++ {
		set = append(set, strconv.Itoa(1_000_000+7*i))
	}
	fmt.Fprintf(r.c, "b3 UID FETCH %s (UID BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)])\r\n", strings.Join(set, ","))
	if l := r.until("b3"); !strings.HasPrefix(l, "b3 OK") {
		t.Fatalf("a long UID set: %q", l)
	}
	fmt.Fprintf(r.c, "b4 LOGOUT\r\n")
}
