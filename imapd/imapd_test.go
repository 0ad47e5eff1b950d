package imapd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap"
	"github.com/emersion/go-imap/backend"
	"github.com/emersion/go-imap/client"

	"codeberg.org/relais/relais/internal/testcert"
	"codeberg.org/relais/relais/store"
)

// fake is an Archives with one member and one folder.
type fake struct{ list int64 }

func (f fake) Login(_ context.Context, email, password string) error {
	if email == "marie@example.org" && password == "right" {
		return nil
	}
	return ErrBadLogin
}

func (f fake) Folders(context.Context, string) ([]Folder, error) {
	return []Folder{{Name: "4405.discussion", List: f.list, UIDValidity: 1700000000}}, nil
}

func (f fake) Reads(_ context.Context, _ string, list int64) (bool, error) {
	return list == f.list, nil
}

func newServer(t *testing.T, cfg Config) (*Server, *tls.Config) {
	db, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tc, err := testcert.Config(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg.TLS = tc
	if cfg.FailuresPerAddress == 0 {
		cfg.FailuresPerAddress, cfg.FailuresPerIP, cfg.ConnectionsPerIPMinute, cfg.MaxConnectionsPerIP = 10, 30, 60, 20
	}
	s := New(cfg, db, fake{list: 1}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(func() { s.Close() })
	return s, tc
}

func listen(t *testing.T, serve func(net.Listener) error) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go serve(ln)
	return ln.Addr().String()
}

// STARTTLS and implicit TLS both carry a sign-in; without TLS a password
// is taken only from a loopback client.
func TestTLS(t *testing.T) {
	s, _ := newServer(t, Config{})
	addr := listen(t, s.Serve)
	c, err := client.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.SupportStartTLS(); !ok {
		t.Fatal("no STARTTLS offered")
	}
	if err := c.StartTLS(&tls.Config{InsecureSkipVerify: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.Login("marie@example.org", "right"); err != nil {
		t.Fatalf("login after STARTTLS: %v", err)
	}
	c.Logout()

	tlsAddr := listen(t, s.ServeTLS)
	c, err = client.DialTLS(tlsAddr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login("marie@example.org", "right"); err != nil {
		t.Fatalf("login over implicit TLS: %v", err)
	}
	mb, err := c.Select("4405.discussion", true)
	if err != nil || !mb.ReadOnly || mb.UidValidity != 1700000000 {
		t.Fatalf("select: %+v %v", mb, err)
	}
	if err := c.Create("x"); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("create: %v", err)
	}
	c.Logout()

	b := &imapBackend{s: s}
	far := &imap.ConnInfo{RemoteAddr: &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 4000}}
	if _, err := b.Login(far, "marie@example.org", "right"); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("a password in clear text from afar: %v", err)
	}
	far.TLS = &tls.ConnectionState{}
	if _, err := b.Login(far, "marie@example.org", "right"); err != nil {
		t.Fatalf("the same over TLS: %v", err)
	}
}

// Failed sign-ins: after FailuresPerAddress for an address, even the
// right password is refused for the hour; another address from another
// client is not; after FailuresPerIP from one client, every address is.
// Connections beyond MaxConnectionsPerIP get a BYE.
func TestLimits(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s, _ := newServer(t, Config{FailuresPerAddress: 3, FailuresPerIP: 5, ConnectionsPerIPMinute: 100, MaxConnectionsPerIP: 2,
		MaxSessionsPerAddress: 2, Now: clock})
	b := &imapBackend{s: s}
	from := func(ip string) *imap.ConnInfo {
		return &imap.ConnInfo{RemoteAddr: &net.TCPAddr{IP: net.ParseIP(ip), Port: 1}, TLS: &tls.ConnectionState{}}
	}
	for range 3 {
		if _, err := b.Login(from("198.51.100.1"), "marie@example.org", "wrong"); !errors.Is(err, backend.ErrInvalidCredentials) {
			t.Fatalf("wrong password: %v", err)
		}
	}
	if _, err := b.Login(from("198.51.100.2"), "marie@example.org", "right"); err == nil {
		t.Fatal("the right password after 3 failures for the address")
	}
	now = now.Add(61 * time.Minute)
	u1, err := b.Login(from("198.51.100.2"), "marie@example.org", "right")
	if err != nil {
		t.Fatalf("an hour later: %v", err)
	}
	// Sessions per address: two at once, a third when one ends.
	u2, err := b.Login(from("198.51.100.3"), "marie@example.org", "right")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Login(from("198.51.100.4"), "marie@example.org", "right"); err == nil {
		t.Fatal("a third session at once")
	}
	u1.Logout()
	u1.Logout() // a second Logout (close after LOGOUT) counts once
	if _, err := b.Login(from("198.51.100.4"), "marie@example.org", "right"); err != nil {
		t.Fatalf("after a logout: %v", err)
	}
	u2.Logout()
	for i := range 5 {
		b.Login(from("203.0.113.9"), "x"+string(rune('a'+i))+"@example.org", "wrong")
	}
	if _, err := b.Login(from("203.0.113.9"), "marie@example.org", "right"); err == nil {
		t.Fatal("the right password from a client with 5 failures")
	}

	addr := listen(t, s.Serve)
	var cs []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	buf := make([]byte, 200)
	cs[2].SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := cs[2].Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "* BYE") {
		t.Fatalf("a third connection: %q", buf[:n])
	}
	cs[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _ := cs[0].Read(buf); !strings.HasPrefix(string(buf[:n]), "* OK") {
		t.Fatalf("the first connection: %q", buf[:n])
	}
	for _, c := range cs {
		c.Close()
	}
}

// Searches that read messages run at most deepSearches at once, across
// sessions; one that reads none (UIDs, dates, sizes) does not wait.
func TestDeepSearchesBounded(t *testing.T) {
	s, _ := newServer(t, Config{})
	var now, most atomic.Int32
	s.searching = func() {
		n := now.Add(1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		now.Add(-1)
	}
	m := &mailbox{u: &user{s: s}}
	text := &imap.SearchCriteria{Text: []string{"samedi"}}
	var wg sync.WaitGroup
	for i := 0; i < 4*deepSearches()+2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := m.SearchMessages(true, text); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got, want := most.Load(), int32(deepSearches()); got != want {
		t.Errorf("%d searches reading messages ran at once, want %d", got, want)
	}
}

// With every place taken, a search by UID, date or size answers at once;
// one that reads messages waits, then is answered NO.
func TestShallowSearchesDoNotWait(t *testing.T) {
	s, _ := newServer(t, Config{})
	s.searchWait = 50 * time.Millisecond
	for range cap(s.searches) {
		s.searches <- struct{}{}
	}
	m := &mailbox{u: &user{s: s}}
	done := make(chan error, 1)
	go func() {
		_, err := m.SearchMessages(true, &imap.SearchCriteria{Larger: 10, Since: time.Unix(0, 0)})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a search by size and date waited for a place of the searches that read messages")
	}
	if _, err := m.SearchMessages(true, &imap.SearchCriteria{Text: []string{"samedi"}}); !errors.Is(err, errSearchBusy) {
		t.Errorf("a search that reads messages with every place taken: %v, want %v", err, errSearchBusy)
	}
}

// A SEARCH of more keys than the bounds, at any depth, is refused before
// any message is looked at.
func TestSearchKeysBounded(t *testing.T) {
	s, _ := newServer(t, Config{})
	m := &mailbox{u: &user{s: s}}
	not := func(n int) *imap.SearchCriteria {
		c := &imap.SearchCriteria{}
		for range n {
			c.Not = append(c.Not, &imap.SearchCriteria{WithoutFlags: []string{imap.RecentFlag}})
		}
		return c
	}
	deepText := &imap.SearchCriteria{}
	for range maxSearchReadKeys + 1 {
		deepText.Or = append(deepText.Or, [2]*imap.SearchCriteria{{Text: []string{"a"}}, {}})
	}
	for _, c := range []struct {
		name string
		c    *imap.SearchCriteria
		ok   bool
	}{
		{"32 NOT keys", not(32), true},  // 64 keys
		{"33 NOT keys", not(33), false}, // 66
		{"16 TEXT", &imap.SearchCriteria{Text: make([]string, maxSearchReadKeys)}, true},
		{"17 TEXT", &imap.SearchCriteria{Text: make([]string, maxSearchReadKeys+1)}, false},
		{"17 TEXT in OR", deepText, false},
	} {
		_, err := m.SearchMessages(true, c.c)
		if c.ok != (err == nil) || !c.ok && !errors.Is(err, errSearchKeys) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// LARGER and SMALLER compare the message's size, at any depth of the
// criteria, without reading the message (they matched nothing before: the
// body given to the matcher was empty).
func TestSearchBySize(t *testing.T) {
	s, _ := newServer(t, Config{})
	m := &mailbox{u: &user{s: s}, view: []msg{{uid: 1, size: 500}, {uid: 2, size: 5000}, {uid: 7, size: 1200}}}
	s.searching = func() { t.Error("a search by size read messages") }
	for _, c := range []struct {
		name string
		c    *imap.SearchCriteria
		want string
	}{
		{"LARGER 1000", &imap.SearchCriteria{Larger: 1000}, "[2 7]"},
		{"SMALLER 1000", &imap.SearchCriteria{Smaller: 1000}, "[1]"},
		{"NOT LARGER 1000", &imap.SearchCriteria{Not: []*imap.SearchCriteria{{Larger: 1000}}}, "[1]"},
		{"OR SMALLER 600 LARGER 4000", &imap.SearchCriteria{Or: [][2]*imap.SearchCriteria{{{Smaller: 600}, {Larger: 4000}}}}, "[1 2]"},
	} {
		got, err := m.SearchMessages(true, c.c)
		if err != nil || fmt.Sprint(got) != c.want {
			t.Errorf("%s: %v %v, want %s", c.name, got, err, c.want)
		}
	}
}
