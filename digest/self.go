package digest

import (
	"context"
	"errors"
	"strings"
	"time"

	"codeberg.org/relais/relais/events"
	"codeberg.org/relais/relais/geo"
	"codeberg.org/relais/relais/store"
)

// What a person does to their own agenda where their address is proven
// without a mail of theirs (their page, reached by a link mailed to it):
// the same commands as a mail to agenda+request@, read by Apply.

// ChangeProven carries out the command lines text (as Apply reads them)
// on email's agenda at once, making it a member when it was not: a new
// member starts active in lang. It returns the member as saved and what
// each line did.
func ChangeProven(tx *store.Tx, email, lang, text string, g *geo.Gazetteer, now time.Time) (Member, []Result, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	m, err := GetTx(tx, email)
	if errors.Is(err, ErrNoMember) {
		m = Member{Email: email, Lang: lang, Zone: events.DefaultZone, Active: true}
	} else if err != nil {
		return m, nil, err
	}
	results := Apply(&m, text, g)
	if err := Save(tx, m, now); err != nil {
		return m, nil, err
	}
	m, err = GetTx(tx, email)
	return m, results, err
}

// PreviewView is what member email's digest would show now (as Preview
// chooses it), for their page; empty says there is nothing to announce.
func (s *Service) PreviewView(ctx context.Context, email string) (v View, empty bool, err error) {
	m, err := Get(ctx, s.db, email)
	if err != nil {
		return View{}, true, err
	}
	now := s.cfg.Now()
	local := now.In(m.Location())
	cat, err := s.window(ctx, now)
	if err != nil {
		return View{}, true, err
	}
	last, err := s.selection(ctx, m.Email, Week(local.AddDate(0, 0, -7)))
	if err != nil {
		return View{}, true, err
	}
	s.catMu.Lock()
	d := Select(m, cat, local, local.AddDate(0, 0, s.cfg.Days), last.IDs())
	s.catMu.Unlock()
	return s.view(m, d, cat.ByID), d.Empty(), nil
}

// window returns the catalogue of the events a digest made now may hold,
// read again at most every catalogueTTL: pages asking for previews share
// it (Select on it is serialised by catMu).
func (s *Service) window(ctx context.Context, now time.Time) (*Catalogue, error) {
	s.catMu.Lock()
	c, at := s.cat, s.catAt
	s.catMu.Unlock()
	if c != nil && now.Sub(at) < catalogueTTL && now.Sub(at) >= 0 {
		return c, nil
	}
	evs, err := events.Window(ctx, s.db, now.Add(-24*time.Hour), now.AddDate(0, 0, s.cfg.Days+8))
	if err != nil {
		return nil, err
	}
	c = NewCatalogue(evs)
	s.catMu.Lock()
	s.cat, s.catAt = c, now
	s.catMu.Unlock()
	return c, nil
}

// catalogueTTL is how long the previews' catalogue is kept: a change an
// animator publishes shows in a preview within it.
const catalogueTTL = 30 * time.Second

// Attending returns the events to come that email said they will attend.
func Attending(ctx context.Context, db *store.DB, email string, now time.Time) ([]events.Event, error) {
	rows, err := db.Query(ctx, "attendee.of-person", strings.ToLower(strings.TrimSpace(email)), now.Unix())
	if err != nil {
		return nil, err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	out := make([]events.Event, 0, len(ids))
	for _, id := range ids {
		e, err := events.Get(ctx, db, id)
		if errors.Is(err, events.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// AddAttendee records that email will attend event id, as the "je
// participe" link does: they get the reminder the day before, and changes.
func AddAttendee(tx *store.Tx, id int64, email, lang string, now time.Time) error {
	_, err := tx.Exec("attendee.add", id, strings.ToLower(strings.TrimSpace(email)), lang, now.Unix())
	return err
}

// RemoveAttendee forgets that email will attend event id ("je ne viens
// plus"): no reminder, no notice of changes.
func RemoveAttendee(tx *store.Tx, id int64, email string) error {
	_, err := tx.Exec("attendee.remove", id, strings.ToLower(strings.TrimSpace(email)))
	return err
}

// SetLang sets the language of email's agenda.
func SetLang(tx *store.Tx, email, lang string) error {
	_, err := tx.Exec("agenda.set-lang", lang, strings.ToLower(strings.TrimSpace(email)))
	return err
}
