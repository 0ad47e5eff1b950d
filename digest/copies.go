package digest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"codeberg.org/relais/relais/events"
	"codeberg.org/relais/relais/queue"
)

// The copies of a week's digests are made by the queue's workers, one per
// member, thousands a second. What they need is read in batches rather
// than by a few queries per member (member, selection, then each event
// with its organisers, some sixty round trips for a digest of thirty
// events):
//   - the member and their recorded selection, for the next recipients of
//     the queued digest at once (digest.copies), kept at most copyTTL;
//   - the events, kept in memory as long as the counter of changes to
//     events and organisers (events.version, bumped by triggers) says
//     they are current; it is read again with each batch of members.

// copyBatch is how many recipients one read prepares.
const copyBatch = 512

// copyTTL bounds how long a prepared copy's member and selection are
// trusted: a member who stops their digest while it is being sent may
// still get it if their copy was prepared in the last copyTTL (before,
// the window was the time between making a copy and sending it).
const copyTTL = 2 * time.Second

// prepared is what one recipient's copy is made from.
type prepared struct {
	member   Member
	found    bool   // the address is a member of the agenda
	sel      string // the recorded selection (JSON), "" if none
	recorded bool
	read     time.Time
}

// copies is the prepared recipients, and the events.
type copies struct {
	mu    sync.Mutex
	next  map[int64]prepared // by delivery id
	ahead readAhead          // the next batch, read while the workers use this one

	version int64 // events.version of evs
	evs     map[int64]*events.Event

	viewsMu sync.RWMutex
	views   map[viewKey]ViewEvent // what the digests say of each event
}

// wall is the clock that bounds how long read data is trusted: the real
// one, whatever clock the hub runs on.
var wall = time.Now

// prepare returns what c's copy is made from, reading the next batch of
// recipients when c is not in the current one. The batch after is read
// ahead, outside the lock, once half of this one is used: the workers do
// not wait for it (a read of 512 rows held them all).
func (s *Service) prepare(ctx context.Context, c queue.Copy) (prepared, error) {
	cs := &s.copies
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if p, ok := cs.next[c.DeliveryID]; ok && wall().Sub(p.read) < copyTTL {
		delete(cs.next, c.DeliveryID)
		s.readAheadIfDue(c)
		if p.found {
			return p, nil
		}
		return s.prepareOne(ctx, c) // see below
	}
	if c.OutboundID == 0 {
		return s.prepareOne(ctx, c)
	}
	if err := s.readBatch(ctx, c); err != nil {
		return prepared{}, err
	}
	p, ok := cs.next[c.DeliveryID]
	if !ok || !p.found {
		// Not queued any more, or not found by the batch's join (which
		// compares addresses as SQLite's lower() folds them): read this
		// one alone before saying the member left.
		delete(cs.next, c.DeliveryID)
		return s.prepareOne(ctx, c)
	}
	delete(cs.next, c.DeliveryID)
	return p, nil
}

// readAhead says where the next batch of a digest's recipients starts
// (from: a delivery id; 0 when the last batch was its last), and whether
// it is being read.
type readAhead struct {
	ref      string
	outbound int64
	from     int64
	reading  bool
}

// copyBatchRead is a read of digest.copies: each delivery's recipient, the events
// version read after them, and the delivery id after the last (0 when the
// batch was not full).
type copyBatchRead struct {
	ids     []int64
	preps   []prepared
	version int64
	after   int64
}

// readCopies reads the recipients of outbound's next copyBatch queued
// deliveries from delivery from on, then the events version; no lock.
func (s *Service) readCopies(ctx context.Context, ref string, outbound, from int64) (copyBatchRead, error) {
	var b copyBatchRead
	rows, err := s.db.Query(ctx, "digest.copies", ref, outbound, from, copyBatch)
	if err != nil {
		return b, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var rcpt string
		var email, sel sql.NullString
		var p prepared
		var m memberRow
		if err := rows.Scan(append([]any{&id, &rcpt, &email}, append(m.fields(), &sel)...)...); err != nil {
			return b, err
		}
		if email.Valid {
			p.member, p.found = m.member(email.String), true
		}
		p.sel, p.recorded = sel.String, sel.Valid
		b.ids, b.preps = append(b.ids, id), append(b.preps, p)
	}
	if err := rows.Err(); err != nil {
		return b, err
	}
	if len(b.ids) == copyBatch {
		b.after = b.ids[len(b.ids)-1] + 1
	}
	err = s.db.QueryRow(ctx, "events.version").Scan(&b.version)
	return b, err
}

// keep keeps a batch read at now; cs.mu is held. Recipients already read
// stay (the workers take them slightly out of order), unless they are
// older than copyTTL.
func (cs *copies) keep(b copyBatchRead, now time.Time) {
	if len(cs.next) > 2*copyBatch {
		for id, p := range cs.next {
			if now.Sub(p.read) >= copyTTL {
				delete(cs.next, id)
			}
		}
	}
	if cs.next == nil || len(cs.next) > 8*copyBatch {
		cs.next = make(map[int64]prepared, copyBatch)
	}
	for i, id := range b.ids {
		p := b.preps[i]
		p.read = now
		cs.next[id] = p
	}
}

// readBatch reads the recipients of c's digest from c on, and the events
// if their version changed; cs.mu is held.
func (s *Service) readBatch(ctx context.Context, c queue.Copy) error {
	cs := &s.copies
	now := wall()
	b, err := s.readCopies(ctx, c.Ref, c.OutboundID, c.DeliveryID)
	if err != nil {
		return err
	}
	cs.keep(b, now)
	cs.ahead = readAhead{ref: c.Ref, outbound: c.OutboundID, from: b.after}
	if b.version != cs.version || cs.evs == nil {
		cs.version, cs.evs = b.version, nil
		if err := s.loadEvents(ctx); err != nil {
			return err
		}
	}
	return nil
}

// readAheadIfDue starts reading the batch after this one once half of it
// is used; cs.mu is held.
func (s *Service) readAheadIfDue(c queue.Copy) {
	cs := &s.copies
	a := cs.ahead
	if a.outbound == c.OutboundID && a.ref == c.Ref && a.from != 0 && !a.reading && len(cs.next) < copyBatch/2 {
		cs.ahead.reading = true
		go s.readAheadCopies(a)
	}
}

// readAheadCopies reads the batch a says, without the lock, and keeps it
// if the events it was read with are those in memory. Otherwise, or when
// the read fails, prepare reads what it misses itself (and the events
// again, or says what failed).
func (s *Service) readAheadCopies(a readAhead) {
	now := wall()
	b, err := s.readCopies(context.Background(), a.ref, a.outbound, a.from)
	cs := &s.copies
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.ahead.outbound != a.outbound || cs.ahead.ref != a.ref || cs.ahead.from != a.from {
		// prepare read on meanwhile: its batch stands, and whoever set
		// cs.ahead since says whether a read is under way.
		return
	}
	cs.ahead = readAhead{ref: a.ref, outbound: a.outbound}
	if err != nil || b.version != cs.version || cs.evs == nil {
		return
	}
	cs.keep(b, now)
	cs.ahead.from = b.after
}

// prepareOne reads one recipient alone (Preview, a bench, a copy no longer
// queued); cs.mu is held.
func (s *Service) prepareOne(ctx context.Context, c queue.Copy) (prepared, error) {
	var p prepared
	m, err := Get(ctx, s.db, c.Rcpt)
	if errors.Is(err, ErrNoMember) {
		return p, nil
	} else if err != nil {
		return p, err
	}
	p.member, p.found = m, true
	err = s.db.QueryRow(ctx, "digest.sent", m.Email, c.Ref).Scan(&p.sel)
	if errors.Is(err, errNoRows) {
		return p, nil
	}
	p.recorded = err == nil
	return p, err
}

// loadEvents reads the events a week's digests may name: those of the
// window a run reads, and more as asked for (event); cs.mu is held.
func (s *Service) loadEvents(ctx context.Context) error {
	now := s.cfg.Now()
	evs, err := events.Window(ctx, s.db, now.Add(-8*24*time.Hour), now.AddDate(0, 0, s.cfg.Days+8))
	if err != nil {
		return err
	}
	s.copies.viewsMu.Lock()
	s.copies.views = nil // they name the events read before
	s.copies.viewsMu.Unlock()
	s.copies.evs = make(map[int64]*events.Event, len(evs))
	for i := range evs {
		s.copies.evs[evs[i].ID] = &evs[i]
	}
	return nil
}

// eventsOf returns the events d names that still exist, as of the last
// events version read (eventLocked), under one lock: a digest names thirty
// or so, and the workers make copies at once.
func (s *Service) eventsOf(ctx context.Context, d Digest) (map[int64]*events.Event, error) {
	out := make(map[int64]*events.Event, len(d.Own)+len(d.Near)+len(d.Themes)+len(d.Cancelled))
	cs := &s.copies
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, items := range [][]Item{d.Own, d.Near, d.Themes, d.Cancelled} {
		for _, it := range items {
			e, ok, err := s.eventLocked(ctx, it.ID)
			if err != nil {
				return nil, err
			}
			if ok {
				out[it.ID] = e
			}
		}
	}
	return out, nil
}

// eventLocked returns an event as of the last events version read,
// reading it when it is not in memory; ok is false when it no longer
// exists. cs.mu is held.
func (s *Service) eventLocked(ctx context.Context, id int64) (*events.Event, bool, error) {
	cs := &s.copies
	if cs.evs == nil {
		var v int64
		if err := s.db.QueryRow(ctx, "events.version").Scan(&v); err != nil {
			return nil, false, err
		}
		cs.version = v
		if err := s.loadEvents(ctx); err != nil {
			return nil, false, err
		}
	}
	if e, ok := cs.evs[id]; ok {
		return e, e != nil, nil
	}
	e, err := events.Get(ctx, s.db, id)
	if errors.Is(err, events.ErrNotFound) {
		cs.evs[id] = nil
		return nil, false, nil
	} else if err != nil {
		return nil, false, err
	}
	cs.evs[id] = &e
	return &e, true, nil
}

// Personalize makes a member's copy of a queued digest from the selection
// recorded for them (queue.Personalizer).
func (s *Service) Personalize(ctx context.Context, c queue.Copy) ([]byte, error) {
	p, err := s.prepare(ctx, c)
	if err != nil {
		return nil, err
	}
	if !p.found || !p.member.Active {
		return nil, fmt.Errorf("%w: %s left the agenda", queue.ErrDrop, c.Rcpt)
	}
	var d Digest
	if p.recorded {
		if d, err = parseDigest(p.sel); err != nil {
			return nil, err
		}
	}
	evs, err := s.eventsOf(ctx, d)
	if err != nil {
		return nil, err
	}
	byID := func(id int64) (*events.Event, bool) {
		e, ok := evs[id]
		return e, ok
	}
	return s.render(p.member, d, byID, c.Ref)
}

// memberRow scans a member's columns that may be NULL (a LEFT JOIN).
type memberRow struct {
	postcode, insee, place, lang, zone, themes, link sql.NullString
	lat, lon                                         sql.NullFloat64
	radius, created, updated                         sql.NullInt64
	active                                           sql.NullBool
}

func (r *memberRow) fields() []any {
	return []any{&r.postcode, &r.insee, &r.place, &r.lat, &r.lon, &r.radius, &r.lang, &r.zone, &r.themes,
		&r.active, &r.created, &r.updated, &r.link}
}

func (r *memberRow) member(email string) Member {
	m := Member{Email: email, PostCode: r.postcode.String, INSEE: r.insee.String, Place: r.place.String,
		Radius: int(r.radius.Int64), Lang: r.lang.String, Zone: r.zone.String, Active: r.active.Bool, Link: r.link.String,
		Created: time.Unix(r.created.Int64, 0), Updated: time.Unix(r.updated.Int64, 0)}
	m.Point.Lat, m.Point.Lon = r.lat.Float64, r.lon.Float64
	if r.themes.String != "" {
		m.Themes = strings.Split(r.themes.String, ",")
	}
	return m
}
