package lists

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/audit"
	"codeberg.org/relais/relais/store"
)

// What operators do to lists and members from the command line. Each
// change is one transaction; nothing here writes to a member.

// Held is a post held for the moderators, as operators see it.
type Held struct {
	ID        int64     `json:"id"`
	List      string    `json:"list"` // CODE.NAME
	MessageID string    `json:"qid"`
	Poster    string    `json:"poster"`
	Reason    string    `json:"reason"`
	Subject   string    `json:"subject"`
	HeldAt    time.Time `json:"held_at"`
	Expires   time.Time `json:"expires_at"`
	State     string    `json:"state"` // held, approved, rejected, expired
	DecidedBy string    `json:"decided_by,omitempty"`
	Raw       []byte    `json:"-"`
}

func scanHeld(row scanner) (Held, error) {
	var h Held
	var listID, heldAt, expires int64
	var code, name string
	err := row.Scan(&h.ID, &listID, &code, &name, &h.MessageID, &h.Poster, &h.Reason, &heldAt, &expires, &h.State, &h.DecidedBy, &h.Raw)
	if err != nil {
		return h, err
	}
	h.List = strings.ToLower(code) + "." + name
	if c, err := address.ParseCode(code); err == nil {
		h.List = c.Local() + "." + name
	}
	h.HeldAt, h.Expires = time.Unix(heldAt, 0), time.Unix(expires, 0)
	if hd, err := header(h.Raw); err == nil {
		h.Subject = decode(hd.Get("Subject"))
	}
	return h, nil
}

// HeldPosts returns the held posts of list listID (0: every list) in
// state ("" : any), oldest first.
func HeldPosts(ctx context.Context, db *store.DB, listID int64, state string) ([]Held, error) {
	rows, err := db.Query(ctx, "held.all", listID, state)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Held{}
	for rows.Next() {
		h, err := scanHeld(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// HeldPost returns held post id, with the post as it came.
func HeldPost(ctx context.Context, db *store.DB, id int64) (Held, error) {
	h, err := scanHeld(db.QueryRow(ctx, "held.one", id))
	if errors.Is(err, sql.ErrNoRows) {
		return h, fmt.Errorf("%w: no held post %d", ErrNotFound, id)
	}
	return h, err
}

// Waiting returns how many posts wait for a moderator and since when the
// oldest has (zero time: none).
func Waiting(ctx context.Context, db *store.DB) (int, time.Time, error) {
	var n int
	var oldest int64
	if err := db.QueryRow(ctx, "held.count-waiting").Scan(&n, &oldest); err != nil {
		return 0, time.Time{}, err
	}
	return n, unix(oldest), nil
}

// RemoveMember unsubscribes email from list listID for an operator; how is
// recorded as the withdrawal ("operator: asked by phone"). It reports
// ErrNotMember when the address is not, or no longer, on the list.
func RemoveMember(ctx context.Context, db *store.DB, listID int64, email, how string, a audit.Actor, now time.Time) error {
	return db.Write(ctx, func(tx *store.Tx) error {
		l, err := get(tx, listID)
		if err != nil {
			return err
		}
		m, err := member(tx, listID, email)
		if err != nil {
			return err
		}
		ok, err := leave(tx, m, "operator: "+how, now)
		if err == nil && !ok {
			return fmt.Errorf("%w: %s left on %s", ErrNotMember, m.Email, m.LeftAt.Format("2006-01-02"))
		} else if err != nil {
			return err
		}
		return audit.Record(tx, a, now, "member.remove", l.Local(), m.Email+": "+oneLine(how))
	})
}

// ErrNotBouncing is returned by EnableMember for a member who is not
// bouncing.
var ErrNotBouncing = errors.New("lists: member is not bouncing")

// EnableMember sends mail again to a member set to bouncing, with the
// bounce score cleared (the member's own "reprendre" does the same).
func EnableMember(ctx context.Context, db *store.DB, listID int64, email string, a audit.Actor, now time.Time) error {
	return db.Write(ctx, func(tx *store.Tx) error {
		l, err := get(tx, listID)
		if err != nil {
			return err
		}
		m, err := member(tx, listID, email)
		if err != nil {
			return err
		}
		res, err := tx.Exec("member.enable", m.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: %s is %s", ErrNotBouncing, m.Email, m.State)
		}
		return audit.Record(tx, a, now, "member.enable", l.Local(), m.Email)
	})
}

// PostCount returns how many posts the archive of list listID holds.
func PostCount(ctx context.Context, db *store.DB, listID int64) (int, error) {
	var n int
	err := db.QueryRow(ctx, "post.count", listID).Scan(&n)
	return n, err
}

// Delete removes list listID with its members, held posts, tokens and
// archive: export the archive first to keep it. Copies already queued for
// its members are dropped at send time.
func Delete(ctx context.Context, db *store.DB, listID int64, a audit.Actor) error {
	return db.Write(ctx, func(tx *store.Tx) error {
		l, err := get(tx, listID)
		if err != nil {
			return err
		}
		if err := audit.Record(tx, a, time.Now(), "list.delete", l.Local(), ""); err != nil {
			return err
		}
		res, err := tx.Exec("list.delete", listID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}
