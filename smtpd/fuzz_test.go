package smtpd

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"codeberg.org/relais/relais/internal/testcert"
	"codeberg.org/relais/relais/templates"
)

// FuzzSession drives one real Server, listening on loopback, with client
// scripts: the input is split on "\n" and each line is sent followed by
// CRLF (a line already ending in "\r" gets only "\n"; a line ending in a
// backslash loses it and gets a bare LF). Lines are pipelined; a STARTTLS
// line ends a batch, and if the server answers it with 220 before anything
// else is sent, the client does the TLS handshake and carries on over TLS.
// After the script the client half-closes the connection.
//
// Checked for every input:
//   - no panic: go-smtp recovers session panics, so the client watches for
//     its "421 4.0.0 Internal server error" and the error log for "panic"
//     (but for one known go-smtp bug, see knownPanic);
//   - no hang: after the half-close the server has closed within fuzzHang
//     (the server's own timeout is longer, so it cannot hide a hang), and no
//     write of the client blocked that long;
//   - every reply line is CRLF-terminated and starts with a 2xx-5xx code;
//     the replies that echo a client's address (5.1.1, 5.7.1, 5.4.6) are at
//     most 512 octets (RFC 5321 §4.5.3.1.5), valid UTF-8, without controls;
//   - never "250 OK: queued" without the Spool having stored the message;
//     what the Spool got has 1 to MaxRecipients routed recipients and
//     starts with the Received field;
//   - afterwards the server still works: a new connection is greeted with
//     220 and NOOP gets 250, and the connection limits' count falls back to
//     zero (no connection leaked).
func FuzzSession(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	h := startFuzzServer(f)
	f.Fuzz(func(t *testing.T, script []byte) {
		h.spool.violations() // leftovers from a failed input are not this one's
		before := h.spool.stored.Load()
		res := h.run(script)
		stored := h.spool.stored.Load() - before
		var bad []string
		bad = append(bad, res.bad...)
		bad = append(bad, h.spool.violations()...)
		if res.queued > int(stored) {
			bad = append(bad, fmt.Sprintf("%d \"250 OK: queued\" replies but %d messages stored", res.queued, stored))
		}
		if err := h.alive(); err != nil {
			bad = append(bad, "server not usable after the session: "+err.Error())
		}
		if n := h.settle(); n != 0 {
			bad = append(bad, fmt.Sprintf("%d connections still counted %v after the client saw them end", n, fuzzHang))
		}
		if p := h.log.panicked(); p != "" {
			bad = append(bad, "panic in the server: "+p)
		}
		if n := h.log.known.Swap(0); n > 0 {
			t.Logf("go-smtp's BDAT session race panicked %d times (known, see knownPanic)", n)
		}
		if len(bad) > 0 {
			t.Fatalf("script %s:\n%s", clip(string(script), 2000), strings.Join(bad, "\n"))
		}
	})
}

const (
	fuzzHang     = 5 * time.Second
	fuzzMaxBytes = 64 << 10
	fuzzMaxRcpts = 5
	// How long the client waits for the 220 to a STARTTLS once the server
	// has gone quiet, and how many times per script it is willing to wait.
	fuzzTLSIdle  = 25 * time.Millisecond
	fuzzTLSWaits = 4

	tlsReadyLine = "220 2.0.0 Ready to start TLS"
	queuedLine   = "250 2.0.0 OK: queued"
	panicLine    = "421 4.0.0 Internal server error"
)

type fuzzHarness struct {
	srv   *Server
	addr  string
	spool *fuzzSpool
	log   *panicLog
}

func startFuzzServer(f *testing.F) *fuzzHarness {
	texts, err := templates.Load("")
	if err != nil {
		f.Fatal(err)
	}
	tlsCfg, err := testcert.Config(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	h := &fuzzHarness{spool: &fuzzSpool{}, log: &panicLog{}}
	var ids atomic.Uint64
	s := New(Config{
		Hostname:            "mx.test",
		MaxMessageBytes:     fuzzMaxBytes,
		MaxRecipients:       fuzzMaxRcpts,
		MaxConnectionsPerIP: 3, // a leaked connection soon shows as a 421
		MaxConnections:      4,
		Timeout:             2 * fuzzHang, // longer than fuzzHang: must not hide a hang
		TLS:                 tlsCfg,
		NewID:               func() string { return "F" + strconv.FormatUint(ids.Add(1), 10) },
	}, fuzzRouter{}, h.spool, texts, slog.New(h.log))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	h.srv, h.addr = s, ln.Addr().String()
	go s.Serve(ln)
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return h
}

// fuzzRouter knows a few mailboxes at hub.example; "bad…" there is refused
// with a reason, "fail" is a routing failure, anything else there is
// unknown, and other domains are relaying.
type fuzzRouter struct{}

var fuzzMailboxes = map[string]bool{"a": true, "b": true, "c": true, "list": true, "4405.x": true, "jörg": true}

func (fuzzRouter) Route(_ context.Context, rcpt string) (Route, error) {
	i := strings.LastIndexByte(rcpt, '@')
	if i < 0 || !strings.EqualFold(rcpt[i+1:], "hub.example") {
		return Route{}, fmt.Errorf("%s: %w", rcpt, ErrRelayDenied)
	}
	local := strings.ToLower(rcpt[:i])
	switch {
	case fuzzMailboxes[local]:
		return Route{Kind: "group", Target: local}, nil
	case strings.HasPrefix(local, "bad"):
		return Route{}, &RecipientError{Reason: "no group " + local}
	case local == "fail":
		return Route{}, errors.New("database is locked")
	}
	return Route{}, ErrUnknownRecipient
}

type fuzzSpool struct {
	stored atomic.Int64
	mu     sync.Mutex
	bad    []string
}

func (s *fuzzSpool) Accept(_ context.Context, env *Envelope, body []byte) error {
	var bad []string
	if n := len(env.Rcpts); n == 0 || n > fuzzMaxRcpts {
		bad = append(bad, fmt.Sprintf("spool: message with %d recipients", n))
	}
	for _, r := range env.Rcpts {
		if r.Route.Kind != "group" {
			bad = append(bad, fmt.Sprintf("spool: recipient %q without a route", r.Addr))
		}
	}
	if !strings.HasPrefix(string(body), "Received: from ") {
		bad = append(bad, "spool: message without its Received field")
	}
	if len(body) > fuzzMaxBytes+1024 {
		bad = append(bad, fmt.Sprintf("spool: message of %d bytes", len(body)))
	}
	s.mu.Lock()
	s.bad = append(s.bad, bad...)
	s.mu.Unlock()
	s.stored.Add(1)
	return nil
}

func (s *fuzzSpool) violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bad
	s.bad = nil
	return b
}

// panicLog is a slog handler that remembers a record mentioning a panic
// (go-smtp reports the panics it recovers through the server's ErrorLog).
type panicLog struct {
	mu    sync.Mutex
	first string
	known atomic.Int64
}

// knownPanic is a go-smtp v0.25.1 bug, not relais's: handleBdat starts the
// goroutine that calls c.Session().Data(r) and returns; if the connection
// ends (or STARTTLS resets the session) before that goroutine runs, Close
// has set the session to nil and the call dereferences it (conn.go:1059).
// go-smtp recovers it; the client sees nothing. Counted, not a failure.
const knownPanic = "github.com/emersion/go-smtp.(*Conn).handleBdat.func1()"

func (l *panicLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *panicLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *panicLog) WithGroup(string) slog.Handler            { return l }
func (l *panicLog) Handle(_ context.Context, r slog.Record) error {
	text := r.Message
	r.Attrs(func(a slog.Attr) bool {
		text += " " + a.Key + "=" + a.Value.String()
		return true
	})
	if !strings.Contains(text, "panic") {
		return nil
	}
	// The frame that panicked is the one after "panic(…)".
	if _, after, ok := strings.Cut(text, "\npanic("); ok && strings.Contains(text, "nil pointer dereference") {
		lines := strings.SplitN(after, "\n", 4)
		if len(lines) >= 3 && lines[2] == knownPanic {
			l.known.Add(1)
			return nil
		}
	}
	l.mu.Lock()
	if l.first == "" {
		l.first = text
	}
	l.mu.Unlock()
	return nil
}

func (l *panicLog) panicked() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.first
	l.first = ""
	return p
}

// alive checks that a fresh connection is greeted and answers NOOP.
func (h *fuzzHarness) alive() error {
	c, err := net.DialTimeout("tcp", h.addr, fuzzHang)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(fuzzHang))
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "220 ") {
		return fmt.Errorf("greeting %q, %v", line, err)
	}
	if _, err := io.WriteString(c, "NOOP\r\nQUIT\r\n"); err != nil {
		return err
	}
	if line, err = r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "250 ") {
		return fmt.Errorf("NOOP: %q, %v", line, err)
	}
	if line, err = r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "221 ") {
		return fmt.Errorf("QUIT: %q, %v", line, err)
	}
	if _, err := r.ReadString('\n'); err != io.EOF {
		return fmt.Errorf("no close after QUIT: %v", err)
	}
	return nil
}

// settle waits for the server to release every connection (the limits
// count them until go-smtp closes them) and returns how many are left.
func (h *fuzzHarness) settle() int {
	deadline := time.Now().Add(fuzzHang)
	for {
		h.srv.mu.Lock()
		n := h.srv.open
		h.srv.mu.Unlock()
		if n == 0 || time.Now().After(deadline) {
			return n
		}
		time.Sleep(time.Millisecond)
	}
}

type fuzzResult struct {
	queued int
	bad    []string
}

// readerDone is what a reader goroutine reports when it stops.
type readerDone struct {
	res      fuzzResult
	err      error
	takeover bool // stopped after the 220 to STARTTLS: the writer goes TLS
}

// reader reads and checks reply lines until the connection ends. After the
// 220 to STARTTLS it asks the writer whether it takes over (TLS); if not,
// the server is handshaking with whatever followed, and the rest is read
// without checks.
type reader struct {
	greeting bool
	lines    atomic.Int64 // activity, for the STARTTLS wait
	tlsReady chan struct{}
	resume   chan bool
	done     chan readerDone
}

func (rd *reader) run(c net.Conn) {
	var res fuzzResult
	br := bufio.NewReader(c)
	check := true
	first := rd.greeting
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if line != "" && check {
				res.bad = append(res.bad, "unterminated reply "+clip(line, 200))
			}
			rd.done <- readerDone{res: res, err: err}
			return
		}
		rd.lines.Add(1)
		if !check {
			continue
		}
		bad := checkReply(line, first)
		first = false
		res.bad = append(res.bad, bad...)
		switch strings.TrimSuffix(line, "\r\n") {
		case queuedLine:
			res.queued++
		case tlsReadyLine:
			if br.Buffered() > 0 {
				res.bad = append(res.bad, "plain text after the 220 to STARTTLS")
			}
			rd.tlsReady <- struct{}{}
			if <-rd.resume {
				rd.done <- readerDone{res: res, takeover: true}
				return
			}
			check = false
		}
	}
}

func checkReply(line string, first bool) []string {
	var bad []string
	l := strings.TrimSuffix(line, "\r\n")
	if len(l) == len(line) {
		bad = append(bad, "reply line without CRLF: "+clip(line, 200))
	}
	if len(l) < 3 || l[0] < '2' || l[0] > '5' || l[1] < '0' || l[1] > '9' || l[2] < '0' || l[2] > '9' ||
		(len(l) > 3 && l[3] != ' ' && l[3] != '-') {
		bad = append(bad, "malformed reply line "+clip(l, 200))
	}
	if first && !strings.HasPrefix(l, "220 ") {
		bad = append(bad, "greeting "+clip(l, 200))
	}
	if l == panicLine {
		bad = append(bad, "go-smtp recovered a panic (421 Internal server error)")
	}
	// The replies relais builds around the client's address.
	if strings.HasPrefix(l, "550 5.1.1 ") || strings.HasPrefix(l, "554 5.7.1 ") || strings.HasPrefix(l, "554 5.4.6 ") {
		if len(line) > 512 {
			bad = append(bad, fmt.Sprintf("reply of %d octets (RFC 5321 says 512 at most): %s", len(line), clip(l, 200)))
		}
		if !utf8.ValidString(l) || strings.ContainsFunc(l, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			bad = append(bad, "control characters or invalid UTF-8 in reply "+clip(l, 200))
		}
	}
	return bad
}

// run plays one script and reports what the replies showed.
func (h *fuzzHarness) run(script []byte) fuzzResult {
	var res fuzzResult
	raw, err := net.DialTimeout("tcp", h.addr, fuzzHang)
	if err != nil {
		res.bad = append(res.bad, "dial: "+err.Error())
		return res
	}
	defer raw.Close()
	raw.SetReadDeadline(time.Now().Add(fuzzHang))

	var conn net.Conn = raw
	start := func(c net.Conn, greeting bool) *reader {
		rd := &reader{greeting: greeting, tlsReady: make(chan struct{}), resume: make(chan bool), done: make(chan readerDone, 1)}
		go rd.run(c)
		return rd
	}
	rd := start(raw, true)
	merge := func(d readerDone) {
		res.queued += d.res.queued
		res.bad = append(res.bad, d.res.bad...)
		if d.err != nil && d.err != io.EOF && !errors.Is(d.err, syscall.ECONNRESET) {
			if errors.Is(d.err, os.ErrDeadlineExceeded) {
				res.bad = append(res.bad, fmt.Sprintf("hang: no reply and no close within %v", fuzzHang))
			} else {
				res.bad = append(res.bad, "reading replies: "+d.err.Error())
			}
		}
	}

	// A reader waiting at the 220 to STARTTLS while the writer has sent
	// more: that 220 may answer an earlier STARTTLS, so no takeover.
	refuseTLS := func() {
		select {
		case <-rd.tlsReady:
			rd.resume <- false
		default:
		}
	}
	closed := false // the server ended the connection
	waits := 0
	ambiguous := false
	for _, batch := range fuzzBatches(script) {
		refuseTLS()
		conn.SetWriteDeadline(time.Now().Add(fuzzHang))
		_, err := conn.Write(batch)
		raw.SetReadDeadline(time.Now().Add(fuzzHang))
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				res.bad = append(res.bad, fmt.Sprintf("hang: the server read nothing for %v", fuzzHang))
			}
			closed = true
			break
		}
		if !endsWithSTARTTLS(batch) || waits >= fuzzTLSWaits {
			continue
		}
		waits++
		switch h.waitTLS(rd) {
		case waitEnded:
			closed = true
		case waitQuiet:
			ambiguous = true
		case waitReady:
			rd.resume <- true
			merge(<-rd.done)
			tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"})
			raw.SetDeadline(time.Now().Add(fuzzHang))
			if err := tc.Handshake(); err != nil {
				if !ambiguous {
					res.bad = append(res.bad, "TLS handshake after the 220 to STARTTLS: "+err.Error())
				}
				return res
			}
			conn = tc
			rd = start(tc, false)
		}
		if closed {
			break
		}
	}
	if !closed {
		if cw, ok := conn.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
	}
	raw.SetReadDeadline(time.Now().Add(fuzzHang))
	for {
		select {
		case <-rd.tlsReady:
			rd.resume <- false
		case d := <-rd.done:
			merge(d)
			return res
		}
	}
}

type waitOutcome int

const (
	waitReady waitOutcome = iota
	waitQuiet
	waitEnded
)

// waitTLS waits for the 220 to the STARTTLS just sent, until the server
// has been quiet for fuzzTLSIdle (no 220: refused, or the line was data).
func (h *fuzzHarness) waitTLS(rd *reader) waitOutcome {
	tick := time.NewTicker(fuzzTLSIdle)
	defer tick.Stop()
	last := rd.lines.Load()
	for {
		select {
		case <-rd.tlsReady:
			return waitReady
		case d := <-rd.done:
			rd.done <- d // for the final wait
			return waitEnded
		case <-tick.C:
			n := rd.lines.Load()
			if n == last {
				return waitQuiet
			}
			last = n
		}
	}
}

func endsWithSTARTTLS(batch []byte) bool {
	s := strings.TrimRight(string(batch), "\r\n")
	if i := strings.LastIndexAny(s, "\r\n"); i >= 0 {
		s = s[i+1:]
	}
	return strings.HasPrefix(strings.ToUpper(s), "STARTTLS")
}

// fuzzBatches turns a script into the bytes to send, cut after each
// STARTTLS line.
func fuzzBatches(script []byte) [][]byte {
	s := string(script)
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	var batches [][]byte
	var cur []byte
	for _, line := range strings.Split(s, "\n") {
		switch {
		case strings.HasSuffix(line, "\r"):
			cur = append(cur, line+"\n"...)
		case strings.HasSuffix(line, `\`):
			cur = append(cur, line[:len(line)-1]+"\n"...)
		default:
			cur = append(cur, line+"\r\n"...)
		}
		if strings.HasPrefix(strings.ToUpper(line), "STARTTLS") {
			batches = append(batches, cur)
			cur = nil
		}
	}
	if len(cur) > 0 {
		batches = append(batches, cur)
	}
	return batches
}

func clip(s string, n int) string {
	if len(s) <= n {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q… (%d bytes)", s[:n], len(s))
}

func fuzzSeeds() []string {
	j := func(lines ...string) string { return strings.Join(lines, "\n") + "\n" }
	msg := []string{"From: a@example.org", "To: a@hub.example", "Subject: hi", "", "hello", "..dot-stuffed", ""}
	txn := func(from string, rcpts []string, body ...string) []string {
		l := []string{"MAIL FROM:" + from}
		for _, r := range rcpts {
			l = append(l, "RCPT TO:"+r)
		}
		l = append(l, "DATA")
		l = append(l, body...)
		return append(l, ".")
	}
	cat := func(parts ...[]string) []string {
		var l []string
		for _, p := range parts {
			l = append(l, p...)
		}
		return l
	}
	one := []string{"<a@hub.example>"}
	// BDAT chunks: each script line is sent with CRLF.
	chunk1 := "Subject: bdat\r\n\r\n"
	chunk2 := "body\r\n"
	many := []string{}
	for i := 0; i < 8; i++ {
		many = append(many, fmt.Sprintf("<%c@hub.example>", 'a'+i%3), fmt.Sprintf("<x%d@hub.example>", i))
	}
	hops := []string{}
	for i := 0; i < maxHops; i++ {
		hops = append(hops, "Received: from x by y; Mon, 1 Jan 2024 00:00:00 +0000")
	}
	long := strings.Repeat("x", 1500)
	return []string{
		// A full valid transaction, then QUIT.
		j(cat([]string{"EHLO client.example.org"}, txn("<a@example.org>", one, msg...), []string{"QUIT"})...),
		// Pipelined: two transactions, RSET between, null sender, parameters.
		j(cat([]string{"EHLO client.example.org"},
			txn("<> BODY=8BITMIME SIZE=100", []string{"<a@hub.example>", "<B@HUB.EXAMPLE>", "<a@hub.example>"}, msg...),
			[]string{"RSET", "NOOP"},
			txn("<a@example.org>", []string{"<list@hub.example>"}, msg...), []string{"QUIT"})...),
		// DATA without RCPT, RCPT without MAIL, MAIL before EHLO.
		j("MAIL FROM:<a@example.org>", "EHLO c", "RCPT TO:<a@hub.example>", "MAIL FROM:<a@example.org>", "DATA", "Subject: x", "", "y", ".", "NOOP", "QUIT"),
		// Oversize message.
		j(cat([]string{"EHLO c"}, txn("<a@example.org>", one, append([]string{"Subject: big", ""}, strings.Split(strings.Repeat(strings.Repeat("z", 998)+"\n", 70), "\n")...)...), []string{"NOOP", "QUIT"})...),
		// Header garbage, a loop, too many hops.
		j(cat([]string{"EHLO c"},
			txn("<a@example.org>", one, "no colon in this header", "\x00: nul", "", "body"),
			txn("<a@example.org>", one, "Delivered-To: A@hub.example", "", "looped"),
			txn("<a@example.org>", one, append(hops, "", "hops")...),
			txn("<a@example.org>", one, " folded first", "", "x"),
			[]string{"QUIT"})...),
		// Bad addresses: relaying, unknown, refused with a reason, routing failure, syntax.
		j("EHLO c", "MAIL FROM:<a@example.org>", "RCPT TO:<x@elsewhere.example>", "RCPT TO:<nobody@hub.example>",
			"RCPT TO:<bad-circo@hub.example>", "RCPT TO:<fail@hub.example>", "RCPT TO:garbage", "RCPT TO:<@route:a@hub.example>",
			"MAIL FROM:<<>>", "RCPT TO:<\"quoted local\"@hub.example>", "DATA", "QUIT"),
		// SMTPUTF8 addresses and an 8-bit body.
		j(cat([]string{"EHLO c"}, txn("<jörg@exämple.org> SMTPUTF8 BODY=8BITMIME", []string{"<jörg@hub.example>", "<ünknown@hub.example>"},
			"Subject: é", "From: jörg@exämple.org", "", "\xff\xfe 8-bit \x80"), []string{"QUIT"})...),
		// More recipients than allowed.
		j(cat([]string{"EHLO c"}, txn("<a@example.org>", many, msg...), []string{"QUIT"})...),
		// STARTTLS, then a transaction over TLS, then STARTTLS again.
		j(cat([]string{"EHLO c", "STARTTLS", "EHLO c"}, txn("<a@example.org>", one, msg...), []string{"STARTTLS", "QUIT"})...),
		// STARTTLS in a message body, and before EHLO.
		j(cat([]string{"STARTTLS", "EHLO c"}, txn("<a@example.org>", one, "Subject: tls", "", "STARTTLS"), []string{"QUIT"})...),
		// BDAT in two chunks, then BDAT without a transaction, then a bad size.
		j("EHLO c", "MAIL FROM:<a@example.org>", "RCPT TO:<a@hub.example>",
			fmt.Sprintf("BDAT %d", len(chunk1)), "Subject: bdat", "",
			fmt.Sprintf("BDAT %d LAST", len(chunk2)), "body",
			"BDAT 3 LAST", "abc", "BDAT -1", "MAIL FROM:<a@example.org> BODY=BINARYMIME", "RCPT TO:<a@hub.example>", "DATA", "BDAT 99999999 LAST", "QUIT"),
		// BDAT chunk cut short by the end of the connection. go-smtp v0.25.1
		// takes the short chunk as complete and the message is queued.
		j("EHLO c", "MAIL FROM:<a@example.org>", "RCPT TO:<a@hub.example>", "BDAT 500 LAST", "Subject: short", "", "x"),
		// AUTH, VRFY, unimplemented and unknown commands.
		j("EHLO c", "AUTH PLAIN AGFAAGI=", "AUTH LOGIN", "VRFY a@hub.example", "EXPN list", "HELP", "NOOP", "QUIT"),
		// Overlong lines in commands and in DATA.
		j(cat([]string{"EHLO c", "NOOP " + strings.Repeat("n", 2100)}, txn("<a@example.org>", one, "Subject: long", "", strings.Repeat("l", 3000)), []string{"QUIT"})...),
		// NUL bytes, 8-bit bytes, bare LF and bare CR in commands and data.
		j(cat([]string{"EHLO \x00c\xff", "HELO c(x)\rReceived: forged"}, txn("<a@example.org>", one, "Subject: bare\\", "X-CR: a\rb", "", "line\\", ".\\", "\x00"), []string{"QUIT"})...),
		// The connection ends in the middle of DATA.
		j("EHLO c", "MAIL FROM:<a@example.org>", "RCPT TO:<a@hub.example>", "DATA", "Subject: cut", "", "never ends"),
		// Addresses echoed in replies: very long, and with control characters.
		j("EHLO c", "MAIL FROM:<a@example.org>", "RCPT TO:<x@"+long+">", "RCPT TO:<"+long+"@hub.example>",
			"RCPT TO:<bad"+long+"@hub.example>", "RCPT TO:<x@e\x1b[2J\x00\xff>", "QUIT"),
	}
}
