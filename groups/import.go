package groups

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

// CSVColumns are the columns ImportCSV reads, in any order, named on the
// first line. animators holds one or more addresses separated by spaces,
// commas or semicolons.
var CSVColumns = []string{"address", "name", "commune", "animators"}

// ImportResult says what an import did.
type ImportResult struct {
	Created, Updated int
}

// ImportCSV reads groups from r (UTF-8, comma or semicolon separated, with a
// header line) and creates them, or updates those that exist. Every line is
// checked first: if any is wrong, nothing is imported and the error lists
// every wrong line with its number.
func ImportCSV(ctx context.Context, db *store.DB, r io.Reader) (ImportResult, error) {
	rows, err := readCSV(r)
	if err != nil {
		return ImportResult{}, err
	}
	var res ImportResult
	err = db.Write(ctx, func(tx *store.Tx) error {
		res = ImportResult{}
		for _, g := range rows {
			var id int64
			err := tx.QueryRow("group.id-by-address", g.Code.String(), g.Name).Scan(&id)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				if err := insert(tx, &g); err != nil {
					return err
				}
				res.Created++
			case err != nil:
				return err
			default:
				if _, err := tx.Exec("group.update", g.DisplayName, strings.ToUpper(g.Commune), id); err != nil {
					return err
				}
				if err := setAnimators(tx, id, g.Animators); err != nil {
					return err
				}
				res.Updated++
			}
		}
		return nil
	})
	return res, err
}

func readCSV(r io.Reader) ([]Group, error) {
	f, err := csvfile.Read(r)
	if err != nil {
		return nil, fmt.Errorf("groups: %w", err)
	}
	for _, c := range CSVColumns {
		if !f.Has(c) && c != "commune" {
			return nil, fmt.Errorf("groups: CSV header must name the columns %s; %q is missing", strings.Join(CSVColumns, ", "), c)
		}
	}
	var out []Group
	var errs []error
	seen := make(map[string]int)
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
		g := Group{Code: code, Name: name, DisplayName: field("name"), Commune: field("commune"),
			Animators: csvfile.SplitList(field("animators"))}
		if err := g.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("line %d (%s): %w", line, g.Local(), err))
			continue
		}
		if prev, dup := seen[g.Local()]; dup {
			errs = append(errs, fmt.Errorf("line %d: %s is already on line %d", line, g.Local(), prev))
			continue
		}
		seen[g.Local()] = line
		out = append(out, g)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("groups: nothing imported: %w", errors.Join(errs...))
	}
	return out, nil
}
