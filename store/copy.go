package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// TableCount is one table of a copy: its rows in the source and in the
// target once copied.
type TableCount struct {
	Table          string
	Source, Target int64
}

// ErrTargetNotEmpty: Copy writes only into a database that holds nothing
// yet.
var ErrTargetNotEmpty = errors.New("store: the target database already holds data")

// Copy copies every row of src, a SQLite database, into dst, a PostgreSQL
// database with the same schema version and no data (`relais store copy`):
// one read transaction on src (a consistent snapshot, the hub may run),
// one write transaction on dst, tables in the order their foreign keys
// need, ids kept, identity sequences moved past the highest id SQLite ever
// gave (its AUTOINCREMENT counters), and the rows of each table counted on
// both sides before the commit: any difference and nothing is committed.
// progress, if set, is told of each table as it is copied.
func Copy(ctx context.Context, src, dst *DB, progress func(table string, rows int64)) ([]TableCount, error) {
	if src.pg != nil || dst.pg == nil {
		return nil, errors.New("store: copy goes from SQLite to PostgreSQL")
	}
	sv, err := src.SchemaVersion(ctx)
	if err != nil {
		return nil, err
	}
	dv, err := dst.SchemaVersion(ctx)
	if err != nil {
		return nil, err
	}
	if sv != dv {
		return nil, fmt.Errorf("store: schema versions differ: SQLite %d, PostgreSQL %d", sv, dv)
	}
	tables, err := dst.tablesInOrder(ctx)
	if err != nil {
		return nil, err
	}
	for _, t := range tables {
		var n int64
		if err := dst.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+quoteIdent(t.name)).Scan(&n); err != nil {
			return nil, err
		}
		if n > 0 && t.name != "events_version" {
			return nil, fmt.Errorf("%w (%s: %d rows)", ErrTargetNotEmpty, t.name, n)
		}
	}
	rtx, err := src.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("store: copy: %w", err)
	}
	defer rtx.Rollback()
	conn, err := dst.w.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var out []TableCount
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		tx, err := pc.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		for _, t := range tables {
			c := TableCount{Table: t.name}
			if err := rtx.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+quoteIdent(t.name)).Scan(&c.Source); err != nil {
				return fmt.Errorf("store: count %s in SQLite: %w", t.name, err)
			}
			if t.name == "events_version" {
				// One row, kept by triggers: the source's counter.
				var n int64
				if err := rtx.QueryRowContext(ctx, "SELECT n FROM events_version").Scan(&n); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, "DELETE FROM events_version"); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, "INSERT INTO events_version (n) VALUES ($1)", n); err != nil {
					return err
				}
			} else if c.Source > 0 {
				if err := copyTable(ctx, rtx, tx, t); err != nil {
					return fmt.Errorf("store: copy %s: %w", t.name, err)
				}
			}
			if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM "+quoteIdent(t.name)).Scan(&c.Target); err != nil {
				return err
			}
			if t.identity != "" {
				if err := moveSequence(ctx, rtx, tx, t); err != nil {
					return fmt.Errorf("store: sequence of %s: %w", t.name, err)
				}
			}
			out = append(out, c)
			if progress != nil {
				progress(t.name, c.Target)
			}
		}
		var bad []string
		for _, c := range out {
			if c.Source != c.Target {
				bad = append(bad, fmt.Sprintf("%s (SQLite %d, PostgreSQL %d)", c.Table, c.Source, c.Target))
			}
		}
		if len(bad) > 0 {
			return fmt.Errorf("store: copy: counts differ, nothing copied: %s", strings.Join(bad, ", "))
		}
		return tx.Commit(ctx)
	})
	return out, err
}

// pgTable is a table of the PostgreSQL schema as Copy needs it.
type pgTable struct {
	name     string
	cols     []string // not generated
	types    []string // their data types
	identity string   // the identity column, if any
}

// tablesInOrder lists the schema's tables, each after those its foreign
// keys name.
func (db *DB) tablesInOrder(ctx context.Context) ([]pgTable, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT c.table_name, c.column_name, c.data_type, c.is_identity
		FROM information_schema.columns c JOIN information_schema.tables t
		  ON t.table_schema = c.table_schema AND t.table_name = c.table_name
		WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.is_generated = 'NEVER'
		  AND c.table_name != 'schema_version'
		ORDER BY c.table_name, c.ordinal_position`)
	if err != nil {
		return nil, err
	}
	byName := map[string]*pgTable{}
	var names []string
	for rows.Next() {
		var t, c, typ, ident string
		if err := rows.Scan(&t, &c, &typ, &ident); err != nil {
			rows.Close()
			return nil, err
		}
		pt := byName[t]
		if pt == nil {
			pt = &pgTable{name: t}
			byName[t] = pt
			names = append(names, t)
		}
		pt.cols = append(pt.cols, c)
		pt.types = append(pt.types, typ)
		if ident == "YES" {
			pt.identity = c
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	deps := map[string][]string{}
	rows, err = db.r.QueryContext(ctx, `SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint
		WHERE contype = 'f' AND connamespace = current_schema()::regnamespace`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var from, to string
		if err := rows.Scan(&from, &to); err != nil {
			rows.Close()
			return nil, err
		}
		deps[from] = append(deps[from], to)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	var out []pgTable
	done := map[string]bool{}
	var visit func(string)
	visit = func(n string) {
		if done[n] || byName[n] == nil {
			return
		}
		done[n] = true
		for _, d := range deps[n] {
			if d != n {
				visit(d)
			}
		}
		out = append(out, *byName[n])
	}
	for _, n := range names {
		visit(n)
	}
	return out, nil
}

// copyTable streams a table's rows from SQLite into PostgreSQL with COPY,
// each value in the type of its PostgreSQL column.
func copyTable(ctx context.Context, rtx *sql.Tx, tx pgx.Tx, t pgTable) error {
	quoted := make([]string, len(t.cols))
	for i, c := range t.cols {
		quoted[i] = quoteIdent(c)
	}
	rows, err := rtx.QueryContext(ctx, "SELECT "+strings.Join(quoted, ", ")+" FROM "+quoteIdent(t.name))
	if err != nil {
		return err
	}
	defer rows.Close()
	src := &sqliteRows{rows: rows, types: t.types, vals: make([]any, len(t.cols))}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.cols, src); err != nil {
		return err
	}
	return rows.Err()
}

// sqliteRows is a pgx.CopyFromSource over SQLite rows.
type sqliteRows struct {
	rows  *sql.Rows
	types []string
	vals  []any
	err   error
}

func (s *sqliteRows) Next() bool { return s.rows.Next() }
func (s *sqliteRows) Err() error { return errors.Join(s.err, s.rows.Err()) }

func (s *sqliteRows) Values() ([]any, error) {
	ptrs := make([]any, len(s.vals))
	for i := range s.vals {
		ptrs[i] = &s.vals[i]
	}
	if err := s.rows.Scan(ptrs...); err != nil {
		s.err = err
		return nil, err
	}
	out := make([]any, len(s.vals))
	for i, v := range s.vals {
		out[i] = convertFor(s.types[i], v)
	}
	return out, nil
}

// convertFor turns a value as SQLite gives it (its types are the values',
// not the columns') into the type of a PostgreSQL column.
func convertFor(typ string, v any) any {
	switch typ {
	case "bytea":
		if s, ok := v.(string); ok {
			return []byte(s)
		}
	case "text":
		if b, ok := v.([]byte); ok {
			return string(b)
		}
	case "bigint", "integer":
		switch x := v.(type) {
		case float64:
			return int64(x)
		case bool:
			if x {
				return int64(1)
			}
			return int64(0)
		}
	case "double precision":
		if x, ok := v.(int64); ok {
			return float64(x)
		}
	}
	return v
}

// moveSequence sets the identity sequence of t past both its highest id
// and the highest SQLite ever gave (sqlite_sequence), so that no id is
// given twice, even one whose row was deleted.
func moveSequence(ctx context.Context, rtx *sql.Tx, tx pgx.Tx, t pgTable) error {
	var seq sql.NullInt64
	err := rtx.QueryRowContext(ctx, "SELECT seq FROM sqlite_sequence WHERE name = ?", t.name).Scan(&seq)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	var max int64
	if err := tx.QueryRow(ctx, fmt.Sprintf("SELECT COALESCE(MAX(%s), 0) FROM %s", quoteIdent(t.identity), quoteIdent(t.name))).Scan(&max); err != nil {
		return err
	}
	if seq.Int64 > max {
		max = seq.Int64
	}
	if max == 0 {
		return nil
	}
	_, err = tx.Exec(ctx, "SELECT setval(pg_get_serial_sequence($1, $2), $3)", t.name, t.identity, max)
	return err
}
