package events

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"codeberg.org/relais/relais/store"
)

// Outcome is what saving an event did.
type Outcome string

// Outcomes of Save.
const (
	Created   Outcome = "created"
	Updated   Outcome = "updated"
	Joined    Outcome = "joined"    // the same event from another group: now organised together
	Withdrawn Outcome = "cancelled" // the event is cancelled now
	Stale     Outcome = "stale"     // an older copy (lower SEQUENCE): nothing changed
	Unknown   Outcome = "unknown"   // a cancellation of an event the hub does not have
	Refused   Outcome = "refused"   // a change to another group's event: only its organisers may
)

// ErrNotFound is returned for an event the hub does not have.
var ErrNotFound = errors.New("events: no such event")

// Save stores e as organised by groupID (a group's id), following RFC 5546:
// a new UID is a new event; the same UID with a higher SEQUENCE (or the
// same, from a form) replaces it; a lower one is an old copy; the same UID
// from another group adds that group (a joint event). A cancellation marks
// the event cancelled; it is kept so that feeds and digests can say so.
//
// Save is for the operator (imports, the demo); SaveAs for a group's
// animator publishing by mail.
func Save(tx *store.Tx, e *Event, groupID int64, now time.Time) (Outcome, error) {
	return SaveAs(tx, e, groupID, "", now)
}

// SaveAs is Save for an event published by publisher, an animator of
// groupID. Joining an existing event takes an animator of a group that
// already organises it (the organiser sends the invitation to both groups'
// +agenda addresses): UIDs are public in the feeds, and whoever joins an
// event may then change or cancel it.
func SaveAs(tx *store.Tx, e *Event, groupID int64, publisher string, now time.Time) (Outcome, error) {
	var id int64
	var seq int
	var status string
	err := tx.QueryRow("event.by-uid", e.UID).Scan(&id, &seq, &status)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if e.Status == Cancelled && e.Start.IsZero() {
			return Unknown, nil
		}
		res, err := tx.Exec("event.insert", e.UID, e.Sequence, e.Title, e.Details, e.Start.Unix(), e.End.Unix(), e.AllDay,
			e.Zone, e.Place, e.PostCode, e.INSEE, e.Lat, e.Lon, e.Located, strings.Join(e.Themes, ","), e.Public, e.Status,
			e.URL, now.Unix(), now.Unix())
		if err != nil {
			return "", fmt.Errorf("save event: %w", err)
		}
		if e.ID, err = res.LastInsertId(); err != nil {
			return "", err
		}
		e.Created, e.Updated = now, now
		if err := setThemes(tx, e.ID, e.Themes); err != nil {
			return "", err
		}
		_, err = tx.Exec("event.add-group", e.ID, groupID)
		if e.Status == Cancelled {
			return Withdrawn, err
		}
		return Created, err
	case err != nil:
		return "", fmt.Errorf("save event: %w", err)
	}
	e.ID = id
	var organiser int
	if err := tx.QueryRow("event.has-group", id, groupID).Scan(&organiser); err != nil {
		return "", err
	}
	if organiser == 0 && (e.Status == Cancelled || e.Sequence > seq) {
		// Another group may join the same invitation, not change or
		// cancel someone else's event (its UID is public in the feeds).
		return Refused, nil
	}
	if organiser == 0 && publisher != "" {
		var animates int
		if err := tx.QueryRow("event.organiser-animator", id, publisher).Scan(&animates); err != nil {
			return "", err
		}
		if animates == 0 {
			return Refused, nil
		}
	}
	res, err := tx.Exec("event.add-group", id, groupID)
	if err != nil {
		return "", err
	}
	added, _ := res.RowsAffected()
	switch {
	case e.Sequence < seq:
		if added > 0 {
			return Joined, nil
		}
		return Stale, nil
	case e.Status == Cancelled:
		if status == Cancelled {
			return Stale, nil
		}
		_, err := tx.Exec("event.cancel", max(e.Sequence, seq), now.Unix(), id)
		return Withdrawn, err
	case e.Sequence == seq && added > 0:
		// The same invitation sent to several groups' +agenda addresses.
		return Joined, nil
	}
	if e.Start.IsZero() {
		return Stale, nil
	}
	if _, err := tx.Exec("event.update", e.Sequence, e.Title, e.Details, e.Start.Unix(), e.End.Unix(), e.AllDay, e.Zone,
		e.Place, e.PostCode, e.INSEE, e.Lat, e.Lon, e.Located, strings.Join(e.Themes, ","), e.Public, e.Status, e.URL,
		now.Unix(), id); err != nil {
		return "", fmt.Errorf("update event: %w", err)
	}
	e.Updated = now
	return Updated, setThemes(tx, id, e.Themes)
}

func setThemes(tx *store.Tx, id int64, themes []string) error {
	if _, err := tx.Exec("event.clear-themes", id); err != nil {
		return err
	}
	for _, t := range themes {
		if _, err := tx.Exec("event.add-theme", t, id); err != nil {
			return err
		}
	}
	return nil
}

type scanner interface{ Scan(...any) error }

func scan(row scanner) (Event, error) {
	var e Event
	var start, end, created, updated int64
	var themes string
	err := row.Scan(&e.ID, &e.UID, &e.Sequence, &e.Title, &e.Details, &start, &end, &e.AllDay, &e.Zone, &e.Place,
		&e.PostCode, &e.INSEE, &e.Lat, &e.Lon, &e.Located, &themes, &e.Public, &e.Status, &e.URL, &created, &updated)
	if err != nil {
		return e, err
	}
	e.Start, e.End, e.Created, e.Updated = time.Unix(start, 0), time.Unix(end, 0), time.Unix(created, 0), time.Unix(updated, 0)
	if themes != "" {
		e.Themes = strings.Split(themes, ",")
	}
	return e, nil
}

// Get reads one event with its organising groups.
func Get(ctx context.Context, db *store.DB, id int64) (Event, error) {
	e, err := scan(db.QueryRow(ctx, "event.get", id))
	if errors.Is(err, sql.ErrNoRows) {
		return e, ErrNotFound
	} else if err != nil {
		return e, err
	}
	rows, err := db.Query(ctx, "event.groups", id)
	if err != nil {
		return e, err
	}
	defer rows.Close()
	for rows.Next() {
		var code, name, display string
		var gid int64
		if err := rows.Scan(&code, &name, &gid, &display); err != nil {
			return e, err
		}
		e.Groups, e.GroupIDs, e.Names = append(e.Groups, strings.ToLower(code)+"."+name), append(e.GroupIDs, gid), append(e.Names, display)
	}
	return e, rows.Err()
}

// Window reads the events that overlap [from, to), in date order, with
// their organising groups.
func Window(ctx context.Context, db *store.DB, from, to time.Time) ([]Event, error) {
	rows, err := db.Query(ctx, "event.window", to.Unix(), from.Unix())
	if err != nil {
		return nil, err
	}
	var out []Event
	index := map[int64]int{}
	for rows.Next() {
		e, err := scan(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		index[e.ID] = len(out)
		out = append(out, e)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	rows, err = db.Query(ctx, "event.all-groups", to.Unix(), from.Unix())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, gid int64
		var code, name, display string
		if err := rows.Scan(&id, &code, &name, &gid, &display); err != nil {
			return nil, err
		}
		if i, ok := index[id]; ok {
			e := &out[i]
			e.Groups, e.GroupIDs, e.Names = append(e.Groups, strings.ToLower(code)+"."+name), append(e.GroupIDs, gid), append(e.Names, display)
		}
	}
	return out, rows.Err()
}

// Of reads upcoming events (ending after now) of a feed: query is
// event.of-group, event.of-theme or event.of-zone with its arguments.
func Of(ctx context.Context, db *store.DB, query string, args ...any) ([]Event, error) {
	rows, err := db.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		var dst = []any{&id}
		if query == "event.of-zone" {
			dst = append(dst, new(int64))
		}
		if err := rows.Scan(dst...); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	out := make([]Event, 0, len(ids))
	for _, id := range ids {
		e, err := Get(ctx, db, id)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// GetTx reads one event inside a transaction (without its groups).
func GetTx(tx *store.Tx, id int64) (Event, error) {
	e, err := scan(tx.QueryRow("event.get", id))
	if errors.Is(err, sql.ErrNoRows) {
		return e, ErrNotFound
	}
	return e, err
}

// PublicByUID reads the public event uid names, with its organising
// groups; ErrNotFound when there is none, members-only or not there: the
// two are one answer.
func PublicByUID(ctx context.Context, db *store.DB, uid string) (Event, error) {
	var id int64
	err := db.QueryRow(ctx, "event.public-by-uid", uid).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return Event{}, ErrNotFound
	} else if err != nil {
		return Event{}, err
	}
	return Get(ctx, db, id)
}

// PublicTheme reports whether some public event has theme (as ParseTheme
// returns it).
func PublicTheme(ctx context.Context, db *store.DB, theme string) (bool, error) {
	var one int
	err := db.QueryRow(ctx, "event.public-theme", theme).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// FormUID is the UID of an event written as a form by group groupID: that
// of the event the group already made from the same form (same title and
// start), so that sending it twice changes nothing; otherwise a new one
// (NewUID).
func FormUID(tx *store.Tx, groupID int64, e Event, host string) (string, error) {
	var uid string
	err := tx.QueryRow("event.same-form", groupID, e.Start.Unix(), strings.TrimSpace(e.Title)).Scan(&uid)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return NewUID(host), nil
	case err != nil:
		return "", err
	}
	return uid, nil
}
