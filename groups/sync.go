package groups

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/audit"
	"codeberg.org/relais/relais/store"
)

// Entry is one group as a movement's platform declares it: what Sync
// reads, line by line.
type Entry struct {
	Address   string   `json:"address"` // CODE.NAME
	Name      string   `json:"name"`
	Commune   string   `json:"commune,omitempty"`
	Animators []string `json:"animators"`
}

// Change is one difference Sync found.
type Change struct {
	Address string   `json:"address"`
	Action  string   `json:"action"` // create, update, remove
	Fields  []string `json:"fields,omitempty"`
}

// SyncReport says what Sync changed (or, dry, would change).
type SyncReport struct {
	DryRun    bool     `json:"dry_run"`
	Created   int      `json:"created"`
	Updated   int      `json:"updated"`
	Removed   int      `json:"removed"`
	Unchanged int      `json:"unchanged"`
	Changes   []Change `json:"changes"`
	// NeedsConfirmation: the removals are many (see RemovalsError); a
	// sync without allow_removals would be refused.
	NeedsConfirmation bool `json:"needs_confirmation,omitempty"`
}

// LineError is a line Sync refused: nothing was changed.
type LineError struct {
	Line    int    // 1-based, in the order given
	Address string // as given
	Err     error
}

func (e *LineError) Error() string {
	if e.Address != "" {
		return fmt.Sprintf("line %d (%s): %v", e.Line, e.Address, e.Err)
	}
	return fmt.Sprintf("line %d: %v", e.Line, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// ErrSync wraps the line errors of a refused sync.
var ErrSync = errors.New("groups: nothing synchronised")

// RemovalsError is a sync refused because it would remove more groups
// than a platform's list can plausibly mean to: every group the hub has,
// or more than MassRemoval groups and more than a tenth of them. An
// empty or truncated export (a platform bug, a paging error) would
// otherwise remove them all at once, their animators' console and their
// events' organisers with them. Nothing was changed; the same sync with
// allowRemovals >= Removed goes through.
type RemovalsError struct {
	Removed int // groups the sync would remove
	Have    int // groups the hub has
}

func (e *RemovalsError) Error() string {
	return fmt.Sprintf("groups: nothing synchronised: this list would remove %d of the hub's %d groups; "+
		"if that is meant, confirm with allow_removals=%d", e.Removed, e.Have, e.Removed)
}

// MassRemoval is the number of removals a sync makes without a
// confirmation whatever the share (see RemovalsError).
const MassRemoval = 10

// massRemoval says whether removing removed of have groups needs a
// confirmation.
func massRemoval(removed, have int) bool {
	if removed == 0 {
		return false
	}
	return removed == have || (removed > MassRemoval && removed*10 > have)
}

// Sync makes the hub's groups what entries say, as one transaction: groups
// not there are created, those that differ (name, commune, animators) are
// updated, those the hub has and entries do not are removed. Every line is
// checked first; if any is wrong, nothing changes and the error (ErrSync,
// with a *LineError per wrong line) names each. dryRun reports without
// changing. Each change is written to the audit log.
//
// A sync that would remove every group, or more than MassRemoval and more
// than a tenth of them, is refused with a *RemovalsError unless
// allowRemovals is at least the number it removes; a dry run reports it
// without refusing (NeedsConfirmation).
func Sync(ctx context.Context, db *store.DB, entries []Entry, dryRun bool, allowRemovals int, a audit.Actor, now time.Time) (SyncReport, error) {
	want := make([]Group, 0, len(entries))
	var errs []error
	seen := map[string]int{}
	for i, e := range entries {
		line := i + 1
		code, name, err := address.GroupLocal(strings.TrimSpace(e.Address))
		if err != nil {
			errs = append(errs, &LineError{Line: line, Address: e.Address, Err: err})
			continue
		}
		g := Group{Code: code, Name: name, DisplayName: strings.TrimSpace(e.Name), Commune: strings.TrimSpace(e.Commune),
			Animators: slices.Clone(e.Animators)}
		if err := g.Validate(); err != nil {
			errs = append(errs, &LineError{Line: line, Address: g.Local(), Err: err})
			continue
		}
		if prev, dup := seen[g.Local()]; dup {
			errs = append(errs, &LineError{Line: line, Address: g.Local(), Err: fmt.Errorf("already on line %d", prev)})
			continue
		}
		seen[g.Local()] = line
		want = append(want, g)
	}
	if len(errs) > 0 {
		return SyncReport{}, fmt.Errorf("%w: %w", ErrSync, errors.Join(errs...))
	}
	rep := SyncReport{DryRun: dryRun, Changes: []Change{}}
	errRollback := errors.New("dry run")
	err := db.Write(ctx, func(tx *store.Tx) error {
		rep = SyncReport{DryRun: dryRun, Changes: []Change{}}
		have, err := all(tx)
		if err != nil {
			return err
		}
		byLocal := map[string]Group{}
		for _, g := range have {
			byLocal[g.Local()] = g
		}
		var lineErrs []error
		for i, g := range want {
			old, ok := byLocal[g.Local()]
			delete(byLocal, g.Local())
			if !ok {
				var n int
				if err := tx.QueryRow("list.id-count", g.Code.String(), g.Name).Scan(&n); err != nil {
					return err
				}
				if n > 0 {
					lineErrs = append(lineErrs, &LineError{Line: seen[g.Local()], Address: g.Local(), Err: errors.New("a list has this address")})
					continue
				}
				g.Created = now.Truncate(time.Second)
				if _, err := tx.Exec("group.insert", g.Code.String(), g.Name, g.DisplayName, strings.ToUpper(g.Commune), now.Unix()); err != nil {
					return err
				}
				var id int64
				if err := tx.QueryRow("group.id-by-address", g.Code.String(), g.Name).Scan(&id); err != nil {
					return err
				}
				if err := setAnimators(tx, id, g.Animators); err != nil {
					return err
				}
				rep.Created++
				rep.Changes = append(rep.Changes, Change{Address: g.Local(), Action: "create"})
				if err := audit.Record(tx, a, now, "group.create", g.Local(), strings.Join(g.Animators, " ")); err != nil {
					return err
				}
				continue
			}
			_ = i
			fields := differ(old, g)
			if len(fields) == 0 {
				rep.Unchanged++
				continue
			}
			if _, err := tx.Exec("group.update", g.DisplayName, strings.ToUpper(g.Commune), old.ID); err != nil {
				return err
			}
			if slices.Contains(fields, "animators") {
				if err := setAnimators(tx, old.ID, g.Animators); err != nil {
					return err
				}
			}
			rep.Updated++
			rep.Changes = append(rep.Changes, Change{Address: g.Local(), Action: "update", Fields: fields})
			if err := audit.Record(tx, a, now, "group.update", g.Local(), strings.Join(fields, ", ")); err != nil {
				return err
			}
		}
		if len(lineErrs) > 0 {
			return fmt.Errorf("%w: %w", ErrSync, errors.Join(lineErrs...))
		}
		gone := make([]Group, 0, len(byLocal))
		for _, g := range byLocal {
			gone = append(gone, g)
		}
		slices.SortFunc(gone, func(a, b Group) int { return strings.Compare(a.Local(), b.Local()) })
		if massRemoval(len(gone), len(have)) && allowRemovals < len(gone) {
			if !dryRun {
				return &RemovalsError{Removed: len(gone), Have: len(have)}
			}
			rep.NeedsConfirmation = true
		}
		for _, g := range gone {
			if _, err := tx.Exec("group.delete", g.ID); err != nil {
				return err
			}
			removed(tx)
			rep.Removed++
			rep.Changes = append(rep.Changes, Change{Address: g.Local(), Action: "remove"})
			if err := audit.Record(tx, a, now, "group.remove", g.Local(), ""); err != nil {
				return err
			}
		}
		if dryRun {
			return errRollback // the report stays; the changes go
		}
		return nil
	})
	if errors.Is(err, errRollback) {
		err = nil
	}
	return rep, err
}

// differ names the fields of g that differ from old.
func differ(old, g Group) []string {
	var out []string
	if old.DisplayName != g.DisplayName {
		out = append(out, "name")
	}
	if !strings.EqualFold(old.Commune, g.Commune) {
		out = append(out, "commune")
	}
	norm := func(as []string) []string {
		out := make([]string, len(as))
		for i, a := range as {
			out[i] = strings.ToLower(a)
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	if !slices.Equal(norm(old.Animators), norm(g.Animators)) {
		out = append(out, "animators")
	}
	return out
}

// all reads every group with its animators inside tx.
func all(tx *store.Tx) ([]Group, error) {
	rows, err := tx.Query("group.list")
	if err != nil {
		return nil, err
	}
	var out []Group
	index := map[int64]int{}
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		index[g.ID] = len(out)
		out = append(out, g)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	rows, err = tx.Query("animator.all")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var a string
		if err := rows.Scan(&id, &a); err != nil {
			return nil, err
		}
		if i, ok := index[id]; ok {
			out[i].Animators = append(out[i].Animators, a)
		}
	}
	return out, rows.Err()
}

// Save creates or updates one group for the console or the API, with its
// audit record: created says which.
func Save(ctx context.Context, db *store.DB, g Group, create bool, a audit.Actor, now time.Time) (Group, error) {
	if err := g.Validate(); err != nil {
		return g, err
	}
	err := db.Write(ctx, func(tx *store.Tx) error {
		var id int64
		err := tx.QueryRow("group.id-by-address", g.Code.String(), g.Name).Scan(&id)
		switch {
		case err == nil && create:
			return fmt.Errorf("%w: %s", ErrExists, g.Local())
		case err != nil && !create:
			return fmt.Errorf("%w: %s", ErrNotFound, g.Local())
		case create:
			var n int
			if err := tx.QueryRow("list.id-count", g.Code.String(), g.Name).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return fmt.Errorf("%w: a list has the address %s", ErrExists, g.Local())
			}
			if err := insert(tx, &g); err != nil {
				return err
			}
			return audit.Record(tx, a, now, "group.create", g.Local(), strings.Join(g.Animators, " "))
		}
		g.ID = id
		if _, err := tx.Exec("group.update", g.DisplayName, strings.ToUpper(g.Commune), id); err != nil {
			return err
		}
		if err := setAnimators(tx, id, g.Animators); err != nil {
			return err
		}
		return audit.Record(tx, a, now, "group.update", g.Local(), strings.Join(g.Animators, " "))
	})
	return g, err
}

// Delete removes one group for the console or the API.
func Delete(ctx context.Context, db *store.DB, local string, a audit.Actor, now time.Time) error {
	code, name, err := address.GroupLocal(local)
	if err != nil {
		return err
	}
	return db.Write(ctx, func(tx *store.Tx) error {
		var id int64
		if err := tx.QueryRow("group.id-by-address", code.String(), name).Scan(&id); err != nil {
			return fmt.Errorf("%w: %s", ErrNotFound, local)
		}
		if _, err := tx.Exec("group.delete", id); err != nil {
			return err
		}
		removed(tx)
		return audit.Record(tx, a, now, "group.remove", code.Local()+"."+name, "")
	})
}

// Get reads one group by its local part.
func Get(ctx context.Context, db *store.DB, local string) (Group, error) {
	code, name, err := address.GroupLocal(local)
	if err != nil {
		return Group{}, err
	}
	id, err := Lookup(ctx, db, code, name)
	if err != nil {
		return Group{}, err
	}
	return ByID(ctx, db, id)
}

// ByID reads group id with its animators.
func ByID(ctx context.Context, db *store.DB, id int64) (Group, error) {
	return get(db.Reader(ctx), id)
}
