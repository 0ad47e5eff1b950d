package queue

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-smtp"

	"codeberg.org/relais/relais/dkim"
	"codeberg.org/relais/relais/store"
)

// idleClose is how long a worker keeps an unused connection to the relay.
const idleClose = 10 * time.Second

// result is the outcome of one attempt, sorted at the source.
type result struct {
	reply     string // what the relay said, or what went wrong
	permanent bool   // 5xx: do not retry
	sent      bool
	network   bool // the connection is unusable
}

// worker is one connection to the relay and the copies sent over it, one
// after the other. A copy's content is followed, in the same write, by the
// next copy's MAIL, RCPT and DATA when one is ready (RFC 2920 §3.1: the
// content may start a group), so that its final reply is read with theirs.
type worker struct {
	q     *Queue
	c     *client // nil when not connected
	cache body
	// pending is the copy whose content is written and whose final reply
	// is not read yet (only with a pipelining relay).
	pending *outcome
}

func (q *Queue) worker(ctx context.Context, jobs <-chan job) {
	w := &worker{q: q}
	defer w.close()
	idle := time.NewTimer(idleClose)
	defer idle.Stop()
	// Stopping lets an attempt under way finish (Abort cuts it if that
	// takes too long): it must not fail, and count as an attempt, only
	// because the hub is stopping.
	actx := context.WithoutCancel(ctx)
	for {
		var j job
		var ok bool
		if w.pending != nil {
			// A copy waits for its final reply: send it on its way with
			// the next one if there is one, else now.
			select {
			case j, ok = <-jobs:
			default:
				w.finish()
				continue
			}
		} else {
			select {
			case j, ok = <-jobs:
			case <-idle.C:
				if w.c != nil {
					w.c.quit()
					w.c = nil
				}
				continue
			}
		}
		if !ok {
			return
		}
		q.letGo(j)
		w.attempt(actx, j)
		idle.Reset(idleClose)
	}
}

// close finishes the copy under way and says goodbye to the relay.
func (w *worker) close() {
	w.finish()
	if w.c != nil {
		w.c.quit()
		w.c = nil
	}
}

// drop closes a connection that can no longer be trusted.
func (w *worker) drop() {
	if w.c != nil {
		w.c.conn.Close()
		w.c = nil
	}
}

// finish sends what is written and reads the final reply of the pending
// copy, if any, and records it.
func (w *worker) finish() {
	p := w.pending
	if p == nil {
		return
	}
	w.pending = nil
	if err := w.c.flush(); err != nil {
		p.res = classify(err)
	} else {
		p.res = w.c.final()
	}
	if p.res.network {
		w.drop()
	}
	w.q.outcomes <- *p
}

// body caches the last message a worker sent: the recipients of one message
// usually come one after the other.
type body struct {
	outboundID int64
	messageID  string
	kind, ref  string
	data       []byte
	bodyAt     int // where the body of data starts
	nullSender bool
	utf8       bool
	eight      bool
	// sigs are data's own signatures, made once for every recipient of a
	// message that is not personalized.
	sigs []byte
	// shared is the body hash of the first sharedN bytes of data's body,
	// which the personalized copies share (a list post's text before the
	// member's footer): hashed once for all of them.
	shared  *dkim.BodyHash
	sharedN int
}

func (q *Queue) load(ctx context.Context, outboundID int64, b *body) error {
	if b.outboundID == outboundID && b.data != nil {
		return nil
	}
	// Read into locals: the cache changes only once everything is read.
	var msgID string
	var prefix []byte
	var nullSender, utf8, eight bool
	var kind, ref string
	var raw []byte
	if q.db.Engine() == store.Postgres {
		// One round trip for the outbound message and its body.
		err := q.db.QueryRow(ctx, "delivery.job-body", outboundID).Scan(new(int64), &msgID, &prefix, &nullSender, &utf8, &eight, &kind, &ref, &raw)
		if err != nil {
			return fmt.Errorf("load outbound %d: %w", outboundID, err)
		}
	} else {
		err := q.db.QueryRow(ctx, "delivery.job", outboundID).Scan(new(int64), &msgID, &prefix, &nullSender, &utf8, &eight, &kind, &ref)
		if err != nil {
			return fmt.Errorf("load outbound %d: %w", outboundID, err)
		}
		if err := q.db.QueryRow(ctx, "message.body", msgID).Scan(&raw); err != nil {
			return fmt.Errorf("load body %s: %w", msgID, err)
		}
	}
	data := append(prefix[:len(prefix):len(prefix)], raw...)
	*b = body{outboundID: outboundID, messageID: msgID, kind: kind, ref: ref, data: data, bodyAt: dkim.BodyStart(data),
		nullSender: nullSender, utf8: utf8, eight: eight}
	return nil
}

// attempt makes one delivery attempt. Its outcome is recorded at once,
// or, when its content is written to a pipelining relay, once the relay
// answers (finish).
func (w *worker) attempt(ctx context.Context, j job) {
	q := w.q
	o := outcome{j: j}
	report := func(res result) {
		o.res = res
		q.outcomes <- o
	}
	if j.pre != nil && w.cache.outboundID != j.outboundID {
		w.cache = *j.pre // handed over with the message (Enqueue)
	}
	if err := q.load(ctx, j.outboundID, &w.cache); err != nil {
		report(result{reply: "internal error: " + err.Error()})
		return
	}
	cache := &w.cache
	o.qid, o.loaded = cache.messageID, true
	from := q.ReturnPath(j.id)
	if cache.nullSender {
		from = ""
	}
	// The recipient's own copy first: a dropped one needs no relay. Making
	// and signing copies is bounded to the cores (cpu), so that a large
	// fan-out leaves intake its share.
	data, own := cache.data, false
	if p := q.personalizers[cache.kind]; p != nil {
		q.cpu <- struct{}{}
		d, err := p(ctx, Copy{DeliveryID: j.id, OutboundID: j.outboundID, Rcpt: j.rcpt, Kind: cache.kind, Ref: cache.ref, Data: cache.data})
		<-q.cpu
		if err != nil {
			report(result{reply: "personalize: " + err.Error(), permanent: errors.Is(err, ErrDrop)})
			return
		}
		data, own = d, true
	}
	if w.c == nil {
		w.finish()
		c, err := q.dial(ctx)
		if err != nil {
			// Whatever the relay said before MAIL (a refused login, a
			// 554 greeting) is about the relay, not this recipient:
			// the delivery waits for the next attempt.
			res := classify(err)
			res.reply, res.permanent = "relay "+q.cfg.Relay.Address+": "+res.reply, false
			report(res)
			return
		}
		w.c = c
	}
	// Signed at send time, once the relay answers, the last change to the
	// copy: once per stored message, or per personalized copy.
	start := time.Now()
	sigs, err := w.sign(data, own)
	if q.cfg.Signer != nil {
		q.cfg.Observer.Signed(time.Since(start))
	}
	if err != nil {
		report(result{reply: "dkim: " + err.Error()})
		return
	}
	c := w.c
	mail, err := c.mailCommand(envelope{from: from, rcpt: j.rcpt, size: len(sigs) + len(data), utf8: cache.utf8, eight: cache.eight, id: j.id})
	if err != nil {
		res := result{reply: err.Error(), permanent: errors.Is(err, errBadAddress)}
		report(res)
		return
	}
	var res result
	ok := false
	if c.pipelining {
		rset := c.writeEnvelope(mail, j.rcpt)
		err := c.flush()
		if w.pending != nil {
			// Its final reply comes before those to this copy's commands.
			p := w.pending
			w.pending = nil
			if err != nil {
				p.res = classify(err)
			} else {
				p.res = c.final()
			}
			q.outcomes <- *p
			if p.res.network && err == nil {
				err = errors.New(p.res.reply)
			}
		}
		if err != nil {
			res = classify(err)
		} else {
			res, ok = c.envelopeReplies(rset)
		}
	} else {
		res, ok = c.envelopeLockstep(mail, j.rcpt)
	}
	if !ok {
		if res.network {
			w.drop()
		}
		report(res)
		return
	}
	c.writeContent(sigs, data)
	if c.pipelining {
		w.pending = &o
		return
	}
	if err := c.flush(); err != nil {
		res = classify(err)
	} else {
		res = c.final()
	}
	if res.network {
		w.drop()
	}
	report(res)
}

// sign returns the DKIM-Signature fields of data, the copy to send (own:
// personalized, else the stored message itself).
func (w *worker) sign(data []byte, own bool) ([]byte, error) {
	q, cache := w.q, &w.cache
	if q.cfg.Signer == nil {
		return nil, nil
	}
	if !own {
		if cache.sigs == nil {
			body := dkim.NewBodyHash()
			body.Write(data[cache.bodyAt:])
			sigs, err := q.signatures(data, body)
			if err != nil {
				return nil, err
			}
			cache.sigs = sigs
		}
		return cache.sigs, nil
	}
	stored := cache.data[cache.bodyAt:]
	mine := data[dkim.BodyStart(data):]
	if cache.shared == nil {
		// What this copy's body has in common with the stored one, up to
		// a line end: the text every member gets.
		n := 0
		for n < len(stored) && n < len(mine) && stored[n] == mine[n] {
			n++
		}
		n = bytes.LastIndexByte(stored[:n], '\n') + 1
		cache.shared, cache.sharedN = dkim.NewBodyHash(), n
		cache.shared.Write(stored[:n])
	}
	var body *dkim.BodyHash
	if n := cache.sharedN; len(mine) >= n && bytes.Equal(mine[:n], stored[:n]) {
		body = cache.shared.Clone()
		body.Write(mine[n:])
	} else {
		body = dkim.NewBodyHash()
		body.Write(mine)
	}
	return q.signatures(data, body)
}

// signatures signs within the bound on CPU-heavy work.
func (q *Queue) signatures(data []byte, body *dkim.BodyHash) ([]byte, error) {
	q.cpu <- struct{}{}
	defer func() { <-q.cpu }()
	return q.cfg.Signer.Signatures(data, body)
}

// dial connects to the relay and readies the session: EHLO, STARTTLS
// (RFC 3207) when the relay offers it and relay.starttls allows it, AUTH
// (RFC 4954) when a user is configured.
func (q *Queue) dial(ctx context.Context) (*client, error) {
	r := q.cfg.Relay
	host, _, _ := net.SplitHostPort(r.Address)
	raw, err := r.Dial(ctx, "tcp", r.Address)
	if err != nil {
		return nil, err
	}
	c := newClient(q.track(raw), r.Timeout)
	fail := func(err error) (*client, error) {
		c.conn.Close()
		return nil, err
	}
	if err := c.hello(r.Helo, true); err != nil {
		return fail(err)
	}
	if _, offered := c.ext["STARTTLS"]; offered && r.StartTLS != "off" {
		tlsConfig := &tls.Config{ServerName: host, InsecureSkipVerify: r.TLSSkipVerify} //nolint:gosec // operator's choice, documented
		if err := c.startTLS(tlsConfig, r.Helo); err != nil {
			return fail(err)
		}
	}
	if r.StartTLS == "required" && !c.tls {
		return fail(errors.New("STARTTLS is required (relay.starttls) but the relay does not offer it"))
	}
	if r.Username != "" {
		if !c.tls && !isLoopback(host) {
			return fail(errors.New("refusing to send the relay password without TLS"))
		}
		if err := c.auth(r.Username, r.Password); err != nil {
			return fail(err)
		}
	}
	return c, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// classify sorts an error into temporary or permanent where it happens:
// an SMTP reply says it by its code; anything else (network, TLS, timeouts)
// is temporary and leaves the connection unusable.
func classify(err error) result {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		reply := fmt.Sprintf("%d", se.Code)
		if se.EnhancedCode != smtp.NoEnhancedCode && se.EnhancedCode != (smtp.EnhancedCode{}) {
			reply += fmt.Sprintf(" %d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
		}
		reply += " " + se.Message
		return result{reply: reply, permanent: se.Code >= 500}
	}
	return result{reply: err.Error(), network: true}
}

// outcome is an attempt made, waiting to be recorded.
type outcome struct {
	j      job
	res    result
	qid    string // the message's id, once loaded
	loaded bool
	state  string
	kind   string
}

// logAttrs are the attributes of the line that says how the attempt went,
// then more: its delivery, recipient, attempt and message, the ids of
// the style's logger per delivery (STYLE.md, habit 5). They are made only
// for a line written, where a logger made with them at each attempt cost
// as much again as the line (the pseudonymizer rewrote the recipient at
// once).
func (o *outcome) logAttrs(more ...slog.Attr) []slog.Attr {
	as := make([]slog.Attr, 0, 4+len(more))
	as = append(as, slog.Int64("dlv", o.j.id), slog.String("rcpt", o.j.rcpt), slog.Int("attempt", o.j.attempt))
	if o.loaded {
		as = append(as, slog.String("qid", o.qid))
	}
	return append(as, more...)
}

// recordLinger is how long the recorder waits for more outcomes to share a
// commit when fewer than recordEnough are waiting. On PostgreSQL each
// record of copies sent is a statement of its own with its commit (about
// 0.3 ms of the server's CPU however few it records): it waits longer for
// more, as SQLite's lazy writes wait for a commit to share (lazyDelay).
const (
	recordLinger   = 2 * time.Millisecond
	recordEnough   = 8
	recordLingerPG = 10 * time.Millisecond
	recordEnoughPG = 128
)

// recorder saves the outcomes of attempts, many per commit: recording is
// the one write per delivery, and batching it keeps the fsyncs free for
// intake. A delivery stays in flight until its outcome is committed, so it
// is never picked again meanwhile. The claim (or the queueing) already saved
// the next attempt time, so a deferred delivery needs only its reply.
func (q *Queue) recorder(in <-chan outcome) {
	batch := make([]outcome, 0, 256)
	wait, enough := recordLinger, recordEnough
	if q.db.Engine() == store.Postgres {
		wait, enough = recordLingerPG, recordEnoughPG
	}
	for o := range in {
		batch = append(batch[:0], o)
		linger := time.NewTimer(wait)
	gather:
		for len(batch) < cap(batch) {
			select {
			case o, ok := <-in:
				if !ok {
					break gather
				}
				batch = append(batch, o)
			default:
				if len(batch) >= enough {
					break gather
				}
				select {
				case o, ok := <-in:
					if !ok {
						break gather
					}
					batch = append(batch, o)
				case <-linger.C:
					break gather
				}
			}
		}
		linger.Stop()
		q.record(batch)
	}
}

func (q *Queue) record(batch []outcome) {
	now := q.cfg.Now()
	errs := make([]error, len(batch))
	failed := false
	for i := range batch {
		o := &batch[i]
		switch {
		case o.res.sent:
			o.state = "sent"
		case o.res.permanent:
			o.state = "failed"
		case now.Sub(o.j.created) >= q.cfg.GiveUpAfter:
			o.state = "failed"
			o.res.reply = fmt.Sprintf("gave up after %s: %s", now.Sub(o.j.created).Round(time.Minute), o.res.reply)
		default:
			o.state = "deferred"
		}
		failed = failed || o.state == "failed"
	}
	// Recorded even while stopping: the attempts happened. A write that
	// fails is tried again a few times; what still is not recorded stays in
	// flight, so that this process never sends it again (after a restart it
	// is sent once more: the one way to duplicate is to lose a record).
	// On PostgreSQL the copies sent are recorded in one statement: a
	// savepoint each would cost round trips, and hundreds of them in one
	// transaction slow every session.
	// On SQLite too, in one statement rather than a savepoint and an
	// update each (three calls into SQLite a copy), unless a reply is not
	// UTF-8, which JSON would change.
	pg := q.db.Engine() == store.Postgres
	bulk := true
	for _, o := range batch {
		bulk = bulk && (pg || o.state != "sent" || utf8.ValidString(o.res.reply))
	}
	write := func(tx *store.Tx) error {
		var ids []int64
		var replies []string
		for i, o := range batch {
			if bulk && o.state == "sent" {
				ids, replies = append(ids, o.j.id), append(replies, o.res.reply)
				errs[i] = nil
				continue
			}
			errs[i] = tx.Savepoint(func() error {
				switch o.state {
				case "sent":
					_, err := tx.Exec("delivery.sent", o.res.reply, now.Unix(), o.j.id)
					return err
				case "deferred":
					// Not before the backoff from now: a first attempt made
					// late (a backlog, a restart) must not be retried at once.
					next := now.Add(jitter(q.backoff(o.j.attempt))).Unix()
					_, err := tx.Exec("delivery.deferred", next, o.res.reply, now.Unix(), o.j.id)
					return err
				}
				return q.fail(tx, o.j.id, "delivery.failed", o.res.reply)
			})
		}
		switch {
		case len(ids) == 0:
		case pg:
			if _, err := tx.Exec("delivery.sent-many", ids, replies, now.Unix()); err != nil {
				return err
			}
		default:
			pairs := make([][2]any, len(ids))
			for i := range ids {
				pairs[i] = [2]any{ids[i], replies[i]}
			}
			list, err := json.Marshal(pairs)
			if err != nil {
				return err
			}
			if _, err := tx.Exec("delivery.sent-all", now.Unix(), string(list)); err != nil {
				return err
			}
		}
		return nil
	}
	allSent := pg
	for _, o := range batch {
		allSent = allSent && o.state == "sent"
	}
	if allSent {
		// One statement, its own transaction: no begin, no commit.
		write = func(*store.Tx) error {
			ids, replies := make([]int64, len(batch)), make([]string, len(batch))
			for i, o := range batch {
				ids[i], replies[i] = o.j.id, o.res.reply
			}
			_, err := q.db.ExecWrite(context.Background(), "delivery.sent-many", ids, replies, now.Unix())
			return err
		}
	}
	var err error
	for try, wait := range []time.Duration{0, 100 * time.Millisecond, time.Second, 5 * time.Second} {
		time.Sleep(wait)
		if allSent {
			err = write(nil)
		} else {
			err = q.db.WriteLazy(context.Background(), write)
		}
		if err == nil || errors.Is(err, store.ErrClosed) {
			break
		}
		q.log.Error("recording delivery outcomes failed", "try", try+1, "err", err)
	}
	var done []job
	ctx := context.Background()
	for i := range batch {
		o := &batch[i]
		result, reply := slog.String("result", o.state), slog.String("reply", o.res.reply)
		switch {
		case err != nil || errs[i] != nil:
			q.log.LogAttrs(ctx, slog.LevelError, "delivery attempt not recorded",
				o.logAttrs(result, reply, slog.Any("err", errors.Join(err, errs[i])))...)
			continue
		}
		q.cfg.Observer.Delivered(o.kind, o.state)
		level := slog.LevelWarn
		if o.state == "sent" {
			level = slog.LevelInfo
		}
		if q.log.Enabled(ctx, level) {
			q.log.LogAttrs(ctx, level, "delivery", o.logAttrs(result, reply)...)
		}
		done = append(done, o.j)
	}
	q.release(done)
	if failed {
		q.Kick() // the failure handler may have queued a notice
	}
}

// fail marks delivery id failed (or bounced) with reply, and tells the
// failure handler in the same transaction.
func (q *Queue) fail(tx *store.Tx, id int64, query, reply string) error {
	res, err := tx.Exec(query, reply, q.cfg.Now().Unix(), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 || q.onFailure == nil {
		return nil // already failed: tell nobody twice
	}
	d, err := getDelivery(tx.QueryRow("delivery.get", id))
	if err != nil {
		return err
	}
	var open int
	if err := tx.QueryRow("delivery.siblings-open", d.OutboundID).Scan(&open); err != nil {
		return err
	}
	// The handler's own failure (a broken template override, say) must not
	// undo the state change: the delivery is failed either way.
	err = tx.Savepoint(func() error {
		return q.onFailure(tx, Failure{
			DeliveryID: id, OutboundID: d.OutboundID, MessageID: d.MessageID, Kind: d.Kind, Ref: d.Ref,
			InboundID: d.InboundID, Rcpt: d.Rcpt, Reply: reply, AllFailed: open == 0,
		})
	})
	if err != nil {
		q.log.Error("failure handler", "dlv", id, "err", err)
	}
	return nil
}
