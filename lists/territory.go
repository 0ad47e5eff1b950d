package lists

import (
	"context"
	"database/sql"
	"errors"
	"sort"
	"strings"
	"time"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/store"
)

// Territory is the policy of the implicit lists CODE.groupes: the
// animators of every group under CODE, computed from the groups at send
// time. Animators of those groups and the hub's operators post; others are
// held for the operators.
const Territory = "territory"

// zoneAnimators returns the animators of every group inside code, each
// once.
func zoneAnimators(tx queryer, code address.Code) (map[string]bool, error) {
	rows, err := tx.Query("group.animators-all")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var gc, email string
		if err := rows.Scan(&gc, &email); err != nil {
			return nil, err
		}
		c, err := address.ParseCode(gc)
		if err == nil && code.Contains(c) {
			out[strings.ToLower(email)] = true
		}
	}
	return out, rows.Err()
}

// ZoneHasGroups says whether any group lies inside code: CODE.groupes
// exists only then.
func ZoneHasGroups(ctx context.Context, db *store.DB, code address.Code) (bool, error) {
	rows, err := db.Query(ctx, "group.codes")
	if err != nil {
		return false, err
	}
	defer rows.Close()
	for rows.Next() {
		var gc string
		if err := rows.Scan(&gc); err != nil {
			return false, err
		}
		if c, err := address.ParseCode(gc); err == nil && code.Contains(c) {
			return true, nil
		}
	}
	return false, rows.Err()
}

// Zone returns the list row of CODE.groupes inside tx, creating it the
// first time: it carries the archive and held posts; its owners are the
// hub's operators as configured now.
func (s *Service) Zone(tx *store.Tx, code address.Code) (List, error) {
	var id int64
	err := tx.QueryRow("list.id-by-address", code.String(), address.TerritoryName).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		l := List{Code: code, Name: address.TerritoryName, DisplayName: "Groupes " + code.String(), Policy: Territory,
			ReplyTo: "poster", SubjectPrefix: true, Lang: s.cfg.Lang, Archive: true, Auth: AuthStrict, Created: time.Now().Truncate(time.Second)}
		res, err := tx.Exec("list.insert", l.Code.String(), l.Name, l.DisplayName, l.Policy, l.ReplyTo, l.SubjectPrefix,
			l.Lang, l.MaxBytes, l.RatePerHour, l.Archive, l.Created.Unix(), l.Auth)
		if err != nil {
			return l, err
		}
		if id, err = res.LastInsertId(); err != nil {
			return l, err
		}
	} else if err != nil {
		return List{}, err
	}
	var owners []Owner
	for _, o := range s.cfg.Operators {
		owners = append(owners, Owner{Email: strings.ToLower(o), Role: "owner"})
	}
	if err := setOwners(tx, id, owners); err != nil {
		return List{}, err
	}
	return get(tx, id)
}

func zoneRecipients(tx queryer, code address.Code) ([]string, error) {
	m, err := zoneAnimators(tx, code)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(m))
	for e := range m {
		out = append(out, e)
	}
	sort.Strings(out)
	return out, nil
}
