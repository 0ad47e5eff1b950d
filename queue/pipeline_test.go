package queue

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	gdkim "github.com/emersion/go-msgauth/dkim"

	"codeberg.org/relais/relais/dkim"
	"codeberg.org/relais/relais/store"
)

// testRelay is a scripted relay: PIPELINING or not, a recipient it
// refuses, a connection it drops at the end of the n-th message's content
// (before or after saying 250), and the messages it accepted, by
// recipient. A message counts as accepted once the relay has said 250 for
// it: then it is the relay's to deliver (RFC 5321 §4.1.1.4).
type testRelay struct {
	t          *testing.T
	ln         net.Listener
	pipelining bool
	refuse     map[string]string // recipient → reply
	dropAt     int               // drop the connection at the end of this content (1-based, over all connections); 0 never
	dropAfter  bool              // …just after saying 250 for it rather than just before
	auth       string            // "user:password" the relay wants (AUTH PLAIN) before MAIL; "" none

	mu       sync.Mutex
	contents int
	accepted map[string][][]byte
	sessions int
	writes   int // writes the client made (reads that returned data)
}

// startRelay starts a relay set up by opts (before it serves anyone).
func startRelay(t *testing.T, pipelining bool, opts ...func(*testRelay)) *testRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &testRelay{t: t, ln: ln, pipelining: pipelining, refuse: map[string]string{}, accepted: map[string][][]byte{}}
	for _, o := range opts {
		o(r)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go r.serve(c)
		}
	}()
	return r
}

// countingReader counts the reads that returned data: the client's writes,
// near enough on loopback.
type countingReader struct {
	r *testRelay
	c net.Conn
}

func (cr countingReader) Read(p []byte) (int, error) {
	n, err := cr.c.Read(p)
	if n > 0 {
		cr.r.mu.Lock()
		cr.r.writes++
		cr.r.mu.Unlock()
	}
	return n, err
}

func (r *testRelay) serve(c net.Conn) {
	defer c.Close()
	r.mu.Lock()
	r.sessions++
	r.mu.Unlock()
	br := bufio.NewReader(countingReader{r, c})
	w := bufio.NewWriter(c)
	say := func(s string) {
		w.WriteString(s + "\r\n")
		if br.Buffered() == 0 || !r.pipelining {
			w.Flush()
		}
	}
	say("220 relay.test ESMTP")
	var rcpts []string
	authed := r.auth == ""
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(line)
		switch {
		case strings.HasPrefix(verb, "EHLO"):
			ext := "250-relay.test\r\n250-8BITMIME\r\n250-SIZE 10000000\r\n"
			if r.pipelining {
				ext += "250-PIPELINING\r\n"
			}
			if r.auth != "" {
				ext += "250-AUTH PLAIN\r\n"
			}
			say(ext + "250 ENHANCEDSTATUSCODES")
		case strings.HasPrefix(verb, "AUTH PLAIN "):
			user, pass, _ := strings.Cut(r.auth, ":")
			if got, _ := base64.StdEncoding.DecodeString(line[len("AUTH PLAIN "):]); string(got) == "\x00"+user+"\x00"+pass {
				authed = true
				say("235 2.7.0 authenticated")
			} else {
				say("535 5.7.8 authentication failed")
			}
		case strings.HasPrefix(verb, "MAIL FROM:"):
			if !authed {
				say("530 5.7.0 authentication required")
				continue
			}
			rcpts = nil
			say("250 2.1.0 ok")
		case strings.HasPrefix(verb, "RCPT TO:"):
			to := strings.Trim(line[len("RCPT TO:"):], "<>")
			if reply, ok := r.refuse[to]; ok {
				say(reply)
				continue
			}
			rcpts = append(rcpts, to)
			say("250 2.1.5 ok")
		case verb == "DATA":
			if len(rcpts) == 0 {
				say("554 5.5.1 no valid recipients")
				continue
			}
			say("354 go ahead")
			data, err := readData(br)
			if err != nil {
				return
			}
			r.mu.Lock()
			r.contents++
			drop := r.contents == r.dropAt
			r.mu.Unlock()
			if drop && !r.dropAfter {
				return // no 250: not accepted
			}
			r.mu.Lock()
			for _, to := range rcpts {
				r.accepted[to] = append(r.accepted[to], data)
			}
			n := r.contents
			r.mu.Unlock()
			say(fmt.Sprintf("250 2.0.0 queued as %d", n))
			if drop {
				w.Flush()
				return
			}
			rcpts = nil
		case verb == "RSET":
			rcpts = nil
			say("250 2.0.0 ok")
		case verb == "QUIT":
			say("221 2.0.0 bye")
			w.Flush()
			return
		default:
			say("502 5.5.2 unknown command")
		}
	}
}

// readData reads a message's content as it was before dot-stuffing
// (RFC 5321 §4.5.2), line ends as they came.
func readData(br *bufio.Reader) ([]byte, error) {
	var out []byte
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			return nil, err
		}
		if string(line) == ".\r\n" {
			return out, nil
		}
		out = append(out, bytes.TrimPrefix(line, []byte("."))...)
	}
}

func (r *testRelay) copies() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for to, ms := range r.accepted {
		out[to] = len(ms)
	}
	return out
}

// pipeEnv is a queue delivering to a test relay with a clock the test
// moves.
type pipeEnv struct {
	t     *testing.T
	q     *Queue
	db    *store.DB
	relay *testRelay
	now   fakeNow // the queue's clock
	stop  func()
}

func newPipeEnv(t *testing.T, relay *testRelay, workers int, signer Signer, tweak ...func(*Config)) *pipeEnv {
	t.Helper()
	return newPipeEnvLog(t, relay, workers, signer, slog.New(slog.NewTextHandler(io.Discard, nil)), tweak...)
}

// newPipeEnvLog is newPipeEnv with the queue's logger.
func newPipeEnvLog(t *testing.T, relay *testRelay, workers int, signer Signer, log *slog.Logger, tweak ...func(*Config)) *pipeEnv {
	t.Helper()
	db, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := &pipeEnv{t: t, db: db, relay: relay, now: fakeNow{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}}
	r := Relay{Address: relay.ln.Addr().String(), StartTLS: "off", Timeout: 10 * time.Second}
	cfg := Config{Domain: "hub.example", RetryMin: time.Minute, RetryMax: time.Hour,
		GiveUpAfter: 24 * time.Hour, Workers: workers, Now: e.clock, Signer: signer, Relay: r}
	for _, f := range tweak {
		f(&cfg)
	}
	q, err := New(context.Background(), db, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	e.q = q
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.Run(ctx)
	}()
	e.stop = func() {
		cancel()
		<-done
		db.Close()
	}
	t.Cleanup(e.stop)
	return e
}

func (e *pipeEnv) clock() time.Time { return e.now.now() }

func (e *pipeEnv) advance(d time.Duration) {
	e.now.add(d)
	e.q.Kick()
}

// enqueue stores msg and queues it to rcpts, of kind.
func (e *pipeEnv) enqueue(msg string, kind string, rcpts ...string) {
	e.t.Helper()
	err := e.db.Write(context.Background(), func(tx *store.Tx) error {
		id := store.NewID()
		if _, err := tx.Exec("message.insert", id, e.clock().Unix(), "", "", "", false, true, len(msg), []byte(msg)); err != nil {
			return err
		}
		_, err := e.q.Enqueue(tx, Message{MessageID: id, To: rcpts, Kind: kind})
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.q.Kick()
}

// wait waits until the deliveries reach want (state → count).
func (e *pipeEnv) wait(want map[string]int) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := Counts(context.Background(), e.db)
		if err != nil {
			e.t.Fatal(err)
		}
		ok := true
		for k, v := range want {
			if got[k] != v {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("deliveries %v, want %v", got, want)
		}
		time.Sleep(5 * time.Millisecond) // polling an asynchronous state
	}
}

func members(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("m%02d@members.example", i)
	}
	return out
}

const post = "From: Liste <4405.discussion@hub.example>\r\nTo: 4405.discussion@hub.example\r\nSubject: compte rendu\r\n" +
	"Message-ID: <p1@hub.example>\r\n\r\n.Une ligne qui commence par un point.\r\nBonjour à toutes et tous.\r\n"

// A pipelining relay refuses one recipient in the middle of a stream:
// exactly that delivery fails, with the relay's reply, and every other
// member gets one copy; the session goes on (RSET, then the next copy).
func TestPipelinedRefusalMidStream(t *testing.T) {
	for _, pipelining := range []bool{true, false} {
		t.Run(fmt.Sprintf("pipelining=%v", pipelining), func(t *testing.T) {
			to := members(30)
			relay := startRelay(t, pipelining, func(r *testRelay) {
				r.refuse[to[7]] = "550 5.1.1 <" + to[7] + ">: Recipient address rejected: User unknown"
			})
			e := newPipeEnv(t, relay, 1, nil)
			e.enqueue(post, "list", to...)
			e.wait(map[string]int{"sent": 29, "failed": 1, "queued": 0})
			ds, err := List(context.Background(), e.db, "failed", 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) != 1 || ds[0].Rcpt != to[7] || ds[0].Attempts != 1 ||
				ds[0].LastReply != "550 5.1.1 <"+to[7]+">: Recipient address rejected: User unknown" {
				t.Fatalf("failed: %+v", ds)
			}
			got := relay.copies()
			for i, m := range to {
				if want := map[bool]int{true: 0, false: 1}[i == 7]; got[m] != want {
					t.Errorf("%s got %d copies, want %d", m, got[m], want)
				}
			}
			sent, _ := List(context.Background(), e.db, "sent", 100)
			for _, d := range sent {
				if !strings.HasPrefix(d.LastReply, "250 2.0.0 queued as ") {
					t.Errorf("%s: reply %q", d.Rcpt, d.LastReply)
				}
			}
			// The content arrived whole, the leading dot unstuffed.
			for _, m := range relay.accepted[to[0]] {
				if !bytes.Equal(m, []byte(post)) {
					t.Errorf("relay got\n%q\nwant\n%q", m, post)
				}
			}
			relay.mu.Lock()
			defer relay.mu.Unlock()
			if relay.sessions != 1 {
				t.Errorf("%d sessions, want 1", relay.sessions)
			}
			if pipelining && relay.writes > 30+5 {
				t.Errorf("%d writes for 30 copies: not pipelined", relay.writes)
			}
		})
	}
}

// A relay drops the connection in the middle of a pipelined stream, just
// before or just after saying 250 for a message: what it accepted is
// recorded sent and never sent again; what it did not (that message, or
// the next one whose commands were under way) is deferred and sent at the
// next attempt. Every member ends with exactly one copy.
func TestPipelinedDropLosesNothingSendsNothingTwice(t *testing.T) {
	for _, after := range []bool{false, true} {
		t.Run(fmt.Sprintf("after250=%v", after), func(t *testing.T) {
			relay := startRelay(t, true, func(r *testRelay) { r.dropAt, r.dropAfter = 5, after })
			to := members(20)
			e := newPipeEnv(t, relay, 2, nil)
			e.enqueue(post, "list", to...)
			// The drop defers what was under way; the rest goes out.
			e.wait(map[string]int{"failed": 0})
			deadline := time.Now().Add(10 * time.Second)
			for {
				c, _ := Counts(context.Background(), e.db)
				ds, _ := List(context.Background(), e.db, "queued", 100)
				tried := 0
				for _, d := range ds {
					if d.Attempts > 0 {
						tried++
					}
				}
				if c["sent"]+tried == 20 && tried > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("counts %v, %d deferred", c, tried)
				}
				time.Sleep(5 * time.Millisecond)
			}
			for to, n := range relay.copies() {
				if n != 1 {
					t.Errorf("%s: %d copies before the retry", to, n)
				}
			}
			e.advance(2 * time.Minute) // past the first retry
			e.wait(map[string]int{"sent": 20, "queued": 0, "failed": 0})
			got := relay.copies()
			for _, m := range to {
				if got[m] != 1 {
					t.Errorf("%s: %d copies", m, got[m])
				}
			}
			sent, _ := List(context.Background(), e.db, "sent", 100)
			retried := 0
			for _, d := range sent {
				if d.Attempts == 2 {
					retried++
				}
			}
			relay.mu.Lock()
			defer relay.mu.Unlock()
			if retried == 0 || relay.sessions < 2 {
				t.Errorf("%d retried, %d sessions: the drop did not happen mid-stream", retried, relay.sessions)
			}
		})
	}
}

// Personalized copies are signed with the body hash of what they share
// computed once: every copy's signatures hold, the footer included.
func TestPersonalizedCopiesSigned(t *testing.T) {
	dir := t.TempDir()
	if _, err := dkim.Generate(dir, "hub.example", time.Now()); err != nil {
		t.Fatal(err)
	}
	signer, err := dkim.NewSigner(dir, "hub.example", nil)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := dkim.Keys(dir)
	recs := map[string]string{}
	for _, k := range keys {
		recs[k.Name()] = k.Record()
	}
	relay := startRelay(t, true)
	e := newPipeEnv(t, relay, 2, signer)
	e.q.Personalize("list", func(_ context.Context, c Copy) ([]byte, error) {
		out := append([]byte("List-Unsubscribe: <https://hub.example/u/"+c.Rcpt+">\r\n"), c.Data...)
		return append(out, "-- \r\nVous êtes inscrit comme "+c.Rcpt+"\r\n"...), nil
	})
	to := members(6)
	e.enqueue(post, "list", to...)
	e.enqueue(post, "forward", "a@example.org", "b@example.org") // not personalized: signed once
	e.wait(map[string]int{"sent": 8})
	relay.mu.Lock()
	defer relay.mu.Unlock()
	for rcpt, ms := range relay.accepted {
		for _, m := range ms {
			vs, err := gdkim.VerifyWithOptions(bytes.NewReader(m), &gdkim.VerifyOptions{
				LookupTXT: func(name string) ([]string, error) { return []string{recs[name]}, nil },
			})
			if err != nil || len(vs) != 2 {
				t.Fatalf("%s: %v %d", rcpt, err, len(vs))
			}
			for _, v := range vs {
				if v.Err != nil {
					t.Errorf("%s: %v\n%s", rcpt, v.Err, m)
				}
			}
			if strings.HasPrefix(rcpt, "m") && !bytes.Contains(m, []byte("inscrit comme "+rcpt)) {
				t.Errorf("%s: not their copy", rcpt)
			}
		}
	}
}

// A relay that wants AUTH PLAIN (RFC 4954) gets the configured user: the
// copies go; with a wrong password nothing goes, and the deliveries wait
// for the operator to fix it rather than fail for good (the relay's
// refusal says nothing about the recipients).
func TestRelayAuth(t *testing.T) {
	relay := startRelay(t, true, func(r *testRelay) { r.auth = "hub:s3cret" })
	e := newPipeEnv(t, relay, 1, nil, func(c *Config) { c.Relay.Username, c.Relay.Password = "hub", "s3cret" })
	e.enqueue(post, "forward", "a@example.org", "b@example.org")
	e.wait(map[string]int{"sent": 2})

	bad := startRelay(t, true, func(r *testRelay) { r.auth = "hub:s3cret" })
	e = newPipeEnv(t, bad, 1, nil, func(c *Config) { c.Relay.Username, c.Relay.Password = "hub", "wrong" })
	e.enqueue(post, "forward", "a@example.org")
	deadline := time.Now().Add(10 * time.Second)
	for {
		ds, _ := List(context.Background(), e.db, "", 10)
		if len(ds) == 1 && ds[0].Attempts == 1 {
			if ds[0].State != "queued" || !strings.Contains(ds[0].LastReply, "535 5.7.8") {
				t.Fatalf("after a refused login: %+v", ds[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no attempt recorded: %+v", ds)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := len(bad.copies()); n != 0 {
		t.Fatalf("%d copies sent without login", n)
	}
}
