package lists

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"codeberg.org/relais/relais/store"
)

// What a member does to their own subscriptions where their address is
// proven without a mail of theirs: their page on the web, reached by a link
// the hub mailed to that address. The changes are those of their mail
// commands, made by the same function (apply) and read by the same rules
// (parseDate for the end of a pause); a signed-in address is proven, so
// they are made at once, as for a proven From.

// Change is one change a member makes to their subscription: exactly one
// of its fields is set.
type Change struct {
	Leave  bool
	Mode   string // each, daily, weekly
	Pause  bool
	Until  string // with Pause: the end of the pause as a person writes it (2026-12-24, 24/12/2026); "" until they say
	Resume bool
}

// Outcomes of a Change, as the pages show them.
const (
	OutcomeLeft        = outUnsubscribed
	OutcomeDaily       = outDaily
	OutcomeWeekly      = outWeekly
	OutcomeEach        = outEach
	OutcomePaused      = outPaused
	OutcomePausedUntil = outPausedUntil
	OutcomeResumed     = outResumed
	OutcomeBadDate     = outBadDate
	OutcomeNotMember   = outNotMember
	OutcomeJoined      = "joined"
	OutcomeAlready     = outAlready
	OutcomeDigestOff   = outDigestOff
)

// action is the change as apply reads it: the same words as a mail
// command's.
func (s *Service) action(c Change) (string, bool) {
	switch {
	case c.Leave:
		return actLeave, true
	case c.Mode == "each" || c.Mode == "daily" || c.Mode == "weekly":
		return actMode + " " + c.Mode, true
	case c.Pause && strings.TrimSpace(c.Until) == "":
		return actPause, true
	case c.Pause:
		t, ok := parseDate(c.Until, s.now())
		if !ok {
			return "", false
		}
		return actPause + " " + strconv.FormatInt(t.Unix(), 10), true
	case c.Resume:
		return actResume, true
	}
	return "", false
}

// ChangeProven makes change c to email's subscription to list listID at
// once; how says where it came from, for the consent record of a
// departure. Leaving sends the goodbye message, as every other way of
// leaving does. It returns the outcome (Outcome…): OutcomeBadDate for a
// pause whose end is not a date to come within two years,
// OutcomeNotMember when email is not on the list.
func (s *Service) ChangeProven(ctx context.Context, listID int64, email string, c Change, how string) (string, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	act, ok := s.action(c)
	if !ok {
		return OutcomeBadDate, nil
	}
	var out string
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		l, err := get(tx, listID)
		if err != nil {
			return err
		}
		m, err := member(tx, l.ID, email)
		if errors.Is(err, ErrNotMember) || (err == nil && m.State == "unsubscribed") {
			out = OutcomeNotMember
			return nil
		} else if err != nil {
			return err
		}
		r, err := s.apply(tx, l, m, change{Action: act}, how)
		if err != nil {
			return err
		}
		out = r.Outcome
		if out == outUnsubscribed {
			return s.notify(tx, l, email, m.Lang, "list-goodbye", nil, "")
		}
		return nil
	})
	if err == nil {
		s.q.Kick()
	}
	return out, err
}

// JoinProven subscribes email to list listID at once, with no
// confirmation: the address is proven (how says by what, and is its
// consent record). The welcome message goes as after a confirmation.
// A member already on the list stays as they are (OutcomeAlready).
// Territory lists have no members to add.
func (s *Service) JoinProven(ctx context.Context, listID int64, email, lang, how string) (string, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	var out string
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		l, err := get(tx, listID)
		if err != nil {
			return err
		}
		if l.Policy == Territory {
			return ErrNotFound
		}
		if m, err := member(tx, l.ID, email); err == nil && m.State != "unsubscribed" {
			out = OutcomeAlready
			return nil
		}
		if lang == "" {
			lang = l.Lang
		}
		if _, err := tx.Exec("member.subscribe", l.ID, email, lang, s.now().Unix(), how, false); err != nil {
			return err
		}
		out = OutcomeJoined
		return s.welcome(tx, l, email, lang, "")
	})
	if err == nil {
		s.q.Kick()
	}
	return out, err
}

// Membership is a list a person is on, or left.
type Membership struct {
	List    List
	Address string
	Member  Member
}

// Memberships returns every list email is on or left, in address order.
func (s *Service) Memberships(ctx context.Context, email string) ([]Membership, error) {
	rows, err := s.db.Query(ctx, "member.of-person", strings.ToLower(strings.TrimSpace(email)))
	if err != nil {
		return nil, err
	}
	var ms []Member
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		ms = append(ms, m)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	out := make([]Membership, 0, len(ms))
	for _, m := range ms {
		l, err := s.cached(ctx, m.ListID)
		if err != nil {
			return nil, err
		}
		out = append(out, Membership{List: l, Address: s.Address(l, ""), Member: m})
	}
	return out, nil
}

// Joinable returns the lists under the territory codes codes (those of a
// person's groups), territory lists aside, in address order.
func (s *Service) Joinable(ctx context.Context, codes []string) ([]List, error) {
	if len(codes) == 0 {
		return nil, nil
	}
	b, _ := json.Marshal(codes)
	rows, err := s.db.Query(ctx, "list.under-codes", string(b))
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
	out := make([]List, 0, len(ids))
	for _, id := range ids {
		l, err := s.cached(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// SetLang sets the language of every subscription of email: the member
// chose it on their page.
func (s *Service) SetLang(tx *store.Tx, email, lang string) error {
	_, err := tx.Exec("member.set-lang", lang, strings.ToLower(strings.TrimSpace(email)))
	return err
}

// ManageURL is how a member's footer links to their page: set by the hub,
// nil for none.
type ManageURL func(memberID int64, email string) string
