package lists

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/internal/csvfile"
	"codeberg.org/relais/relais/store"
)

// CSVColumns are the columns of a list import: address and owners are
// required (owners may come from the template instead), policy and name
// override the template.
var CSVColumns = []string{"address", "owners", "policy", "name"}

// ImportResult says what an import did.
type ImportResult struct{ Created, Updated int }

// ImportCSV creates many lists at once from r (UTF-8, comma or semicolon
// separated, with a header line), each from the settings of tmpl (a
// "family", as Sympa calls it) and its own line; lists that exist get the
// line's owners and the template's settings. Every line is checked first:
// if any is wrong, nothing is imported and the error names every wrong
// line.
func ImportCSV(ctx context.Context, db *store.DB, r io.Reader, tmpl List) (ImportResult, error) {
	rows, err := readCSV(r, tmpl)
	if err != nil {
		return ImportResult{}, err
	}
	var res ImportResult
	err = db.Write(ctx, func(tx *store.Tx) error {
		res = ImportResult{}
		for _, l := range rows {
			var id int64
			err := tx.QueryRow("list.id-by-address", l.Code.String(), l.Name).Scan(&id)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				if err := create(tx, &l); err != nil {
					return err
				}
				res.Created++
			case err != nil:
				return err
			default:
				l.ID = id
				if err := update(tx, &l); err != nil {
					return err
				}
				res.Updated++
			}
		}
		return nil
	})
	return res, err
}

func readCSV(r io.Reader, tmpl List) ([]List, error) {
	f, err := csvfile.Read(r)
	if err != nil {
		return nil, fmt.Errorf("lists: %w", err)
	}
	if !f.Has("address") {
		return nil, fmt.Errorf("lists: the CSV header must name the columns %s; \"address\" is missing", strings.Join(CSVColumns, ", "))
	}
	var out []List
	var errs []error
	seen := map[string]int{}
	for _, row := range f.Rows {
		line, field := row.Line, row.Field
		if row.Err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", line, row.Err))
			continue
		}
		code, name, err := address.GroupLocal(field("address"))
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", line, err))
			continue
		}
		l := tmpl
		l.Code, l.Name, l.DisplayName = code, name, field("name")
		if p := field("policy"); p != "" {
			l.Policy = p
		}
		l.Owners = append([]Owner(nil), tmpl.Owners...)
		for _, o := range csvfile.SplitList(field("owners")) {
			l.Owners = append(l.Owners, Owner{Email: o, Role: "owner"})
		}
		if err := l.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("line %d (%s): %w", line, l.Local(), err))
			continue
		}
		if prev, dup := seen[l.Local()]; dup {
			errs = append(errs, fmt.Errorf("line %d: %s is already on line %d", line, l.Local(), prev))
			continue
		}
		seen[l.Local()] = line
		out = append(out, l)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("lists: nothing imported: %w", errors.Join(errs...))
	}
	return out, nil
}
