package digest

import (
	"context"
	"crypto/hmac"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"codeberg.org/relais/relais/events"
	"codeberg.org/relais/relais/geo"
	"codeberg.org/relais/relais/internal/keymac"
	"codeberg.org/relais/relais/queue"
	"codeberg.org/relais/relais/store"
	"codeberg.org/relais/relais/templates"
)

// Kind is the queue's name for digests: their copies are made at send time
// from the member's recorded selection (Personalize).
const Kind = "agenda-digest"

// Config is the digest's settings.
type Config struct {
	Domain   string // of agenda+request@
	Hostname string // of Message-IDs
	WebURL   string // base of the links
	Schedule Schedule
	Days     int // how far ahead a digest looks
	// Manage, if set, makes the link of a digest to the member's page from
	// their link id and address.
	Manage func(link, email string) string
	Now    func() time.Time
}

// Service runs the digests of one hub.
type Service struct {
	db    *store.DB
	q     *queue.Queue
	texts *templates.Set
	// memo makes the digests: each event's lines are rendered once, with
	// the member's attend link and distance put in (templates.Memo).
	memo   *templates.Memo
	geo    *geo.Gazetteer
	cfg    Config
	log    *slog.Logger
	secret []byte
	copies copies      // what the queue's workers make copies from
	macs   keymac.Pool // HMAC-SHA256 under secret: a digest has a link per event
	// progress, if set, is told how far Run is (OnProgress).
	progress func(done, total int)

	catMu sync.Mutex
	cat   *Catalogue // the previews' window of events, read at catAt
	catAt time.Time
}

// New returns the service.
func New(ctx context.Context, db *store.DB, q *queue.Queue, texts *templates.Set, g *geo.Gazetteer, cfg Config, log *slog.Logger) (*Service, error) {
	secret, err := db.Secret(ctx, "agenda")
	if err != nil {
		return nil, err
	}
	if cfg.Days <= 0 {
		cfg.Days = 14
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{db: db, q: q, texts: texts, memo: texts.Memo("Attend", "Distance"), geo: g, cfg: cfg, log: log, secret: secret}, nil
}

// SetWebURL sets the base of the links once the web listener is known.
func (s *Service) SetWebURL(u string) { s.cfg.WebURL = strings.TrimSuffix(u, "/") }

// WebURL is the base of the links.
func (s *Service) WebURL() string { return s.cfg.WebURL }

// Request is the address members write their commands to.
func (s *Service) Request() string { return "agenda+request@" + s.cfg.Domain }

// Report is what a run did.
// OnProgress sets a function told, for each member Run looks at, how many
// it has read so far and of how many (-1: not known, members are read a
// page at a time; relais digest run shows a spinner).
func (s *Service) OnProgress(f func(done, total int)) { s.progress = f }

type Report struct {
	Members int // active members with a place
	Due     int // whose digest of the week was due and not yet recorded
	Queued  int // digests queued (or, dry, that would be)
	Empty   int // nothing to announce: none sent
	Took    time.Duration
}

// batch is how many members' digests are recorded and queued per
// transaction.
const batch = 2000

// Run records and queues the digests that are due at now: for each active
// member whose week's digest is due and not recorded yet, the selection
// is recorded (also an empty one: the week is done) and, when not empty,
// queued. dry records and queues nothing.
func (s *Service) Run(ctx context.Context, dry bool) (Report, error) {
	start := time.Now()
	now := s.cfg.Now()
	var rep Report
	from, to := now.Add(-24*time.Hour), now.AddDate(0, 0, s.cfg.Days+1)
	evs, err := events.Window(ctx, s.db, from, to)
	if err != nil {
		return rep, err
	}
	cat := NewCatalogue(evs)
	groupsOf, err := s.allGroups(ctx)
	if err != nil {
		return rep, err
	}
	// What was sent lately: this week's digest already recorded, last
	// week's (its events, for cancellations since), any in the last six
	// days (a member who moved to another time zone). The earliest week a
	// member's "last week" can be, whatever their zone.
	since, lately := Week(now.AddDate(0, 0, -9)), now.Add(-6*24*time.Hour).Unix()
	type pick struct {
		email, week string
		sel         []byte
		empty       bool
	}
	var picks []pick
	// flush records and queues a batch: memory stays that of one batch,
	// whatever the number of members.
	flush := func() error {
		if dry || len(picks) == 0 {
			picks = picks[:0]
			return nil
		}
		err := s.db.Write(ctx, func(tx *store.Tx) error {
			// One stored body per batch: each copy is made from the
			// member's recorded selection when it is sent.
			id := store.NewID()
			stub := []byte("Subject: agenda digest\r\n\r\n")
			if _, err := tx.Exec("message.insert", id, now.Unix(), "", "", "", false, false, len(stub), stub); err != nil {
				return err
			}
			byWeek := map[string][]string{}
			for _, p := range picks {
				res, err := tx.Exec("digest.record", p.email, p.week, now.Unix(), string(p.sel))
				if err != nil {
					return err
				}
				// A row already there (a run at the same time): nothing
				// more to queue for that member.
				if n, _ := res.RowsAffected(); n == 1 && !p.empty {
					byWeek[p.week] = append(byWeek[p.week], p.email)
				}
			}
			for week, to := range byWeek {
				if _, err := s.q.Enqueue(tx, queue.Message{MessageID: id, To: to, Kind: Kind, Ref: week}); err != nil {
					return err
				}
			}
			return nil
		})
		picks = picks[:0]
		if err != nil {
			return fmt.Errorf("digest: record: %w", err)
		}
		return nil
	}
	// Members are read a page at a time, with what was sent to them: the
	// memory of a run is that of a page, whatever the number of members.
	after := ""
	for {
		page, err := s.activePage(ctx, after)
		if err != nil {
			return rep, err
		}
		if len(page) == 0 {
			break
		}
		rep.Members += len(page)
		first := page[0].Email
		after = page[len(page)-1].Email
		sent, err := s.sentPage(ctx, first, after, since)
		if err != nil {
			return rep, err
		}
		for _, m := range page {
			if s.progress != nil {
				s.progress(rep.Members, -1) // pages: the total is not known ahead
			}
			if !s.cfg.Schedule.Due(m, now) {
				continue
			}
			local := now.In(m.Location())
			week, prev := Week(local), Week(local.AddDate(0, 0, -7))
			done, recent := false, false
			var last []int64
			for _, r := range sent[m.Email] {
				switch {
				case r.week == week:
					done = true
				case r.at > lately && r.events != "{}":
					recent = true
				}
				if r.week == prev {
					if d, err := parseDigest(r.events); err == nil {
						last = d.IDs()
					}
				}
			}
			if done || recent {
				continue
			}
			rep.Due++
			m.Groups, m.Admitted = nil, nil
			if g := groupsOf[m.Email]; g != nil {
				m.Groups, m.Admitted = g.Groups, g.Admitted
			}
			d := Select(m, cat, local, local.AddDate(0, 0, s.cfg.Days), last)
			sel, _ := json.Marshal(d)
			picks = append(picks, pick{m.Email, week, sel, d.Empty()})
			if d.Empty() {
				rep.Empty++
			} else {
				rep.Queued++
			}
			if len(picks) >= batch {
				if err := flush(); err != nil {
					return rep, err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return rep, err
	}
	if dry {
		rep.Took = time.Since(start)
		return rep, nil
	}
	if rep.Queued > 0 {
		s.q.Kick()
	}
	rep.Took = time.Since(start)
	s.log.Info("digests", "members", rep.Members, "due", rep.Due, "queued", rep.Queued, "empty", rep.Empty, "took", rep.Took)
	return rep, nil
}

// memberPage is how many members a run reads at once.
const memberPage = 5000

// activePage reads the next page of members with a place, after the
// address after, in address order.
func (s *Service) activePage(ctx context.Context, after string) ([]Member, error) {
	rows, err := s.db.Query(ctx, "agenda.active-page", after, memberPage)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]Member, 0, memberPage)
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// sentRow is one digest recorded for a member.
type sentRow struct {
	week   string
	at     int64
	events string
}

// sentPage reads the digests recorded since week since for the members
// from first to last, by member.
func (s *Service) sentPage(ctx context.Context, first, last, since string) (map[string][]sentRow, error) {
	rows, err := s.db.Query(ctx, "digest.sent-page", first, last, since)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]sentRow{}
	for rows.Next() {
		var email string
		var r sentRow
		if err := rows.Scan(&email, &r.week, &r.at, &r.events); err != nil {
			return nil, err
		}
		out[email] = append(out[email], r)
	}
	return out, rows.Err()
}

func (s *Service) allGroups(ctx context.Context) (map[string]*Member, error) {
	rows, err := s.db.Query(ctx, "agenda.all-groups")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]*Member{}
	for rows.Next() {
		var email string
		var id int64
		var admitted bool
		if err := rows.Scan(&email, &id, &admitted); err != nil {
			return nil, err
		}
		email = strings.ToLower(email)
		m := out[email]
		if m == nil {
			m = &Member{}
			out[email] = m
		}
		m.addGroup(id, admitted)
	}
	return out, rows.Err()
}

// selection reads the digest recorded for email and week (empty if none).
func (s *Service) selection(ctx context.Context, email, week string) (Digest, error) {
	var raw string
	err := s.db.QueryRow(ctx, "digest.sent", email, week).Scan(&raw)
	if errors.Is(err, errNoRows) {
		return Digest{}, nil
	} else if err != nil {
		return Digest{}, err
	}
	return parseDigest(raw)
}

// Preview returns the digest member email would get now, whether or not
// it is due or recorded, as the message it would be.
func (s *Service) Preview(ctx context.Context, email string) (Digest, []byte, error) {
	m, err := Get(ctx, s.db, email)
	if err != nil {
		return Digest{}, nil, err
	}
	now := s.cfg.Now()
	local := now.In(m.Location())
	evs, err := events.Window(ctx, s.db, now.Add(-24*time.Hour), now.AddDate(0, 0, s.cfg.Days+1))
	if err != nil {
		return Digest{}, nil, err
	}
	last, err := s.selection(ctx, m.Email, Week(local.AddDate(0, 0, -7)))
	if err != nil {
		return Digest{}, nil, err
	}
	cat := NewCatalogue(evs)
	d := Select(m, cat, local, local.AddDate(0, 0, s.cfg.Days), last.IDs())
	if d.Empty() {
		return d, nil, nil
	}
	msg, err := s.render(m, d, cat.ByID, Week(local))
	return d, msg, err
}

// Token is the key of the member's personal stop link: the member's
// random link id and a MAC under the hub's secret, never the address.
func (s *Service) Token(m Member) string { return s.memberToken("agenda-stop", m.Link) }

// StartToken is the key of the link that confirms an address for the
// agenda, when its first message did not prove its From.
func (s *Service) StartToken(m Member) string { return s.memberToken("agenda-start", m.Link) }

// memberToken is a member's link id and a MAC for purpose under the hub's
// secret.
func (s *Service) memberToken(purpose, link string) string {
	return link + "." + s.macFor(purpose, link)
}

func (s *Service) macFor(purpose, subject string) string {
	return s.mac(purpose, subject, "")
}

// mac is the MAC of purpose, NUL, subject and more (a digest makes one per
// event for each member: no allocation but the result).
func (s *Service) mac(purpose, subject, more string) string {
	var buf [128]byte
	sum := s.macs.Sum(s.secret, append(append(append(append(buf[:0], purpose...), 0), subject...), more...))
	var out [16]byte
	b32lower.Encode(out[:], sum[:10])
	return string(out[:])
}

// b32lower is base32 in lower case, without padding: 10 bytes are 16
// characters.
var b32lower = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// ErrBadToken: a stop link the hub did not make.
var ErrBadToken = errors.New("digest: unknown link")

// Stop ends the digest of the member a stop link names (RFC 8058
// one-click) when really; it returns the member.
func (s *Service) Stop(ctx context.Context, token string, really bool) (Member, error) {
	return s.switchBy(ctx, token, "agenda-stop", really, false)
}

// Start reads a confirmation link and, when really (a POST), starts the
// digest of its member: the address is proven by the link.
func (s *Service) Start(ctx context.Context, token string, really bool) (Member, error) {
	return s.switchBy(ctx, token, "agenda-start", really, true)
}

// member returns the member a link made for purpose names.
func (s *Service) member(ctx context.Context, token, purpose string) (Member, error) {
	link, mac, ok := strings.Cut(token, ".")
	if !ok || link == "" || !hmac.Equal([]byte(s.macFor(purpose, link)), []byte(mac)) {
		if purpose == "agenda-stop" {
			return s.legacyStop(ctx, token)
		}
		return Member{}, ErrBadToken
	}
	m, err := ByLink(ctx, s.db, link)
	if errors.Is(err, ErrNoMember) {
		return m, ErrBadToken
	}
	return m, err
}

// legacyStop reads a stop link of a digest sent before links named
// members by an id (they carried the address in base32): the one-click
// unsubscribe of mail already delivered keeps working (RFC 8058). No link
// of this form is made any more.
func (s *Service) legacyStop(ctx context.Context, token string) (Member, error) {
	enc, mac, ok := strings.Cut(token, ".")
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(enc)
	if !ok || err != nil || !strings.Contains(string(raw), "@") || !hmac.Equal([]byte(s.macFor("agenda-stop", string(raw))), []byte(mac)) {
		return Member{}, ErrBadToken
	}
	m, err := Get(ctx, s.db, string(raw))
	if errors.Is(err, ErrNoMember) {
		return m, ErrBadToken
	}
	return m, err
}

// switchBy reads a member link made for purpose and, when really, turns
// the member's digest on or off.
func (s *Service) switchBy(ctx context.Context, token, purpose string, really, active bool) (Member, error) {
	m, err := s.member(ctx, token, purpose)
	if err != nil || !really || m.Active == active {
		return m, err
	}
	m.Active = active
	err = s.db.Write(ctx, func(tx *store.Tx) error { return Save(tx, m, s.cfg.Now()) })
	s.log.Info("agenda switched by its link", "email", m.Email, "purpose", purpose, "active", active)
	return m, err
}

// AttendToken is the key of a member's "je participe" link for an event:
// the member's link id, the event and a MAC under the hub's secret.
func (s *Service) AttendToken(m Member, eventID int64) string {
	return m.Link + "." + strconv.FormatInt(eventID, 36) + "." + s.attendMAC(m.Link, eventID)
}

func (s *Service) attendMAC(link string, eventID int64) string {
	var n [20]byte
	return s.mac("agenda-attend", link, "\x00"+string(strconv.AppendInt(n[:0], eventID, 10)))
}

// Attend reads a "je participe" link and, when really (a POST), records
// that its member will attend: they get a reminder the day before, and
// changes. It returns the member's address and language, and the event.
func (s *Service) Attend(ctx context.Context, token string, really bool) (string, string, events.Event, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", "", events.Event{}, ErrBadToken
	}
	id, err := strconv.ParseInt(parts[1], 36, 64)
	if err != nil || !hmac.Equal([]byte(s.attendMAC(parts[0], id)), []byte(parts[2])) {
		return "", "", events.Event{}, ErrBadToken
	}
	m, err := ByLink(ctx, s.db, parts[0])
	if errors.Is(err, ErrNoMember) {
		return "", "", events.Event{}, ErrBadToken
	} else if err != nil {
		return "", "", events.Event{}, err
	}
	email, lang := m.Email, m.Lang
	e, err := events.Get(ctx, s.db, id)
	if err != nil {
		return email, lang, e, err
	}
	if really {
		err = s.db.Write(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec("attendee.add", id, email, lang, s.cfg.Now().Unix())
			return err
		})
		s.log.Info("attendance recorded", "email", email, "event", e.UID)
	}
	return email, lang, e, err
}
