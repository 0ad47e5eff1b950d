package lists

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"codeberg.org/relais/relais/audit"
	"codeberg.org/relais/relais/store"
)

// Member is an address on a list, with its consent record.
type Member struct {
	ID         int64
	ListID     int64
	Email      string
	State      string // active, bouncing, unsubscribed
	Mode       string // each, daily, weekly
	Paused     bool
	ResumeAt   time.Time // zero: paused until the member says
	Lang       string
	ConsentAt  time.Time
	ConsentHow string
	LeftAt     time.Time
	LeftHow    string
	Bounce     float64
	BounceAt   time.Time
	// Admitted: an owner, the platform or an operator made them one of
	// the groups' members (see Admit); who subscribed themselves is not.
	Admitted bool
}

func scanMember(row scanner) (Member, error) {
	var m Member
	var resume, consent, left, bounceAt int64
	err := row.Scan(&m.ID, &m.ListID, &m.Email, &m.State, &m.Mode, &m.Paused, &resume, &m.Lang, &consent,
		&m.ConsentHow, &left, &m.LeftHow, &m.Bounce, &bounceAt, &m.Admitted)
	m.ResumeAt, m.ConsentAt, m.LeftAt, m.BounceAt = unix(resume), unix(consent), unix(left), unix(bounceAt)
	return m, err
}

func unix(t int64) time.Time {
	if t == 0 {
		return time.Time{}
	}
	return time.Unix(t, 0)
}

func member(q queryer, listID int64, email string) (Member, error) {
	m, err := scanMember(q.QueryRow("member.get", listID, strings.ToLower(email)))
	if errors.Is(err, sql.ErrNoRows) {
		return m, ErrNotMember
	}
	return m, err
}

// MemberList returns every member of a list, those who left included.
func MemberList(ctx context.Context, db *store.DB, listID int64) ([]Member, error) {
	rows, err := db.Query(ctx, "member.list", listID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Member
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Subscribe adds addresses whose consent the operator already holds (a
// list moved from Sympa or Google Groups): how is recorded with each as its
// consent proof, and must say where that consent is. Nobody is sent
// anything. Addresses already on the list, those who left it included,
// are left as they are; so are addresses erased from the hub, and those
// whose withdrawal from the list outlived its record (both kept as a keyed
// hash, see package privacy). It returns how many were added.
func Subscribe(ctx context.Context, db *store.DB, listID int64, how string, emails []string, a audit.Actor, now time.Time) (int, error) {
	how = strings.TrimSpace(how)
	if how == "" {
		return 0, errors.New("say where these addresses' consent is recorded (--consent)")
	}
	var bad []error
	var clean []string
	for _, e := range emails {
		a, err := mail.ParseAddress(strings.TrimSpace(e))
		if err != nil || !strings.Contains(a.Address, ".") {
			bad = append(bad, fmt.Errorf("%q is not an email address", e))
			continue
		}
		clean = append(clean, strings.ToLower(a.Address))
	}
	if err := errors.Join(bad...); err != nil {
		return 0, err
	}
	secret, err := db.Secret(ctx, store.ErasureSecret)
	if err != nil {
		return 0, err
	}
	var l List
	n := 0
	err = db.Write(ctx, func(tx *store.Tx) error {
		var err error
		if l, err = get(tx, listID); err != nil {
			return err
		}
		n = 0
		for _, e := range clean {
			// Those who left are not brought back by an import: their
			// withdrawal stands until they subscribe again themselves.
			if _, err := member(tx, listID, e); err == nil {
				continue
			}
			var erased bool
			if err := tx.QueryRow("erasure.has", store.PersonMAC(secret, e), listID).Scan(&erased); err != nil {
				return err
			} else if erased {
				continue
			}
			if _, err := tx.Exec("member.subscribe", listID, e, l.Lang, now.Unix(), "operator: "+how, true); err != nil {
				return err
			}
			if err := audit.Record(tx, a, now, "member.add", l.Local(), e+": "+oneLine(how)); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// leave unsubscribes m inside tx; it reports whether m was a member.
func leave(tx *store.Tx, m Member, how string, now time.Time) (bool, error) {
	res, err := tx.Exec("member.leave", now.Unix(), how, m.ID)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// UnsubscribePage is what the web page of a personal unsubscribe link shows.
type UnsubscribePage struct {
	List    string // address
	Name    string // display name
	Email   string
	Lang    string
	Already bool // the member has already left
}

// UnsubscribeInfo returns what a personal unsubscribe token names.
func (s *Service) UnsubscribeInfo(ctx context.Context, token string) (UnsubscribePage, error) {
	m, err := s.checkToken(ctx, token)
	if err != nil {
		return UnsubscribePage{}, err
	}
	l, err := s.cached(ctx, m.ListID)
	if err != nil {
		return UnsubscribePage{}, err
	}
	return UnsubscribePage{List: s.Address(l, ""), Name: l.DisplayName, Email: m.Email, Lang: m.Lang, Already: m.State == "unsubscribed"}, nil
}

// OneClick unsubscribes the member a personal token names, at once, with
// no other step (RFC 8058 §3.2), and sends the goodbye message. from says
// where the request came from, for the record.
func (s *Service) OneClick(ctx context.Context, token, from string) (UnsubscribePage, error) {
	m, err := s.checkToken(ctx, token)
	if err != nil {
		return UnsubscribePage{}, err
	}
	l, err := s.cached(ctx, m.ListID)
	if err != nil {
		return UnsubscribePage{}, err
	}
	page := UnsubscribePage{List: s.Address(l, ""), Name: l.DisplayName, Email: m.Email, Lang: m.Lang, Already: m.State == "unsubscribed"}
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		left, err := leave(tx, m, "one-click unsubscribe link (RFC 8058) from "+from, s.now())
		if err != nil || !left {
			return err
		}
		return s.notify(tx, l, m.Email, m.Lang, "list-goodbye", nil, "")
	})
	if err == nil {
		s.q.Kick()
	}
	return page, err
}
