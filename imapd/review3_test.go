package imapd

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"

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

	// Clear text from afar is still refused, and STARTTLS then signs in.
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
	if err := c2.Login("marie@example.org", "right"); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("a password in clear text from afar: %v", err)
	}
	if err := c2.StartTLS(&tls.Config{InsecureSkipVerify: true}); err != nil {
		t.Fatal(err)
	}
	if err := c2.Login("marie@example.org", "right"); err != nil {
		t.Fatalf("sign-in after STARTTLS from afar: %v", err)
	}
}
