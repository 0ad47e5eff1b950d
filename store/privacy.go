package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"codeberg.org/relais/relais/internal/mention"
)

// ErasureSecret names the server secret under which erased addresses and
// expired withdrawals are kept as keyed hashes.
const ErasureSecret = "erasure"

// PersonMAC is the keyed hash an address is kept as once it must no longer
// be kept itself: HMAC-SHA256 of the lower-case address under secret, hex.
func PersonMAC(secret []byte, email string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strings.ToLower(strings.TrimSpace(email))))
	return hex.EncodeToString(m.Sum(nil))
}

// Checkpoint copies the whole write-ahead log into the database file and
// truncates the log to nothing (PRAGMA wal_checkpoint(TRUNCATE)), so pages
// as they were before a deletion are nowhere in the files. Readers of
// other processes can hold it back: it tries for up to wait.
//
// On PostgreSQL there is no such file to empty: VACUUM takes the deleted
// rows out of every table (no query, replica or later dump sees them); the
// server's files, its WAL archives and its backups may hold their bytes
// until overwritten or rotated (deploy/SCALING.md).
func (db *DB) Checkpoint(ctx context.Context, wait time.Duration) error {
	if db.pg != nil {
		if _, err := db.r.ExecContext(ctx, "VACUUM"); err != nil {
			return fmt.Errorf("store: vacuum: %w", err)
		}
		return nil
	}
	deadline := time.Now().Add(wait)
	for {
		var busy, logPages, done int
		err := db.ckpt.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logPages, &done)
		if err != nil {
			return fmt.Errorf("store: checkpoint: %w", err)
		}
		if busy == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("store: checkpoint: readers kept the write-ahead log from being emptied; run the command again")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Snapshot writes a consistent copy of the database to path (VACUUM
// INTO): one read transaction, so writers go on meanwhile and the copy is
// the database as it was at one moment, compacted.
func (db *DB) Snapshot(ctx context.Context, path string) error {
	if db.pg != nil {
		return ErrNotSQLite
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("store: snapshot: %s exists", path)
	}
	if _, err := db.ckpt.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		return fmt.Errorf("store: snapshot: %w", err)
	}
	return nil
}

// File is the SQLite database of a data directory opened as it is: no
// migration, no statement prepared, whatever its schema. A backup taken
// before an upgrade, with the new binary, reads the database through it.
type File struct{ db *sql.DB }

// OpenFile opens the database of dir as it is; it must exist.
func OpenFile(dir string) (*File, error) {
	path := filepath.Join(dir, FileName)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	registerDriver()
	db, err := sql.Open(driverName, "file:"+path+"?_busy_timeout=10000")
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	return &File{db: db}, nil
}

// Snapshot writes a consistent copy of the database to path (VACUUM
// INTO), as DB.Snapshot does.
func (f *File) Snapshot(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("store: snapshot: %s exists", path)
	}
	if _, err := f.db.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		return fmt.Errorf("store: snapshot: %w", err)
	}
	return nil
}

// Close closes the file.
func (f *File) Close() error { return f.db.Close() }

// ErrNotSQLite: what only SQLite's file allows (a snapshot by VACUUM INTO)
// was asked of a PostgreSQL database, which its own tools back up.
var ErrNotSQLite = errors.New("store: the database is PostgreSQL: back it up with pg_dump or the cluster's own backups (deploy/SCALING.md)")

// Column is a column of a table that can hold text: where an address
// could be.
type Column struct{ Table, Name string }

// TextColumns lists every TEXT or BLOB column of every table of the
// schema, read from the schema itself: erasure sweeps them all, so a table
// added later is not forgotten. Virtual tables and their shadow tables
// (the archive's full-text index, posts_fts) are not tables of their own:
// their words are the columns of the table they index, whose triggers
// keep them in step, and rewriting their pages would break them.
func (db *DB) TextColumns(ctx context.Context) ([]Column, error) {
	if db.pg != nil {
		return db.textColumnsPG(ctx)
	}
	rows, err := db.r.QueryContext(ctx, `SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table'
		AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: tables: %w", err)
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return nil, err
		}
		tables = append(tables, t)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	var out []Column
	for _, t := range tables {
		rows, err := db.r.QueryContext(ctx, `SELECT name, type FROM pragma_table_info(?)`, t)
		if err != nil {
			return nil, fmt.Errorf("store: columns of %s: %w", t, err)
		}
		for rows.Next() {
			var name, typ string
			if err := rows.Scan(&name, &typ); err != nil {
				rows.Close()
				return nil, err
			}
			if typ = strings.ToUpper(typ); typ == "TEXT" || typ == "BLOB" || typ == "" {
				out = append(out, Column{t, name})
			}
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// quoteIdent quotes a table or column name read from the schema.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// Mentions counts the rows of c holding email in any form (see
// relais_mentions), inside tx. The SQL is made here from the schema's own
// names: the one place queries are not named, since they run over every
// column there is.
func (t *Tx) Mentions(c Column, email string) (int, error) {
	var n int
	if t.db.pg != nil {
		err := t.eachValue(c, func(_ string, v []byte, _ bool) error {
			if mention.In(v, email) {
				n++
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("store: look for an address in %s.%s: %w", c.Table, c.Name, err)
		}
		return n, nil
	}
	q := fmt.Sprintf("SELECT COUNT(*) FROM %s WHERE relais_mentions(%s, ?)", quoteIdent(c.Table), quoteIdent(c.Name))
	if err := t.tx.QueryRow(q, email).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: look for an address in %s.%s: %w", c.Table, c.Name, err)
	}
	return n, nil
}

// Scrub replaces email, where it is written as it is, by repl in every
// row of c, inside tx; it returns how many rows changed.
func (t *Tx) Scrub(c Column, email, repl string) (int64, error) {
	if t.db.pg != nil {
		var n int64
		q := fmt.Sprintf("UPDATE %s SET %s = $1 WHERE ctid = $2::tid", quoteIdent(c.Table), quoteIdent(c.Name))
		err := t.eachValue(c, func(ctid string, v []byte, isText bool) error {
			if !mention.In(v, email) {
				return nil
			}
			n++ // as SQLite's UPDATE counts it, changed or not
			out := mention.Replace(v, email, repl)
			if string(out) == string(v) {
				return nil
			}
			var val any = out
			if isText {
				val = string(out)
			}
			_, err := t.tx.Exec(q, val, ctid)
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("store: scrub %s.%s: %w", c.Table, c.Name, err)
		}
		return n, nil
	}
	q := fmt.Sprintf("UPDATE %s SET %s = relais_scrub(%[2]s, ?1, ?2) WHERE relais_mentions(%[2]s, ?1)", quoteIdent(c.Table), quoteIdent(c.Name))
	res, err := t.tx.Exec(q, email, repl)
	if err != nil {
		return 0, fmt.Errorf("store: scrub %s.%s: %w", c.Table, c.Name, err)
	}
	return res.RowsAffected()
}

// Count returns the number of rows of table, for backups' manifests.
func Count(ctx context.Context, db *sql.DB, table string) (int64, error) {
	var n int64
	err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+quoteIdent(table)).Scan(&n)
	return n, err
}
