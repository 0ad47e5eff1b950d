package hub

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/groups"
	"codeberg.org/relais/relais/store"
)

// inbound is one accepted recipient waiting for its handler.
type inbound struct {
	id        int64
	messageID string
	rcpt      string
	route     string
	target    string
	attempts  int
}

// handler acts on one accepted recipient inside tx. An error wrapping
// errPermanent (or a handler's own not-found error) means it never will:
// the sender is told. Any other error is retried later.
type handler func(tx *store.Tx, in inbound) error

var errPermanent = errors.New("permanent")

// permanent marks err as one that retrying will not cure.
func permanent(err error) error { return fmt.Errorf("%w: %w", errPermanent, err) }

const (
	dispatchBatch       = 512
	dispatchConcurrency = 32 // writes in flight, which group commit batches
)

type dispatcher struct {
	h        *Hub
	handlers map[string]handler
	wake     chan struct{}

	mu       sync.Mutex
	inflight map[int64]bool
	ordered  map[string][]inbound // recipients waiting their turn, by orderKey
}

func newDispatcher(h *Hub) *dispatcher {
	d := &dispatcher{h: h, wake: make(chan struct{}, 1), inflight: make(map[int64]bool)}
	d.handlers = map[string]handler{
		routeGroup:  h.spending(h.forwardToGroup),
		routeAgenda: h.publishEvent,

		routeAgendaCmd: h.agendaCommand,
		routeBounce:    h.recordBounce,
		routeRole:      h.spending(h.forwardToPostmaster),

		routeList:      h.listPost,
		routeListCmd:   h.listCommandSpending,
		routeListToken: h.listToken,
		routeZone:      h.zonePost,

		routeTicket: h.spending(h.ticketMail),
	}
	return d
}

// spending wraps the handler of mail that people read (a group's
// animators, a list's owners through +owner, the support desk's
// operators, the postmasters): a link to a member's page that it quotes
// (someone forwarding their list mail: "take me off this list") is spent
// first, as in a post to a list (whose handlers spend themselves).
// Bounces are not: a report quoting a member's copy reaches only the hub.
// Nor is the hub's own mail coming back to one of its addresses (a
// group's contact address subscribed to a list: its animators manage that
// subscription by the footer's link).
func (h *Hub) spending(next handler) handler {
	return func(tx *store.Tx, in inbound) error {
		m, err := tx.Received(in.messageID)
		if err != nil {
			return err
		}
		if !h.ours(m.MailFrom) {
			if _, err := h.SignIn.SpendQuoted(tx, m.Body); err != nil {
				return err
			}
		}
		return next(tx, in)
	}
}

// listCommandSpending handles a list command; mail to +owner, which the
// owners read, spends the links it quotes first. The other commands
// reach only the hub.
func (h *Hub) listCommandSpending(tx *store.Tx, in inbound) error {
	if _, cmd, _ := strings.Cut(in.target, ":"); cmd == "owner" {
		return h.spending(h.listCommand)(tx, in)
	}
	return h.listCommand(tx, in)
}

// ours says whether addr is on one of the hub's domains.
func (h *Hub) ours(addr string) bool {
	_, domain, ok := strings.Cut(strings.ToLower(addr), "@")
	for _, d := range h.Config.Domains {
		if ok && domain == strings.ToLower(d) {
			return true
		}
	}
	return false
}

func (d *dispatcher) kick() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *dispatcher) run(ctx context.Context) error {
	sem := make(chan struct{}, dispatchConcurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		due, full, err := d.due(ctx)
		if err != nil && ctx.Err() == nil {
			d.h.log.Error("dispatch scan failed", "err", err)
		}
		for _, in := range due {
			if key := orderKey(in); key != "" {
				d.inOrder(ctx, key, in, sem, &wg)
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return nil
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.handle(ctx, in)
				d.done(in)
				<-sem
			}()
		}
		if full && len(due) > 0 {
			continue
		}
		wait := time.Minute
		var next sql.NullInt64
		if err := d.h.DB.QueryRow(ctx, "inbound.next-due").Scan(&next); err == nil && next.Valid {
			wait = min(max(time.Unix(next.Int64, 0).Sub(d.h.now()), 50*time.Millisecond), time.Minute)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-d.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

func (d *dispatcher) done(in inbound) {
	d.mu.Lock()
	delete(d.inflight, in.id)
	d.mu.Unlock()
}

// orderKey names the recipients that are handled one after the other, in
// the order they came: the posts to one list, so that its archive and
// digests keep the order they were written in, whichever writer commits
// first (PostgreSQL has several). Others are handled at once.
func orderKey(in inbound) string {
	if in.route == routeList || in.route == routeZone {
		return in.route + ":" + in.target
	}
	return ""
}

// inOrder queues in behind the recipients of the same key, and starts
// their handler if none runs.
func (d *dispatcher) inOrder(ctx context.Context, key string, in inbound, sem chan struct{}, wg *sync.WaitGroup) {
	d.mu.Lock()
	if d.ordered == nil {
		d.ordered = map[string][]inbound{}
	}
	q, running := d.ordered[key]
	d.ordered[key] = append(q, in)
	d.mu.Unlock()
	if running {
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			d.mu.Lock()
			q := d.ordered[key]
			if len(q) == 0 {
				delete(d.ordered, key)
				d.mu.Unlock()
				return
			}
			next := q[0]
			d.ordered[key] = q[1:]
			d.mu.Unlock()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				d.mu.Lock()
				for _, x := range d.ordered[key] {
					delete(d.inflight, x.id)
				}
				delete(d.inflight, next.id)
				delete(d.ordered, key)
				d.mu.Unlock()
				return
			}
			d.handle(ctx, next)
			d.done(next)
			<-sem
		}
	}()
}

// due returns pending recipients not already being handled; full says the
// scan hit its limit.
func (d *dispatcher) due(ctx context.Context) ([]inbound, bool, error) {
	// Locked before the query: see queue's pick.
	d.mu.Lock()
	defer d.mu.Unlock()
	rows, err := d.h.DB.Query(ctx, "inbound.due", d.h.now().Unix(), dispatchBatch)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var out []inbound
	n := 0
	for rows.Next() {
		n++
		var in inbound
		if err := rows.Scan(&in.id, &in.messageID, &in.rcpt, &in.route, &in.target, &in.attempts); err != nil {
			return out, false, err
		}
		if d.inflight[in.id] {
			continue
		}
		d.inflight[in.id] = true
		out = append(out, in)
	}
	return out, n == dispatchBatch, rows.Err()
}

// retryAfter is the wait before handling a recipient again after the n-th
// temporary failure: 10s doubling to at most an hour.
func retryAfter(n int) time.Duration {
	d := 10 * time.Second
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// errInline: a recipient handled without a savepoint failed; the whole
// intake transaction is run again, with savepoints.
var errInline = errors.New("inline handling failed")

// inline handles in inside the intake transaction, under a savepoint; it
// reports whether in is done. Optimistic, it runs without the savepoint
// (on PostgreSQL a savepoint costs two round trips and a subtransaction)
// and a failure is errInline: the caller runs the transaction again,
// not optimistic.
func (d *dispatcher) inline(tx *store.Tx, in inbound, optimistic bool) (bool, error) {
	fn, ok := d.handlers[in.route]
	if !ok || !inlineRoutes[in.route] {
		return false, nil
	}
	if optimistic {
		// Written done already (spool.accept).
		if err := fn(tx, in); err != nil {
			return false, errInline
		}
		return true, nil
	}
	err := tx.Savepoint(func() error {
		// No lock: the row was written in this transaction, nobody else
		// sees it yet.
		if err := fn(tx, in); err != nil {
			return err
		}
		_, err := tx.Exec("inbound.finish", "done", "", in.id)
		return err
	})
	return err == nil, nil
}

// inlines says whether recipients of route are handled in the intake
// transaction.
func (d *dispatcher) inlines(route string) bool {
	_, ok := d.handlers[route]
	return ok && inlineRoutes[route]
}

// inlineRoutes are handled in the intake transaction. List posts are not:
// they may ask the DNS (the poster's DMARC policy), which must not happen
// while the one writer waits; the dispatcher asks first, then writes.
var inlineRoutes = map[string]bool{
	routeGroup: true, routeBounce: true, routeRole: true, routeAgenda: true, routeAgendaCmd: true,
	routeListCmd: true, routeTicket: true,
}

func (d *dispatcher) handle(ctx context.Context, in inbound) {
	h := d.h
	log := h.log.With("qid", in.messageID, "rcpt", address.Redact(in.rcpt), "route", in.route)
	fn, ok := d.handlers[in.route]
	if !ok {
		fn = func(*store.Tx, inbound) error { return permanent(fmt.Errorf("no handler for route %q", in.route)) }
	}
	// Ask the DNS (the DMARC policy of the post's author) before writing:
	// inside the transaction the lists read only what was found here. A
	// lookup that fails for now is retried like any temporary failure.
	var err error
	switch in.route {
	case routeList, routeZone:
		err = h.Lists.Prefetch(ctx, in.messageID)
	case routeListToken:
		if _, tok, ok := strings.Cut(in.target[strings.IndexByte(in.target, ':')+1:], ":"); ok {
			err = h.Lists.PrefetchHeld(ctx, tok)
		}
	}
	if err == nil {
		err = h.DB.Write(ctx, func(tx *store.Tx) error {
			if err := lockInbound(tx, in); err != nil {
				return err
			}
			if err := fn(tx, in); err != nil {
				return err
			}
			_, err := tx.Exec("inbound.finish", "done", "", in.id)
			return err
		})
	}
	switch {
	case errors.Is(err, errHandled):
		return // another node did
	case err == nil:
		log.Info("dispatched")
		h.Queue.Kick()
		return
	case ctx.Err() != nil:
		return // shutting down: still pending, handled at the next start
	case errors.Is(err, errPermanent) || errors.Is(err, groups.ErrNotFound):
		werr := h.DB.Write(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec("inbound.finish", "failed", err.Error(), in.id); err != nil {
				return err
			}
			return h.notifySender(tx, in.messageID, in.rcpt, undeliverableReason(err))
		})
		if werr != nil {
			log.Error("failure not recorded", "err", werr)
			return
		}
		h.Queue.Kick()
		log.Warn("not dispatched", "reason", err)
	default:
		in.attempts++
		next := h.now().Add(retryAfter(in.attempts)).Unix()
		if werr := h.DB.Write(ctx, func(tx *store.Tx) error {
			_, err2 := tx.Exec("inbound.retry", next, err.Error(), in.id)
			return err2
		}); werr != nil {
			log.Error("retry not recorded", "err", werr)
		}
		log.Error("dispatch failed, will retry", "err", err, "attempt", in.attempts)
	}
}

// errHandled: the recipient is no longer pending when its handler is
// about to run (another node sharing the database handled it).
var errHandled = errors.New("handled elsewhere")

// lockInbound takes the recipient's row before its handler runs, or says
// it was handled meanwhile.
func lockInbound(tx *store.Tx, in inbound) error {
	res, err := tx.Exec("inbound.lock", in.id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return errHandled
	}
	return nil
}

func targetID(in inbound) (int64, error) {
	id, err := strconv.ParseInt(in.target, 10, 64)
	if err != nil {
		return 0, permanent(fmt.Errorf("bad target %q", in.target))
	}
	return id, nil
}
