package hub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/dkim"
	"codeberg.org/relais/relais/groups"
	"codeberg.org/relais/relais/internal/pgtest"
	"codeberg.org/relais/relais/mailauth"
	"codeberg.org/relais/relais/outbox"
	"codeberg.org/relais/relais/queue"
)

const domain = "hub.example"

// clock is the injected clock: tests move it forward instead of sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a hub on 127.0.0.1:0 delivering to a recording relay.
type env struct {
	t     testing.TB
	dir   string
	cfg   config.Config
	clock *clock
	box   *outbox.Server
	h     *Hub
	addr  string
	logs  *logBuf
	dns   *mailauth.StaticResolver
}

func newEnv(t *testing.T, tweak ...func(*config.Config)) *env {
	t.Helper()
	e := newEnvTB(t, tweak...)
	e.addGroup("4405.nantes-sud", "Nantes Sud", "camille@exemple.fr", "karim@exemple.fr")
	return e
}

func newEnvB(b *testing.B) *env {
	e := newEnvTB(b)
	e.addGroup("4402.bench", "Bench", "member@exemple.fr")
	return e
}

func newEnvTB(t testing.TB, tweak ...func(*config.Config)) *env {
	t.Helper()
	box, err := outbox.Start("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { box.Close() })
	c := config.Default()
	c.Domains = []string{domain}
	c.Hostname = "mx.hub.example"
	c.DataDir = t.TempDir()
	c.SMTP.Listen = []string{"127.0.0.1:0"}
	c.Relay.Address = box.Addr()
	c.Relay.StartTLS = "off"
	c.Queue.Workers = 2
	c.Web.Listen = "127.0.0.1:0"
	c.Metrics.Listen = "127.0.0.1:0"
	c.DKIM.KeysDir = testKeys(t)
	if onPostgres() {
		c.Store.URL = pgtest.URL(t)
	}
	for _, f := range tweak {
		f(&c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: c.DataDir, cfg: c, clock: &clock{t: time.Now()}, box: box, dns: &mailauth.StaticResolver{}}
	// The writers of the tests send from 127.0.0.1, which their domains'
	// SPF records name: their mail is proven unless a test says otherwise.
	for _, d := range []string{"example.org", "exemple.fr", "example.net", "ops.example", "ailleurs.example",
		"strict.example", "relaxed.example", "naif.example", "client.example.org"} {
		e.dns.Set(d, "v=spf1 ip4:127.0.0.1 -all")
	}
	e.start()
	t.Cleanup(e.stop)
	t.Cleanup(func() { auditLinks(t, e) }) // runs first: the hub still serves its pages
	return e
}

// testKeys are the DKIM keys of every test hub, made once (an RSA key takes
// a while to generate) and only read afterwards.
func testKeys(t testing.TB) string {
	keysOnce.Do(func() {
		keysDir, keysErr = os.MkdirTemp("", "relais-dkim-")
		if keysErr == nil {
			_, keysErr = dkim.Generate(keysDir, domain, time.Now())
		}
	})
	if keysErr != nil {
		t.Fatal(keysErr)
	}
	return keysDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	if testing.Verbose() {
		fmt.Printf("links audited for addresses: %d\n", linksAudited.get())
	}
	if keysDir != "" {
		os.RemoveAll(keysDir)
	}
	os.Exit(code)
}

var (
	keysOnce sync.Once
	keysDir  string
	keysErr  error
)

// unsigned returns data without the two DKIM-Signature fields the hub puts
// on top of everything it sends, failing the test if they are missing.
func unsigned(t testing.TB, data []byte) string {
	t.Helper()
	s := string(data)
	for i := 0; i < 2; i++ {
		if !strings.HasPrefix(s, "DKIM-Signature: ") {
			t.Fatalf("signature %d missing:\n%.300s", i+1, s)
		}
		// The field ends at the first line break not followed by folding.
		end := 0
		for {
			n := strings.Index(s[end:], "\r\n")
			end += n + 2
			if n < 0 || end >= len(s) || (s[end] != ' ' && s[end] != '\t') {
				break
			}
		}
		s = s[end:]
	}
	return s
}

// dkimRecords are the DNS records of the test keys, for a verifier.
func dkimRecords(t testing.TB) map[string]string {
	keys, err := dkim.Keys(testKeys(t))
	if err != nil {
		t.Fatal(err)
	}
	recs := map[string]string{}
	for _, k := range keys {
		recs[k.Name()] = k.Record()
	}
	return recs
}

func (e *env) start() {
	e.t.Helper()
	e.logs = &logBuf{}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h, err := Open(context.Background(), e.cfg, Options{Logger: log, Now: e.clock.now, Resolver: e.dns})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := h.Listen(); err != nil {
		e.t.Fatal(err)
	}
	h.Start()
	e.h, e.addr = h, h.Addrs()[0].String()
}

func (e *env) stop() {
	if e.h == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.h.Close(ctx); err != nil {
		e.t.Errorf("close: %v", err)
	}
	e.h = nil
}

// logBuf collects the hub's logs; it is written from many goroutines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(b)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (e *env) addGroup(local, name string, animators ...string) {
	e.t.Helper()
	code, n, err := address.GroupLocal(local)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := groups.Add(context.Background(), e.h.DB, groups.Group{Code: code, Name: n, DisplayName: name, Animators: animators}); err != nil {
		e.t.Fatal(err)
	}
}

// send talks SMTP to the hub with a real client and returns the first
// error the server answered with.
func (e *env) send(from string, to []string, msg string) error {
	c, err := smtp.Dial(e.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("client.example.org"); err != nil {
		return err
	}
	if err := c.SendMail(from, to, strings.NewReader(msg)); err != nil {
		return err
	}
	return c.Quit()
}

func (e *env) wait(n int) []outbox.Mail {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mails, err := e.box.Wait(ctx, n)
	if err != nil {
		e.t.Fatalf("%v\nlogs:\n%s", err, e.logs)
	}
	return mails
}

// waitState waits until the deliveries reach want (state → count).
func (e *env) waitState(want map[string]int) map[string]int {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := queue.Counts(context.Background(), e.h.DB)
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
			return got
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("deliveries %v, want %v\nlogs:\n%s", got, want, e.logs)
		}
		time.Sleep(10 * time.Millisecond) // polling for an asynchronous state, not waiting for time
	}
}

func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

const groupMessage = `From: Marie Dupont <marie@example.org>
To: 4405.nantes-sud@hub.example
Subject: =?UTF-8?Q?R=C3=A9union_de_quartier?=
Date: Sat, 21 Nov 2026 10:00:00 +0100
Message-ID: <reunion-1@example.org>
DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=s1; h=from:to:subject:date:message-id; bh=x; b=y
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Bonjour, pouvez-vous m'envoyer la date de la prochaine réunion ?
Marie
`

func smtpCode(t *testing.T, err error) (int, smtp.EnhancedCode, string) {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		t.Fatalf("want an SMTP error, got %v", err)
	}
	return se.Code, se.EnhancedCode, se.Message
}

var verpRE = regexp.MustCompile(`^bounces\+[0-9]+-[a-z2-7]{8}@hub\.example$`)

func TestForwardToTwoAnimators(t *testing.T) {
	e := newEnv(t)
	msg := crlf(groupMessage)
	if err := e.send("marie@example.org", []string{"4405.Nantes-Sud@HUB.example"}, msg); err != nil {
		t.Fatal(err)
	}
	mails := e.wait(2)
	got := map[string]outbox.Mail{}
	for _, m := range mails {
		got[m.To] = m
	}
	if len(got) != 2 || got["camille@exemple.fr"].To == "" || got["karim@exemple.fr"].To == "" {
		t.Fatalf("recipients: %v", mails)
	}
	senders := map[string]bool{}
	for _, m := range mails {
		if !verpRE.MatchString(m.From) {
			t.Errorf("envelope sender %q is not a VERP address", m.From)
		}
		senders[m.From] = true
		// Prepended: Delivered-To (loop detection) and our Received field;
		// then the message exactly as written, so the writer's DKIM holds.
		data := unsigned(t, m.Data)
		if !strings.HasPrefix(data, "Delivered-To: 4405.nantes-sud@hub.example\r\nReceived: from client.example.org ([127.0.0.1])\r\n\tby mx.hub.example (relais) with ESMTP id ") {
			t.Errorf("prefix:\n%s", data[:min(len(data), 300)])
		}
		if !strings.HasSuffix(data, msg) {
			t.Errorf("original message altered:\n%s", data)
		}
		h := m.Header()
		if h.Get("From") != "Marie Dupont <marie@example.org>" || h.Get("Reply-To") != "" {
			t.Errorf("From %q Reply-To %q: replies must go to the writer", h.Get("From"), h.Get("Reply-To"))
		}
	}
	if len(senders) != 2 {
		t.Errorf("each recipient needs its own VERP address, got %v", senders)
	}
	// The VERP address of each copy names that copy's delivery.
	e.waitState(map[string]int{"sent": 2})
	for _, m := range mails {
		local := strings.TrimSuffix(strings.TrimPrefix(m.From, "bounces+"), "@hub.example")
		id, ok := e.h.Queue.ParseToken(local)
		if !ok {
			t.Fatalf("token %s refused", local)
		}
		d, err := queue.Get(context.Background(), e.h.DB, id)
		if err != nil || d.Rcpt != m.To || d.State != "sent" || !strings.HasPrefix(d.LastReply, "250 ") {
			t.Errorf("delivery %d: %+v %v", id, d, err)
		}
	}
	// Logs let an operator follow the message: verdict, accepted,
	// dispatched, two deliveries.
	qid := regexp.MustCompile(`msg=accepted .*qid=(\S+)`).FindStringSubmatch(e.logs.String())
	if qid == nil || strings.Count(e.logs.String(), "qid="+qid[1]) != 5 {
		t.Errorf("logs do not follow the message:\n%s", e.logs)
	}
}

func TestReplyToKept(t *testing.T) {
	e := newEnv(t)
	msg := crlf(strings.Replace(groupMessage, "Subject:", "Reply-To: Collectif Rezé <collectif@example.net>\nSubject:", 1))
	if err := e.send("marie@example.org", []string{"4405.nantes-sud@hub.example"}, msg); err != nil {
		t.Fatal(err)
	}
	for _, m := range e.wait(2) {
		if got := m.Header().Get("Reply-To"); got != "Collectif Rezé <collectif@example.net>" {
			t.Errorf("Reply-To %q", got)
		}
	}
}

func TestRefusedAtRcpt(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		rcpt string
		code int
		enh  smtp.EnhancedCode
		text string
	}{
		{"4405.nobody@hub.example", 550, smtp.EnhancedCode{5, 1, 1}, "unknown address"},
		{"4406.nantes-sud@hub.example", 550, smtp.EnhancedCode{5, 1, 1}, "unknown address"},
		{"4411.nantes-sud@hub.example", 550, smtp.EnhancedCode{5, 1, 1}, "11 does not exist"},
		{"4405.nantes-sud+subscribe@hub.example", 550, smtp.EnhancedCode{5, 1, 1}, "unknown address"},
		{"support@hub.example", 550, smtp.EnhancedCode{5, 1, 1}, "unknown address"},
		{"bounces+1-aaaaaaaa@hub.example", 550, smtp.EnhancedCode{5, 1, 1}, "unknown address"},
		{"4405.nantes-sud@gmail.com", 554, smtp.EnhancedCode{5, 7, 1}, "relay access denied"},
		{"someone@hub.example.evil.org", 554, smtp.EnhancedCode{5, 7, 1}, "relay access denied"},
	}
	for _, tc := range cases {
		err := e.send("x@example.org", []string{tc.rcpt}, crlf(groupMessage))
		code, enh, text := smtpCode(t, err)
		if code != tc.code || enh != tc.enh || !strings.Contains(text, tc.text) || !strings.Contains(text, tc.rcpt) {
			t.Errorf("%s: got %d %v %q", tc.rcpt, code, enh, text)
		}
	}
	// A refused recipient does not spoil the good one in the same message.
	c, err := smtp.Dial(e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("x@example.org", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("nobody@hub.example", nil); err == nil {
		t.Fatal("unknown recipient accepted")
	}
	if err := c.Rcpt("4405.nantes-sud@hub.example", nil); err != nil {
		t.Fatal(err)
	}
	w, _ := c.Data()
	io.WriteString(w, crlf(groupMessage))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(e.wait(2)); n != 2 {
		t.Fatalf("%d copies", n)
	}
	// Nothing refused was ever queued or sent.
	time.Sleep(0)
	if got := e.waitState(map[string]int{"sent": 2}); got["queued"]+got["failed"] != 0 {
		t.Fatalf("deliveries %v", got)
	}
}

func TestOverSizeRefused(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.SMTP.MaxMessageBytes = 64 << 10 })
	big := crlf(groupMessage) + strings.Repeat(strings.Repeat("x", 99)+"\r\n", 1000)
	code, enh, text := smtpCode(t, e.send("x@example.org", []string{"4405.nantes-sud@hub.example"}, big))
	if code != 552 || enh != (smtp.EnhancedCode{5, 3, 4}) || !strings.Contains(text, "limit 64 kB") {
		t.Fatalf("got %d %v %q", code, enh, text)
	}
	// Declared too large in MAIL FROM SIZE=: refused before the data is sent.
	c, err := smtp.Dial(e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Mail("x@example.org", &smtp.MailOptions{Size: 1 << 20})
	if code, _, _ := smtpCode(t, err); code != 552 {
		t.Fatalf("SIZE=1M: %d", code)
	}
	// The hub still works and kept nothing.
	if err := e.send("x@example.org", []string{"4405.nantes-sud@hub.example"}, crlf(groupMessage)); err != nil {
		t.Fatal(err)
	}
	e.wait(2)
	e.waitState(map[string]int{"sent": 2})
}

func TestLoopsAndBadHeadersRefused(t *testing.T) {
	e := newEnv(t)
	looped := "Delivered-To: 4405.nantes-sud@hub.example\r\n" + crlf(groupMessage)
	code, enh, text := smtpCode(t, e.send("x@example.org", []string{"4405.nantes-sud@hub.example"}, looped))
	if code != 554 || enh != (smtp.EnhancedCode{5, 4, 6}) || !strings.Contains(text, "loop") {
		t.Errorf("loop: %d %v %q", code, enh, text)
	}
	hops := strings.Repeat("Received: from a by b; Sat, 21 Nov 2026 10:00:00 +0100\r\n", 50) + crlf(groupMessage)
	code, enh, _ = smtpCode(t, e.send("x@example.org", []string{"4405.nantes-sud@hub.example"}, hops))
	if code != 554 || enh != (smtp.EnhancedCode{5, 4, 6}) {
		t.Errorf("hops: %d %v", code, enh)
	}
	bad := "this is not a header\r\n\r\nbody\r\n"
	code, enh, text = smtpCode(t, e.send("x@example.org", []string{"4405.nantes-sud@hub.example"}, bad))
	if code != 554 || enh != (smtp.EnhancedCode{5, 6, 0}) || !strings.Contains(text, "malformed message header") {
		t.Errorf("bad header: %d %v %q", code, enh, text)
	}
	if n, _ := queue.Counts(context.Background(), e.h.DB); len(n) != 0 {
		t.Errorf("refused mail was queued: %v", n)
	}
}

func TestConnectionsPerIPLimited(t *testing.T) {
	e := newEnv(t, func(c *config.Config) {
		c.SMTP.MaxConnectionsPerIP = 2
		c.SMTP.LimitExempt = nil
	})
	var open []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		buf := make([]byte, 512)
		n, _ := c.Read(buf)
		if !strings.HasPrefix(string(buf[:n]), "220 ") {
			t.Fatalf("connection %d greeted %q", i, buf[:n])
		}
		open = append(open, c)
	}
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	c.Close()
	if !strings.HasPrefix(string(b), "421 4.7.0 ") || !strings.Contains(string(b), "too many connections") {
		t.Fatalf("third connection got %q", b)
	}
	// Once one closes, a new one is welcome again.
	open[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := e.send("x@example.org", []string{"4405.nantes-sud@hub.example"}, crlf(groupMessage))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a close: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The hub stops between accepting a message and delivering it (the relay
// is down meanwhile); a new hub on the same data directory delivers it,
// once.
func TestRestartBetweenAcceptAndDelivery(t *testing.T) {
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close() // nothing listens there: connection refused
	e := newEnv(t, func(c *config.Config) { c.Relay.Address = deadAddr })
	if err := e.send("marie@example.org", []string{"4405.nantes-sud@hub.example"}, crlf(groupMessage)); err != nil {
		t.Fatal(err)
	}
	e.waitState(map[string]int{"queued": 2})
	e.stop()

	e.cfg.Relay.Address = e.box.Addr()
	e.clock.advance(2 * time.Minute) // past the first retry
	e.start()
	mails := e.wait(2)
	e.waitState(map[string]int{"sent": 2, "queued": 0})
	e.clock.advance(time.Hour)
	e.h.Queue.Kick()
	e.h.disp.kick()
	if got := len(e.box.Mails()); got != 2 || mails[0].To == mails[1].To {
		t.Fatalf("%d copies after restart: %v", got, mails)
	}
}

func TestRelayTemporaryFailureThenSuccess(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	refusals := 0
	e.box.Rcpt = func(from, to string) error {
		mu.Lock()
		defer mu.Unlock()
		if to == "karim@exemple.fr" && refusals == 0 {
			refusals++
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "greylisted, come back later"}
		}
		return nil
	}
	if err := e.send("marie@example.org", []string{"4405.nantes-sud@hub.example"}, crlf(groupMessage)); err != nil {
		t.Fatal(err)
	}
	e.waitState(map[string]int{"sent": 1, "queued": 1})
	// The refusal may be recorded a moment after the other copy is sent.
	var ds []queue.Delivery
	for deadline := time.Now().Add(5 * time.Second); ; {
		ds, _ = queue.List(context.Background(), e.h.DB, "queued", 10)
		if len(ds) != 1 || ds[0].Attempts > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(ds) != 1 || ds[0].Rcpt != "karim@exemple.fr" || ds[0].LastReply != "451 4.7.1 greylisted, come back later" || ds[0].Attempts != 1 {
		t.Fatalf("deferred delivery: %+v", ds)
	}
	// Saved before dialing: the next attempt is about retry_min away (±10 %).
	if wait := ds[0].NextAttempt.Sub(e.clock.now()); wait < 53*time.Second || wait > 67*time.Second {
		t.Fatalf("next attempt in %s, want about 1m", wait)
	}
	// Nothing happens before that time, even when woken.
	e.h.Queue.Kick()
	e.clock.advance(30 * time.Second)
	e.h.Queue.Kick()
	if got := e.waitState(map[string]int{"queued": 1}); got["sent"] != 1 {
		t.Fatalf("retried too early: %v", got)
	}
	e.clock.advance(time.Minute)
	e.h.Queue.Kick()
	e.waitState(map[string]int{"sent": 2, "queued": 0})
	mails := e.box.Mails()
	count := map[string]int{}
	for _, m := range mails {
		count[m.To]++
	}
	if len(mails) != 2 || count["karim@exemple.fr"] != 1 || count["camille@exemple.fr"] != 1 {
		t.Fatalf("copies: %v", count)
	}
	d, _ := queue.List(context.Background(), e.h.DB, "sent", 10)
	for _, x := range d {
		if x.Rcpt == "karim@exemple.fr" && x.Attempts != 2 {
			t.Errorf("karim: %d attempts", x.Attempts)
		}
	}
}

func TestRelayPermanentFailureRecorded(t *testing.T) {
	e := newEnv(t)
	e.addGroup("2A01.ajaccio", "Ajaccio", "ghjuvan@exemple.fr")
	e.box.Rcpt = func(from, to string) error {
		if to == "ghjuvan@exemple.fr" {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<ghjuvan@exemple.fr>: Recipient address rejected: User unknown"}
		}
		return nil
	}
	if err := e.send("marie@example.org", []string{"2a01.ajaccio@hub.example"}, crlf(strings.Replace(groupMessage, "4405.nantes-sud", "2a01.ajaccio", 1))); err != nil {
		t.Fatal(err)
	}
	e.waitState(map[string]int{"failed": 1})
	ds, _ := queue.List(context.Background(), e.h.DB, "failed", 10)
	if len(ds) != 1 || ds[0].Rcpt != "ghjuvan@exemple.fr" || ds[0].Attempts != 1 ||
		ds[0].LastReply != "550 5.1.1 <ghjuvan@exemple.fr>: Recipient address rejected: User unknown" {
		t.Fatalf("failed delivery: %+v", ds)
	}
	// Nobody got the message: its writer is told, from the null sender, in
	// French, without the animator's private address.
	mails := e.wait(1)
	n := mails[0]
	h := n.Header()
	if n.From != "" || n.To != "marie@example.org" || h.Get("Auto-Submitted") != "auto-replied" ||
		h.Get("In-Reply-To") != "<reunion-1@example.org>" || h.Get("Content-Language") != "fr" {
		t.Fatalf("notice envelope/header: from %q to %q %v", n.From, n.To, h)
	}
	body := decodeQP(t, n)
	for _, want := range []string{"2a01.ajaccio@hub.example", "Réunion de quartier", "(code 550 5.1.1)", "n'a pu être remis"} {
		if !strings.Contains(body, want) {
			t.Errorf("notice lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(string(n.Data), "ghjuvan") {
		t.Errorf("notice leaks the animator's address:\n%s", n.Data)
	}
	// The notice itself is delivered once and nothing else is sent.
	e.waitState(map[string]int{"failed": 1, "sent": 1})
	if len(e.box.Mails()) != 1 {
		t.Fatalf("%d messages sent", len(e.box.Mails()))
	}
}

type configT = config.Config

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
