// Package queue is in charge of the one outbound queue: every message the
// hub sends, whatever produced it, is stored here, signed (DKIM, package
// dkim), delivered through the configured relay (smarthost) over a few
// persistent connections with PIPELINING (RFC 2920, client.go), retried
// with backoff, and its outcome recorded per recipient.
//
// # Life of a delivery
//
// Enqueue writes an outbound message (a body held in the messages table, and
// header fields prepended for this delivery) and one delivery row per
// recipient, inside the caller's transaction: a message and the mail that
// results from it are committed together, or not at all.
//
// A new delivery is attempted at once; the time of its second attempt is
// saved when it is queued. Later, the scheduler picks due deliveries and,
// before anything is dialed, saves each one's next attempt time (claim).
// A worker (one connection to the relay) makes the recipient's copy
// (personalized by its producer, then signed) and sends it in its own SMTP
// transaction, with MAIL FROM the delivery's VERP address
// bounces+ID-MAC@domain (RFC 5321 §4.5.5 null sender for failure notices),
// and records the reply:
//   - 2xx: sent, with the relay's reply (its queue id);
//   - 4xx or a network error: deferred until the saved time; after
//     give_up_after since queueing, failed;
//   - 5xx: failed, with the relay's reply.
//
// With a relay that offers PIPELINING, a copy's MAIL, RCPT and DATA go in
// one write, and its content with the next copy's commands: the replies
// are read in order and each is the outcome of its own delivery only. A
// delivery counts as sent when the relay said 250 after its content, and
// only then; a connection lost before that leaves it deferred, sent again
// at its next attempt. A crash between the relay's 250 and the record of it
// is the one case where a recipient can get a message twice; in normal
// operation (restarts and lost connections included) each delivery is sent
// once.
//
// Making and signing copies is the CPU-heavy part: at most one copy per Go
// processor (GOMAXPROCS), or the cores and one when libcrypto signs
// (dkim.Signers), is being made at once, whatever the number of workers,
// so that intake keeps its share of the machine.
//
// # Retry schedule
//
// After the n-th failed attempt the next one waits retry_min·2^(n-1), at
// most retry_max, ±10 % jitter so deliveries deferred together do not retry
// together. With the defaults: 1m, 2m, 4m, 8m, 16m, 32m, 1h04, 2h08, then
// every 4h, until 5 days after queueing.
package queue

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"database/sql"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"codeberg.org/relais/relais/dkim"
	"codeberg.org/relais/relais/internal/keymac"
	"codeberg.org/relais/relais/store"
)

// Config is what the queue needs to know.
type Config struct {
	Relay       Relay
	Workers     int
	RetryMin    time.Duration
	RetryMax    time.Duration
	GiveUpAfter time.Duration
	// Lease is how long a claim on a shared database (PostgreSQL) keeps
	// a delivery this node's: see lease. Default 5 minutes.
	Lease time.Duration
	// Domain of the VERP return path bounces+TOKEN@Domain.
	Domain string

	// Now is the clock; tests replace it. Default time.Now.
	Now func() time.Time
	// Signer makes the hub's DKIM signatures of a copy about to be sent
	// (a *dkim.Signer); nil sends unsigned.
	Signer Signer
	// Observer is told of each outcome, for metrics; nil: nobody.
	Observer Observer
	// IntakeFirst is the longest copies wait, in a row, while intake is
	// busy (see Accepted); 0: they never wait.
	IntakeFirst time.Duration
}

// Signer makes the DKIM-Signature fields of a message given the hash of
// its body (package dkim), which the queue computes once for what the
// copies of a message share.
type Signer interface {
	Signatures(msg []byte, body *dkim.BodyHash) ([]byte, error)
}

// Observer is told what the queue does, as it happens (package metrics
// counts it). Its methods must not block.
type Observer interface {
	// Delivered: one attempt's outcome was recorded: sent, deferred or
	// failed; kind is the message's (forward, list, …).
	Delivered(kind, outcome string)
	// Bounced: a bounce was recorded for a delivery, with its action
	// (failed, delayed, auto-reply, unknown…).
	Bounced(action string)
	// Signed: DKIM signing of one copy took d.
	Signed(d time.Duration)
}

type nopObserver struct{}

func (nopObserver) Delivered(string, string) {}
func (nopObserver) Bounced(string)           {}
func (nopObserver) Signed(time.Duration)     {}

// Relay is the smarthost.
type Relay struct {
	Address       string // host:port
	StartTLS      string // opportunistic, required, off
	TLSSkipVerify bool
	Username      string
	Password      string
	Timeout       time.Duration
	Helo          string // name sent in EHLO
	// Dial opens the connection; tests and the demo may replace it.
	// Default: a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Message is something to send.
type Message struct {
	// MessageID is the id of the body in the messages table.
	MessageID string
	// Prefix is prepended to the body for this delivery: header fields,
	// CRLF-terminated.
	Prefix []byte
	To     []string
	// NullSender sends with MAIL FROM:<>, for notices about failed
	// deliveries (RFC 5321 §4.5.5), which must not bounce back.
	NullSender bool
	// Kind says what produced it (forward, notice), for operators.
	Kind string
	// InboundID is the inbound recipient row this message serves, if any.
	InboundID int64
	// Ref is the producer's own reference, given back to its Personalizer
	// and in Failure and Delivery (a list post's id).
	Ref string
}

// Copy is one recipient's copy of an outbound message, before its
// producer personalizes it.
type Copy struct {
	DeliveryID int64
	OutboundID int64 // the message queued: its recipients share it
	Rcpt       string
	Kind, Ref  string
	Data       []byte // the stored prefix and body; not to be modified
}

// Personalizer makes the copy one recipient gets (a list post with the
// member's own unsubscribe link). It runs in the worker, at send time, so
// a message to ten thousand members is stored once. An error wrapping
// ErrDrop fails the delivery for good; any other defers it.
type Personalizer func(ctx context.Context, c Copy) ([]byte, error)

// ErrDrop tells the queue a copy must not be sent at all (its recipient
// left the list since it was queued).
var ErrDrop = errors.New("queue: copy dropped")

// BounceHandler is told of every bounce recorded, permanent or not, in the
// transaction that records it.
type BounceHandler func(tx *store.Tx, d Delivery, b Bounce) error

// Failure tells a FailureHandler that a delivery failed for good.
type Failure struct {
	DeliveryID int64
	OutboundID int64
	MessageID  string
	Kind       string
	Ref        string
	InboundID  int64 // 0 if none
	Rcpt       string
	Reply      string
	// AllFailed is true when this was the last recipient of the outbound
	// message still open: nobody will get it.
	AllFailed bool
}

// FailureHandler runs in the transaction that records the failure, so that
// what it writes (a notice to the sender) is committed with it.
type FailureHandler func(tx *store.Tx, f Failure) error

// Queue is the outbound queue.
type Queue struct {
	db     *store.DB
	cfg    Config
	log    *slog.Logger
	secret []byte
	macs   keymac.Pool // HMAC-SHA256 under secret (token)

	kick chan struct{}
	// handedWake tells the scheduler of deliveries handed over at
	// enqueue, and the Kick their caller makes after the commit
	// claims nothing, unless something was queued without being handed
	// over since the last claim (owed). Any other Kick claims.
	handedWake    chan struct{}
	owed          atomic.Bool
	absorb        atomic.Int64 // hand-overs whose caller's Kick is still to come
	onFailure     FailureHandler
	onBounce      BounceHandler
	personalizers map[string]Personalizer
	outcomes      chan outcome // attempts made, to the recorder

	running atomic.Bool // Run is scheduling

	mu       sync.Mutex
	inflight map[int64]bool
	waiting  []job // handed over at enqueue, for the scheduler
	// waitingBytes is the size of the messages handed over whose
	// deliveries have not all reached a worker (in waiting, or in the
	// jobs channel); handBytes its bound (handOverBytes; tests lower it).
	waitingBytes, handBytes int
	// freshAfter is the last never-tried delivery handed out; only the
	// scheduler goroutine touches it.
	freshAfter int64

	// cpu bounds the copies being made or signed at once (makers): what
	// is left runs intake.
	cpu chan struct{}

	connMu sync.Mutex
	conns  map[*trackedConn]bool // open connections to the relay, for Abort

	intake intakeMeter // messages accepted lately (Accepted)
}

// trackedConn is a connection to the relay that Abort can cut.
type trackedConn struct {
	net.Conn
	q    *Queue
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.q.connMu.Lock()
		delete(c.q.conns, c)
		c.q.connMu.Unlock()
	})
	return c.Conn.Close()
}

func (q *Queue) track(c net.Conn) net.Conn {
	t := &trackedConn{Conn: c, q: q}
	q.connMu.Lock()
	q.conns[t] = true
	q.connMu.Unlock()
	return t
}

// Abort cuts every connection to the relay: attempts under way fail at
// once and are recorded as deferred. Hub.Close calls it when stopping takes
// too long, so that no attempt is left unrecorded when the process ends.
func (q *Queue) Abort() {
	q.connMu.Lock()
	conns := make([]*trackedConn, 0, len(q.conns))
	for c := range q.conns {
		conns = append(conns, c)
	}
	q.connMu.Unlock()
	for _, c := range conns {
		c.Conn.Close()
	}
}

// New returns a queue on db. Call Run to deliver.
func New(ctx context.Context, db *store.DB, cfg Config, log *slog.Logger) (*Queue, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Workers < 1 {
		cfg.Workers = 1
	}
	if cfg.Relay.Dial == nil {
		d := &net.Dialer{Timeout: 30 * time.Second}
		cfg.Relay.Dial = d.DialContext
	}
	if cfg.Relay.Timeout <= 0 {
		cfg.Relay.Timeout = 2 * time.Minute
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 5 * time.Minute
	}
	// Copies held back for intake stay claimed: held past their lease,
	// another node (PostgreSQL) would take and send them too.
	cfg.IntakeFirst = min(cfg.IntakeFirst, cfg.Lease/2)
	if cfg.Relay.Helo == "" {
		cfg.Relay.Helo = "localhost"
	}
	secret, err := db.Secret(ctx, "verp")
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	return &Queue{
		db: db, cfg: cfg, log: log, secret: secret,
		kick:       make(chan struct{}, 1),
		handedWake: make(chan struct{}, 1),
		cpu:        make(chan struct{}, makers()),
		inflight:   make(map[int64]bool),
		conns:      make(map[*trackedConn]bool),
		intake:     intakeMeter{now: time.Now},
		handBytes:  handOverBytes,
	}, nil
}

// OnFailure sets the handler told of permanent failures. Set it before Run.
func (q *Queue) OnFailure(h FailureHandler) { q.onFailure = h }

// OnBounce sets the handler told of every bounce. Set it before Run.
func (q *Queue) OnBounce(h BounceHandler) { q.onBounce = h }

// makers is how many copies are made and signed at once: one per Go
// processor, or as dkim.Processors says when libcrypto signs (it gives Go
// processors to spare for the sessions).
func makers() int {
	if n := dkim.Signers(); n > 0 {
		return n
	}
	return runtime.GOMAXPROCS(0)
}

// Personalize sets the Personalizer of messages of kind. Set it before Run.
func (q *Queue) Personalize(kind string, p Personalizer) {
	if q.personalizers == nil {
		q.personalizers = make(map[string]Personalizer)
	}
	q.personalizers[kind] = p
}

// Kick wakes the scheduler: call it after committing an Enqueue.
func (q *Queue) Kick() {
	if !q.owed.Load() && q.absorb.Add(-1) >= 0 {
		return // the kick that follows a hand-over: nothing to claim
	}
	q.absorb.Store(0)
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// Enqueue adds m to the queue inside tx. The caller commits, then Kicks.
func (q *Queue) Enqueue(tx *store.Tx, m Message) (int64, error) {
	if len(m.To) == 0 {
		return 0, errors.New("queue: message without recipients")
	}
	now := q.cfg.Now()
	// The first attempt is made at once, without a claim: the time of the
	// second is saved here, in case the first is cut off by a crash.
	next := now.Add(jitter(q.backoff(1))).Unix()
	var inbound any
	if m.InboundID != 0 {
		inbound = m.InboundID
	}
	if m.Prefix == nil {
		m.Prefix = []byte{} // NOT NULL
	}
	if q.db.Engine() == store.Postgres {
		// One statement, one round trip: a list post's ten thousand
		// deliveries too.
		var id int64
		var nothing bool
		var claimed string
		held, handOver := q.handOver(tx, m)
		var lease int64
		if handOver {
			lease = now.Add(q.cfg.Lease).Unix()
		}
		err := tx.QueryRow("outbound.enqueue", m.MessageID, m.Prefix, m.NullSender, inbound, m.Kind, m.Ref, now.Unix(), m.To, next, lease).Scan(&id, &nothing, &claimed)
		if err != nil || !handOver {
			q.owe(tx)
			return id, err
		}
		js := make([]job, 0, len(m.To))
		for _, line := range strings.Split(claimed, "\n") {
			sid, rcpt, ok := strings.Cut(line, " ")
			did, err := strconv.ParseInt(sid, 10, 64)
			if !ok || err != nil {
				return 0, fmt.Errorf("queue: enqueue: bad claimed delivery %q", line)
			}
			js = append(js, job{id: did, rcpt: rcpt})
		}
		q.handOverAtCommit(tx, id, m, held, now, js)
		return id, nil
	}
	held, handOver := q.handOver(tx, m)
	res, err := tx.Exec("outbound.insert", m.MessageID, m.Prefix, m.NullSender, inbound, m.Kind, m.Ref, now.Unix())
	if err != nil {
		return 0, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, err
	}
	js, err := insertDeliveries(tx, id, m.To, next, now.Unix())
	if err != nil {
		return 0, err
	}
	if !handOver {
		q.owe(tx)
		return id, nil
	}
	q.handOverAtCommit(tx, id, m, held, now, js)
	return id, nil
}

// insertDeliveries queues a delivery to each of to, of outbound message
// id, in one statement (SQLite), and returns them in the order of their
// ids. An address that JSON cannot carry as it is (not UTF-8) makes it
// insert them one by one.
func insertDeliveries(tx *store.Tx, id int64, to []string, next, now int64) ([]job, error) {
	js := make([]job, 0, len(to))
	all := len(to) > 1
	for _, rcpt := range to {
		all = all && utf8.ValidString(rcpt)
	}
	if !all {
		for _, rcpt := range to {
			res, err := tx.Exec("delivery.insert", id, rcpt, next, now, now)
			if err != nil {
				return nil, err
			}
			did, err := res.LastInsertId()
			if err != nil {
				return nil, err
			}
			js = append(js, job{id: did, rcpt: rcpt})
		}
		return js, nil
	}
	list, err := json.Marshal(to)
	if err != nil {
		return nil, err
	}
	rows, err := tx.Query("delivery.insert-all", id, next, now, now, string(list))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var j job
		if err := rows.Scan(&j.id, &j.rcpt); err != nil {
			return nil, err
		}
		js = append(js, j)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(js) != len(to) {
		return nil, fmt.Errorf("queue: %d deliveries queued for %d recipients", len(js), len(to))
	}
	// RETURNING gives its rows in no set order.
	slices.SortFunc(js, func(a, b job) int { return cmp.Compare(a.id, b.id) })
	return js, nil
}

// owe says, once tx commits, that deliveries were queued without being
// handed over: the Kick that follows claims. (Said before the commit, a
// claim made meanwhile would clear it without seeing them.)
func (q *Queue) owe(tx *store.Tx) {
	tx.AfterCommit(func() { q.owed.Store(true) })
}

// handOverAtCommit gives js, the deliveries of outbound message id just
// queued in tx, to this node's workers once tx commits, with the message
// held in memory: the first attempt needs no claim and no read.
func (q *Queue) handOverAtCommit(tx *store.Tx, id int64, m Message, held store.Received, now time.Time, js []job) {
	b := &body{outboundID: id, messageID: m.MessageID, kind: m.Kind, ref: m.Ref, nullSender: m.NullSender,
		utf8: held.SMTPUTF8, eight: held.Body8Bit}
	// A copy: the spool's buffer is not ours once the transaction ends.
	b.data = append(append(make([]byte, 0, len(m.Prefix)+len(held.Body)), m.Prefix...), held.Body...)
	b.bodyAt = dkim.BodyStart(b.data)
	created := time.Unix(now.Unix(), 0)
	for i := range js {
		js[i].outboundID, js[i].attempt, js[i].created, js[i].pre = id, 1, created, b
	}
	tx.AfterCommit(func() { q.handed(js) })
}

// handOverMax is the most deliveries of one message that Enqueue hands
// to this node's own workers: more, a list post's, are claimed by
// batches as they go, so that none waits in memory for long (under a
// lease, on PostgreSQL). handOverQueue bounds those handed over and not
// yet given to a worker, and handOverBytes the messages they hold: while
// intake comes first they wait up to queue.intake_first, and 1,024 large
// messages would otherwise be gigabytes in memory.
const (
	handOverMax   = 64
	handOverQueue = 2 * scanLimit
	handOverBytes = 64 << 20
)

// handOver says whether the deliveries of m, queued in tx, go straight to
// this node's workers at the commit, with the message tx holds (a node
// that delivers, a message accepted in tx): no claim, no read of the
// body. On PostgreSQL the statement that writes them claims them, and a
// node that dies leaves them to the others once the lease runs out, as
// any claim; on SQLite, a hub that stops before sending them finds them
// never tried at its next start, as any delivery not yet claimed.
func (q *Queue) handOver(tx *store.Tx, m Message) (store.Received, bool) {
	if !q.running.Load() || len(m.To) > handOverMax {
		return store.Received{}, false
	}
	held, ok := tx.Held(m.MessageID)
	if !ok {
		return held, false
	}
	q.mu.Lock()
	full := len(q.waiting) >= handOverQueue || q.waitingBytes+len(held.Body) > q.handBytes
	q.mu.Unlock()
	return held, !full
}

// handed takes deliveries claimed at their enqueue (handOver), once
// committed: in flight from now on, they go to the workers before any
// claim.
func (q *Queue) handed(js []job) {
	if !q.running.Load() {
		// Stopped since they were queued: the claims are given back for
		// the other nodes and the next start (not on the writer that
		// runs this, which must not wait for another write).
		go q.unlease(js)
		return
	}
	q.mu.Lock()
	var h *heldBytes // one message for all of js
	for _, j := range js {
		// On SQLite a claim made between the commit and now may have
		// taken it already (PostgreSQL's claims skip it: it is leased).
		if q.inflight[j.id] {
			continue
		}
		if h == nil {
			h = &heldBytes{n: len(j.pre.data)}
			q.waitingBytes += h.n
		}
		h.left.Add(1)
		j.held = h
		q.inflight[j.id] = true
		q.waiting = append(q.waiting, j)
	}
	q.mu.Unlock()
	if q.absorb.Add(1) > handOverQueue {
		q.absorb.Store(handOverQueue)
	}
	select {
	case q.handedWake <- struct{}{}:
	default:
	}
}

// takeHanded returns the deliveries handed over and not yet given to a
// worker. Those that waited past half their lease are let go instead:
// the claims take them once the lease runs out.
func (q *Queue) takeHanded() []job {
	q.mu.Lock()
	js := q.waiting
	q.waiting = nil
	q.mu.Unlock()
	if len(js) == 0 {
		return nil
	}
	now := q.cfg.Now()
	kept := js[:0]
	var old []job
	for _, j := range js {
		if now.Sub(j.created) > q.cfg.Lease/2 {
			old = append(old, j)
			continue
		}
		kept = append(kept, j)
	}
	if len(old) > 0 {
		q.letGo(old...)
		q.release(old)
		q.owed.Store(true) // SQLite: the next claim takes them
	}
	return kept
}

// heldBytes is a message handed over with its deliveries (handed): it
// counts in waitingBytes until the last of them reaches a worker, or is
// given back.
type heldBytes struct {
	n    int
	left atomic.Int32
}

// letGo says that js, handed over, reached a worker or were given back.
func (q *Queue) letGo(js ...job) {
	for _, j := range js {
		if j.held != nil && j.held.left.Add(-1) == 0 {
			q.mu.Lock()
			q.waitingBytes -= j.held.n
			q.mu.Unlock()
		}
	}
}

// ReturnPath is the VERP envelope sender of delivery id:
// bounces+ID-MAC@domain, where MAC is 40 bits of HMAC-SHA256 under the
// hub's secret, so bounces cannot be forged for deliveries one never saw.
func (q *Queue) ReturnPath(id int64) string {
	return "bounces+" + q.token(id) + "@" + q.cfg.Domain
}

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// token is ID-MAC, MAC the HMAC of "verp:ID" (one for every copy sent).
func (q *Queue) token(id int64) string {
	var buf [64]byte
	b := strconv.AppendInt(append(buf[:0], "verp:"...), id, 10)
	sum := q.macs.Sum(q.secret, b)
	b = append(b[len("verp:"):], '-')
	return string(b32.AppendEncode(b, sum[:5]))
}

// ParseToken returns the delivery id a VERP token names, if its MAC holds.
// Tokens are compared in lower case: some systems fold local parts.
func (q *Queue) ParseToken(tok string) (int64, bool) {
	tok = strings.ToLower(tok)
	s, _, ok := strings.Cut(tok, "-")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, false
	}
	return id, hmac.Equal([]byte(q.token(id)), []byte(tok))
}

// backoff is the wait after the n-th failed attempt (n >= 1), before jitter.
func (q *Queue) backoff(n int) time.Duration {
	d := q.cfg.RetryMin
	for i := 1; i < n && d < q.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, q.cfg.RetryMax)
}

func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.2-0.1)*float64(d))
}

// job is one delivery handed to a worker.
type job struct {
	id, outboundID int64
	rcpt           string
	attempt        int
	created        time.Time
	pre            *body      // the message, when Enqueue handed the job over
	held           *heldBytes // its weight until a worker takes it (handed)
}

// Run delivers until ctx ends, then waits for attempts under way to be
// recorded.
func (q *Queue) Run(ctx context.Context) error {
	q.running.Store(true)
	defer q.running.Store(false)
	// The scheduler claims the next batch while the workers send the last
	// one (on PostgreSQL a claim is a write that waits for its commit; on
	// SQLite two reads of 512 rows, 2-4 ms, which the workers' copies in
	// hand did not cover: 2 % of a fan-out's cores idle).
	jobs := make(chan job, scanLimit)
	q.outcomes = make(chan outcome, 1024)
	recorded := make(chan struct{})
	go func() {
		defer close(recorded)
		q.recorder(q.outcomes)
	}()
	var wg sync.WaitGroup
	for i := 0; i < q.cfg.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q.worker(ctx, jobs)
		}()
	}
	err := q.schedule(ctx, jobs)
	// Claimed and not taken by a worker: given back.
	left := q.takeHanded()
	for len(jobs) > 0 {
		select {
		case j := <-jobs:
			left = append(left, j)
		default:
		}
	}
	q.letGo(left...)
	q.release(left)
	q.unlease(left)
	close(jobs)
	wg.Wait()
	close(q.outcomes)
	<-recorded
	return err
}

const scanLimit = 512

// claimGap is the least time between two claims that were not full, on
// PostgreSQL.
const claimGap = 5 * time.Millisecond

// rescan is the longest the scheduler sleeps.
const rescan = 10 * time.Second

// Running reports whether Run is delivering (the hub's /readyz).
func (q *Queue) Running() bool { return q.running.Load() }

func (q *Queue) schedule(ctx context.Context, jobs chan<- job) error {
	notified := q.db.Listen(NotifyChannel) // nil on SQLite: never
	shared := q.db.Engine() == store.Postgres
	claim := true
	var wakeAt time.Time // the end of the last wait planned (after a claim)
	for {
		{
			// Handed over at enqueue: claimed already.
			hs := q.takeHanded()
			for i, j := range hs {
				if !q.waitForIntake(ctx) {
					q.letGo(hs[i:]...)
					q.release(hs[i:])
					q.unlease(hs[i:])
					return nil
				}
				select {
				case jobs <- j:
				case <-ctx.Done():
					q.letGo(hs[i:]...)
					q.release(hs[i:])
					q.unlease(hs[i:])
					return nil
				}
			}
		}
		var due []job
		var err error
		claimed := claim || q.owed.Load()
		if claimed {
			q.owed.Store(false)
			due, err = q.claimDue(ctx)
		}
		claim = true
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			q.log.Error("queue scan failed", "err", err)
		}
		for i, j := range due {
			if ctx.Err() != nil || !q.waitForIntake(ctx) {
				q.release(due[i:])
				q.unlease(due[i:])
				return nil
			}
			select {
			case jobs <- j:
			case <-ctx.Done():
				q.release(due[i:]) // not handed out: free for the next start
				q.unlease(due[i:]) // and for the other nodes
				return nil
			}
		}
		if len(due) > 0 && (!shared || len(due) == scanLimit) {
			continue // there may be more
		}
		if shared && len(due) > 0 {
			// A claim is a write: under a stream of messages, one every
			// claimGap gathers many deliveries instead of one each.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(claimGap):
			}
			continue
		}
		// Looked at again at least every rescan: what another process
		// changed (relais outbox retry|release, a list post approved from
		// the command line) goes out without waiting for a kick.
		var wait time.Duration
		if claimed {
			wait = rescan
			if next, ok := q.nextDue(ctx); ok {
				wait = max(next.Sub(q.cfg.Now()), 50*time.Millisecond)
				wait = min(wait, rescan)
			}
			wakeAt = time.Now().Add(wait)
		} else if wait = time.Until(wakeAt); wait <= 0 {
			continue // the wait planned before the handed-over work is over
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-q.kick:
		case <-q.handedWake:
			claim = false // nothing new but what was handed over
		case <-notified:
		case <-t.C:
		}
		t.Stop()
	}
}

// NotifyChannel is the channel Enqueue notifies on a database that several
// nodes share: their schedulers wake (LISTEN/NOTIFY) instead of waiting
// for their next rescan.
const NotifyChannel = "relais_queue"

func (q *Queue) release(js []job) {
	q.mu.Lock()
	for _, j := range js {
		delete(q.inflight, j.id)
	}
	q.mu.Unlock()
}

// unlease ends the leases of claims never attempted (the node is
// stopping): the other nodes, or this one's next start, take them at once
// instead of when the lease runs out. Only PostgreSQL has leases.
func (q *Queue) unlease(js []job) {
	if q.db.Engine() != store.Postgres || len(js) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := q.db.Write(ctx, func(tx *store.Tx) error {
		for _, j := range js {
			if _, err := tx.Exec("delivery.unlease", j.id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		q.log.Warn("queue: claims not given back; they run out with their lease", "err", err, "deliveries", len(js))
	}
}

func (q *Queue) nextDue(ctx context.Context) (time.Time, bool) {
	var next sql.NullInt64
	if err := q.db.QueryRow(ctx, "delivery.next-due").Scan(&next); err != nil || !next.Valid {
		return time.Time{}, false
	}
	return time.Unix(next.Int64, 0), true
}

// claimDue returns the deliveries to attempt now that are not already in a
// worker's hands: first those never tried (their next attempt time was
// saved when they were queued), then those due again, whose next attempt
// time it saves before they are handed out.
func (q *Queue) claimDue(ctx context.Context) ([]job, error) {
	if q.db.Engine() == store.Postgres {
		return q.lease(ctx)
	}
	now := q.cfg.Now()
	fresh, err := q.pickFresh(ctx)
	if err != nil {
		return nil, err
	}
	due, _, _, err := q.pick(ctx, "delivery.due", now.Unix(), scanLimit)
	if err != nil || len(due) == 0 {
		if err != nil {
			q.release(fresh)
			return nil, err
		}
		return fresh, nil
	}
	err = q.db.Write(ctx, func(tx *store.Tx) error {
		for _, j := range due {
			next := now.Add(jitter(q.backoff(j.attempt))).Unix()
			if _, err := tx.Exec("delivery.claim", next, now.Unix(), j.id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		q.release(append(fresh, due...))
		return nil, err
	}
	return append(fresh, due...), nil
}

// lease claims what is due on a database that several nodes share
// (delivery.lease: FOR UPDATE SKIP LOCKED, and a lease of cfg.Lease):
// every delivery is claimed before it is sent, fresh ones too, so that two
// nodes never send the same one; the next attempt time is saved with the
// claim, as on SQLite. Recording the attempt ends the lease; a claim a
// dead node left runs out and another node takes it.
func (q *Queue) lease(ctx context.Context) ([]job, error) {
	now := q.cfg.Now()
	secs := func(d time.Duration) int64 { return max(int64(d/time.Second), 1) }
	var out []job
	// One statement, its own transaction: committed before the rows come.
	// Not cut by ctx: a claim committed whose rows never reached us would
	// hold its deliveries until the lease runs out.
	rows, err := q.db.QueryWrite(context.WithoutCancel(ctx), "delivery.lease", now.Unix(), secs(q.cfg.RetryMin), secs(q.cfg.RetryMax), now.Unix(), scanLimit, secs(q.cfg.Lease))
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var j job
		var created int64
		if err := rows.Scan(&j.id, &j.outboundID, &j.rcpt, &j.attempt, &created); err != nil {
			rows.Close()
			return nil, err
		}
		j.attempt++ // the attempt about to be made
		j.created = time.Unix(created, 0)
		out = append(out, j)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	kept := out[:0]
	for _, j := range out {
		if q.inflight[j.id] { // still in this node's hands past its lease
			continue
		}
		q.inflight[j.id] = true
		kept = append(kept, j)
	}
	return kept, nil
}

// pickFresh returns never-tried deliveries not in flight, reading on from
// the last one handed out, past rows still in the workers' hands, and
// once more from the start when it reaches the end.
func (q *Queue) pickFresh(ctx context.Context) ([]job, error) {
	after, wrapped := q.freshAfter, q.freshAfter == 0
	for {
		js, scanned, last, err := q.pick(ctx, "delivery.fresh", after, scanLimit)
		switch {
		case err != nil:
			return nil, err
		case len(js) > 0:
			q.freshAfter = js[len(js)-1].id
			return js, nil
		case scanned == scanLimit:
			after = last // all in flight: read on
		case !wrapped:
			after, wrapped = 0, true
		default:
			q.freshAfter = 0
			return nil, nil
		}
	}
}

// pick runs a scheduler query and marks what it returns as in flight. It
// also says how many rows it read and the id of the last.
//
// The lock is taken before the query starts, so its snapshot is at least as
// recent as every release: a delivery whose outcome was committed and which
// was released since the last pick is seen in its new state, never picked
// again as still queued.
func (q *Queue) pick(ctx context.Context, query string, args ...any) (out []job, scanned int, last int64, err error) {
	q.mu.Lock()
	rows, err := q.db.Query(ctx, query, args...)
	if err != nil {
		q.mu.Unlock()
		return nil, 0, 0, err
	}
	for rows.Next() {
		var j job
		var created int64
		if err := rows.Scan(&j.id, &j.outboundID, &j.rcpt, &j.attempt, &created); err != nil {
			q.mu.Unlock()
			rows.Close()
			q.release(out)
			return nil, 0, 0, err
		}
		scanned++
		last = j.id
		if q.inflight[j.id] {
			continue
		}
		j.attempt++ // the attempt about to be made
		j.created = time.Unix(created, 0)
		q.inflight[j.id] = true
		out = append(out, j)
	}
	q.mu.Unlock()
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		q.release(out)
		return nil, 0, 0, err
	}
	return out, scanned, last, nil
}

// Needs says what a message needs from the relay: SMTPUTF8 (RFC 6531) for
// 8-bit bytes in its header, BODY=8BITMIME (RFC 6152) for 8-bit bytes
// anywhere. Bytes of a message attached whole (message/rfc822) count as
// header or body of the whole.
func Needs(msg []byte) (smtputf8, eight bool) {
	end := bytes.Index(msg, []byte("\r\n\r\n"))
	if end < 0 {
		end = len(msg)
	}
	for i, c := range msg {
		if c >= 0x80 {
			if i < end {
				return true, true
			}
			eight = true
		}
	}
	return false, eight
}
