package queue

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

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

func (q *Queue) worker(ctx context.Context, jobs <-chan job) {
	var c *smtp.Client
	defer func() {
		if c != nil {
			quit(c)
		}
	}()
	idle := time.NewTimer(idleClose)
	defer idle.Stop()
	var cache body
	for {
		select {
		case j, ok := <-jobs:
			if !ok {
				return
			}
			// Stopping lets an attempt under way finish (Abort cuts it
			// if that takes too long): it must not fail, and count as an
			// attempt, only because the hub is stopping.
			c = q.attempt(context.WithoutCancel(ctx), c, j, &cache)
			idle.Reset(idleClose)
		case <-idle.C:
			if c != nil {
				quit(c)
				c = nil
			}
		}
	}
}

// quit says goodbye to the relay and closes the connection, whether or not
// the relay answers (go-smtp's Quit closes only on a 221).
func quit(c *smtp.Client) {
	c.Quit()
	c.Close()
}

// body caches the last message a worker sent: the recipients of one message
// usually come one after the other.
type body struct {
	outboundID int64
	messageID  string
	kind, ref  string
	data       []byte
	nullSender bool
	opts       smtp.MailOptions
	signed     bool // data carries the hub's DKIM signatures
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
	err := q.db.QueryRow(ctx, "delivery.job", outboundID).Scan(new(int64), &msgID, &prefix, &nullSender, &utf8, &eight, &kind, &ref)
	if err != nil {
		return fmt.Errorf("load outbound %d: %w", outboundID, err)
	}
	var raw []byte
	if err := q.db.QueryRow(ctx, "message.body", msgID).Scan(&raw); err != nil {
		return fmt.Errorf("load body %s: %w", msgID, err)
	}
	data := append(prefix[:len(prefix):len(prefix)], raw...)
	opts := smtp.MailOptions{UTF8: utf8, Size: int64(len(data))}
	if eight {
		opts.Body = smtp.Body8BitMIME
	}
	*b = body{outboundID: outboundID, messageID: msgID, kind: kind, ref: ref, data: data, nullSender: nullSender, opts: opts}
	return nil
}

// attempt makes one delivery attempt and records it. It returns the
// connection to use next (nil when it had to be dropped).
func (q *Queue) attempt(ctx context.Context, c *smtp.Client, j job, cache *body) *smtp.Client {
	log := q.log.With("dlv", j.id, "rcpt", j.rcpt, "attempt", j.attempt)
	var res result
	kind := ""
	if err := q.load(ctx, j.outboundID, cache); err != nil {
		res = result{reply: "internal error: " + err.Error()}
	} else {
		kind = cache.kind
		log = log.With("qid", cache.messageID)
		from := q.ReturnPath(j.id)
		if cache.nullSender {
			from = ""
		}
		// The recipient's own copy first: a dropped one needs no relay.
		out := cache
		if p := q.personalizers[cache.kind]; p != nil {
			data, err := p(ctx, Copy{DeliveryID: j.id, Rcpt: j.rcpt, Kind: cache.kind, Ref: cache.ref, Data: cache.data})
			if err != nil {
				res = result{reply: "personalize: " + err.Error(), permanent: errors.Is(err, ErrDrop)}
				out = nil
			} else {
				own := *cache
				own.data, own.signed = data, false
				own.opts.Size = int64(len(data))
				out = &own
			}
		}
		if c == nil && out != nil {
			var err error
			c, err = q.dial(ctx)
			if err != nil {
				res = classify(err)
				res.reply = "relay " + q.cfg.Relay.Address + ": " + res.reply
			}
		}
		if c != nil && out != nil && q.cfg.Sign != nil && !out.signed {
			// Signed at send time, once the relay answers, the last change
			// to the copy: one signature per stored message, or per
			// personalized copy.
			start := time.Now()
			data, err := q.cfg.Sign(out.data)
			q.cfg.Observer.Signed(time.Since(start))
			if err != nil {
				res = result{reply: "dkim: " + err.Error()}
				out = nil
			} else {
				out.data, out.signed = data, true
				out.opts.Size = int64(len(data))
			}
		}
		if c != nil && out != nil {
			res = q.send(c, from, j.rcpt, j.id, out)
			if !res.sent {
				// Keep the connection only if it still speaks SMTP.
				if res.network || c.Reset() != nil {
					c.Close()
					c = nil
				}
			}
		}
	}
	q.outcomes <- outcome{j: j, res: res, log: log, kind: kind}
	return c
}

func (q *Queue) dial(ctx context.Context) (*smtp.Client, error) {
	r := q.cfg.Relay
	host, _, _ := net.SplitHostPort(r.Address)
	raw, err := r.Dial(ctx, "tcp", r.Address)
	if err != nil {
		return nil, err
	}
	conn := q.track(raw)
	offered, known := q.tlsOffered.Load(r.Address)
	wantTLS := r.StartTLS != "off"
	var c *smtp.Client
	if wantTLS && known && offered.(bool) {
		// RFC 3207: STARTTLS, then EHLO again over TLS.
		tlsConfig := &tls.Config{ServerName: host, InsecureSkipVerify: r.TLSSkipVerify} //nolint:gosec // operator's choice, documented
		if c, err = smtp.NewClientStartTLS(conn, tlsConfig); err != nil {
			return nil, err
		}
	} else {
		c = smtp.NewClient(conn)
	}
	c.CommandTimeout, c.SubmissionTimeout = r.Timeout, 2*r.Timeout
	if err := c.Hello(r.Helo); err != nil {
		c.Close()
		return nil, err
	}
	if wantTLS && !known {
		// First connection: learn whether the relay offers STARTTLS.
		ok, _ := c.Extension("STARTTLS")
		q.tlsOffered.Store(r.Address, ok)
		if ok {
			c.Close()
			return q.dial(ctx)
		}
	}
	_, isTLS := c.TLSConnectionState()
	if r.StartTLS == "required" && !isTLS {
		c.Close()
		return nil, errors.New("STARTTLS is required (relay.starttls) but the relay does not offer it")
	}
	if r.Username != "" {
		if !isTLS && !isLoopback(host) {
			c.Close()
			return nil, errors.New("refusing to send the relay password without TLS")
		}
		if err := c.Auth(sasl.NewPlainClient("", r.Username, r.Password)); err != nil {
			c.Close()
			return nil, err
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

func (q *Queue) send(c *smtp.Client, from, rcpt string, id int64, b *body) result {
	opts := b.opts
	// RFC 3461 §4.4: the envelope id names the delivery, so a relay's
	// report (and the demo's outbox, which files each copy under it) says
	// which one it is about, even for a null sender. Sent only to a relay
	// that offers DSN.
	opts.EnvelopeID = "relais-" + strconv.FormatInt(id, 10)
	if err := c.Mail(from, &opts); err != nil {
		return classify(err)
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		return classify(err)
	}
	w, err := c.Data()
	if err != nil {
		return classify(err)
	}
	if _, err := w.Write(b.data); err != nil {
		w.Close()
		return classify(err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return classify(err)
	}
	return result{sent: true, reply: "250 " + resp.StatusText}
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
	j     job
	res   result
	log   *slog.Logger
	state string
	kind  string
}

// recordLinger is how long the recorder waits for more outcomes to share a
// commit when only a few are waiting.
const recordLinger = 2 * time.Millisecond

// recorder saves the outcomes of attempts, many per commit: recording is
// the one write per delivery, and batching it keeps the fsyncs free for
// intake. A delivery stays in flight until its outcome is committed, so it
// is never picked again meanwhile. The claim (or the queueing) already saved
// the next attempt time, so a deferred delivery needs only its reply.
func (q *Queue) recorder(in <-chan outcome) {
	batch := make([]outcome, 0, 256)
	for o := range in {
		batch = append(batch[:0], o)
		linger := time.NewTimer(recordLinger)
	gather:
		for len(batch) < cap(batch) {
			select {
			case o, ok := <-in:
				if !ok {
					break gather
				}
				batch = append(batch, o)
			default:
				if len(batch) >= 8 {
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
	write := func(tx *store.Tx) error {
		for i, o := range batch {
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
		return nil
	}
	var err error
	for try, wait := range []time.Duration{0, 100 * time.Millisecond, time.Second, 5 * time.Second} {
		time.Sleep(wait)
		if err = q.db.WriteLazy(context.Background(), write); err == nil || errors.Is(err, store.ErrClosed) {
			break
		}
		q.log.Error("recording delivery outcomes failed", "try", try+1, "err", err)
	}
	var done []job
	for i, o := range batch {
		attrs := []any{"result", o.state, "reply", o.res.reply}
		switch {
		case err != nil || errs[i] != nil:
			o.log.Error("delivery attempt not recorded", append(attrs, "err", errors.Join(err, errs[i]))...)
			continue
		}
		q.cfg.Observer.Delivered(o.kind, o.state)
		switch {
		case o.state == "sent":
			o.log.Info("delivery", attrs...)
		default:
			o.log.Warn("delivery", attrs...)
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
