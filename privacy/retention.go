package privacy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"codeberg.org/relais/relais/store"
)

// Policy is how long each kind of record is kept (config's [retention]
// and queue.keep).
type Policy struct {
	Messages   time.Duration // message bodies, with their delivery records and bounces (queue.keep)
	Tickets    time.Duration // closed tickets, after closing
	Held       time.Duration // held posts (record and body), after their decision or expiry
	Attendance time.Duration // attendance, after the event ends
	Consent    time.Duration // consent records of departed members, after leaving
	Archive    time.Duration // list posts, unless the list says otherwise; 0 for ever
	Digests    time.Duration // records of weekly digests sent
	// AgendaStopped: agenda records that are off (never confirmed, or
	// stopped), after their last change
	AgendaStopped time.Duration
	Audit         time.Duration // audit log entries, after writing
}

// Item is one kind of record and how many of them are past their period.
type Item struct {
	Kind   string    // messages, deliveries, bounces, tickets, held, attendance, consent, archive, digests
	Scope  string    // the list, for archive
	Count  int64     // records deleted (or that would be)
	Before time.Time // the cut-off: records dated at or before it go
}

// ListRetention is a list's own archive setting.
type ListRetention struct {
	ID    int64
	List  string        // CODE.NAME
	Keep  time.Duration // 0: the hub's retention.archive; <0: for ever
	Erase string        // what erasing a member does to their posts: delete, keep
}

// Lists returns each list's archive setting.
func Lists(ctx context.Context, db *store.DB) ([]ListRetention, error) {
	rows, err := db.Query(ctx, "retain.lists")
	if err != nil {
		return nil, err
	}
	var out []ListRetention
	for rows.Next() {
		var l ListRetention
		var code, name string
		var keep int64
		if err := rows.Scan(&l.ID, &code, &name, &keep, &l.Erase); err != nil {
			rows.Close()
			return nil, err
		}
		l.List, l.Keep = code+"."+name, time.Duration(keep)*time.Second
		out = append(out, l)
	}
	return out, errors.Join(rows.Err(), rows.Close())
}

// SetList sets a list's archive retention (0: the hub's, <0: for ever) and
// what erasing a member does to their posts (delete or keep).
func SetList(ctx context.Context, db *store.DB, listID int64, keep time.Duration, erase string) error {
	if erase != "delete" && erase != "keep" {
		return fmt.Errorf("erased members' posts: delete or keep, not %q", erase)
	}
	if keep > 0 && keep < 8*24*time.Hour {
		return errors.New("an archive is kept at least 192h (8 days), so weekly digests find their posts")
	}
	secs := int64(keep / time.Second)
	if keep < 0 {
		secs = -1
	}
	return db.Write(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec("list.set-retention", secs, erase, listID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errors.New("no such list")
		}
		return nil
	})
}

// Retain deletes every record whose retention period has run at now (or,
// with dryRun, only counts them) and says how many of each kind. A record
// goes when now reaches its date plus its period, not a second before.
func Retain(ctx context.Context, db *store.DB, p Policy, now time.Time, dryRun bool) ([]Item, error) {
	ls, err := Lists(ctx, db)
	if err != nil {
		return nil, err
	}
	cut := func(d time.Duration) int64 { return now.Add(-d).Unix() }
	var items []Item
	r := db.Reader(ctx)
	var msgs, dels, bounces int64
	if err := r.QueryRow("retain.messages-count", cut(p.Messages)).Scan(&msgs, &dels, &bounces); err != nil {
		return nil, err
	}
	before := func(d time.Duration) time.Time { return time.Unix(cut(d), 0) }
	items = append(items,
		Item{Kind: "messages", Count: msgs, Before: before(p.Messages)},
		Item{Kind: "deliveries", Count: dels, Before: before(p.Messages)},
		Item{Kind: "bounces", Count: bounces, Before: before(p.Messages)})
	simple := []struct {
		kind, count, del string
		d                time.Duration
	}{
		{"tickets", "retain.tickets-count", "retain.tickets", p.Tickets},
		{"held", "retain.held-count", "retain.held", p.Held},
		{"attendance", "retain.attendance-count", "retain.attendance", p.Attendance},
		{"digests", "retain.digests-count", "retain.digests", p.Digests},
		{"agenda", "retain.agenda-count", "retain.agenda", p.AgendaStopped},
		{"audit", "retain.audit-count", "audit.delete-old", p.Audit},
		// "sessions": the web's links, spent links and sessions at their
		// expiry; link requests after a day (the hourly caps' counts).
		{"sessions", "retain.web-count", "retain.web-links", 0},
	}
	for _, s := range simple {
		var n int64
		if err := r.QueryRow(s.count, cut(s.d)).Scan(&n); err != nil {
			return nil, err
		}
		items = append(items, Item{Kind: s.kind, Count: n, Before: before(s.d)})
	}
	type departed struct {
		id, list int64
		email    string
	}
	var gone []departed
	rows, err := r.Query("retain.departed", cut(p.Consent))
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var d departed
		if err := rows.Scan(&d.id, &d.list, &d.email); err != nil {
			rows.Close()
			return nil, err
		}
		gone = append(gone, d)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	items = append(items, Item{Kind: "consent", Count: int64(len(gone)), Before: before(p.Consent)})
	type archive struct {
		id  int64
		cut int64
	}
	var archives []archive
	for _, l := range ls {
		keep := l.Keep
		if keep == 0 {
			keep = p.Archive
		}
		if keep <= 0 {
			continue // for ever
		}
		var n int64
		if err := r.QueryRow("retain.posts-count", l.ID, cut(keep)).Scan(&n); err != nil {
			return nil, err
		}
		items = append(items, Item{Kind: "archive", Scope: l.List, Count: n, Before: before(keep)})
		archives = append(archives, archive{l.ID, cut(keep)})
	}
	if dryRun {
		return items, nil
	}
	var secret []byte
	if len(gone) > 0 {
		if secret, err = db.Secret(ctx, store.ErasureSecret); err != nil {
			return nil, err
		}
	}
	err = db.Write(ctx, func(tx *store.Tx) error {
		for _, s := range simple {
			if _, err := tx.Exec(s.del, cut(s.d)); err != nil {
				return err
			}
		}
		for _, q := range []string{"retain.web-spent", "retain.web-sessions", "retain.web-requests", "retain.web-signouts"} {
			if _, err := tx.Exec(q, now.Unix()); err != nil {
				return err
			}
		}
		// After the held posts: a held post's body goes with its record.
		if _, err := tx.Exec("message.delete-old", cut(p.Messages)); err != nil {
			return err
		}
		for _, d := range gone {
			// The withdrawal outlives the record as a keyed hash: an old
			// import does not subscribe them again.
			if _, err := tx.Exec("retain.withdrawal", d.list, store.PersonMAC(secret, d.email), now.Unix()); err != nil {
				return err
			}
			if _, err := tx.Exec("retain.member", d.id, cut(p.Consent)); err != nil {
				return err
			}
		}
		for _, a := range archives {
			if _, err := tx.Exec("retain.posts", a.id, a.cut); err != nil {
				return err
			}
		}
		return nil
	})
	return items, err
}
