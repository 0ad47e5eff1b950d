package store_test

import (
	"database/sql"
	"errors"
	"path/filepath"
	"strconv"
	"testing"

	_ "github.com/mattn/go-sqlite3" // "sqlite3", to make a database of the previous release

	"codeberg.org/relais/relais/internal/pgtest"
	"codeberg.org/relais/relais/internal/schematest"
	"codeberg.org/relais/relais/store"
)

// Options.NoMigrate (the CLI's reading commands) opens a current database,
// and refuses one whose schema is behind this binary's without changing
// it: a newer binary run for a look must not migrate the database under a
// hub still running the older one. Both engines.
func TestNoMigrate(t *testing.T) {
	check := func(t *testing.T, url, dir string, have, want int, version func() int) {
		t.Helper()
		_, err := store.OpenWith(url, dir, store.Options{NoMigrate: true})
		var behind *store.SchemaBehindError
		if !errors.As(err, &behind) || behind.Have != have || behind.Want != want {
			t.Fatalf("schema behind: %v", err)
		}
		if v := version(); v != have {
			t.Fatalf("the schema moved to %d", v)
		}
		db, err := store.OpenWith(url, dir, store.Options{}) // migrates
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		if v := version(); v != want {
			t.Fatalf("migrated to %d, want %d", v, want)
		}
		if db, err = store.OpenWith(url, dir, store.Options{NoMigrate: true}); err != nil {
			t.Fatalf("a current schema: %v", err)
		}
		db.Close()
	}
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		raw, err := sql.Open("sqlite3", filepath.Join(dir, store.FileName)+"?_journal_mode=WAL")
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		have, want := schematest.PreviousRelease(t, raw, "migrations/*.sql")
		if _, err := raw.Exec("PRAGMA user_version = " + strconv.Itoa(have)); err != nil {
			t.Fatal(err)
		}
		check(t, "", dir, have, want, func() (v int) {
			if err := raw.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
				t.Fatal(err)
			}
			return v
		})
	})
	t.Run("postgres", func(t *testing.T) {
		u := pgtest.Bare(t)
		raw, err := sql.Open("pgx", u)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		table := func() (name sql.NullString) {
			if err := raw.QueryRow("SELECT to_regclass('schema_version')::text").Scan(&name); err != nil {
				t.Fatal(err)
			}
			return name
		}
		// A database never migrated: refused, and no table made.
		_, err = store.OpenWith(u, "", store.Options{NoMigrate: true})
		var behind *store.SchemaBehindError
		if !errors.As(err, &behind) || behind.Have != 0 {
			t.Fatalf("empty database: %v", err)
		}
		if name := table(); name.Valid {
			t.Fatalf("schema_version made: %v", name)
		}
		// The table without its row (a first migration interrupted): the
		// same, and no row added.
		if _, err := raw.Exec("CREATE TABLE schema_version (version INTEGER NOT NULL)"); err != nil {
			t.Fatal(err)
		}
		if _, err = store.OpenWith(u, "", store.Options{NoMigrate: true}); !errors.As(err, &behind) || behind.Have != 0 {
			t.Fatalf("schema_version without a row: %v", err)
		}
		var rows int
		if err := raw.QueryRow("SELECT count(*) FROM schema_version").Scan(&rows); err != nil || rows != 0 {
			t.Fatalf("schema_version: %d rows, %v", rows, err)
		}
		have, want := schematest.PreviousRelease(t, raw, "migrations/postgres/*.sql")
		if _, err := raw.Exec("INSERT INTO schema_version (version) VALUES ($1)", have); err != nil {
			t.Fatal(err)
		}
		check(t, u, "", have, want, func() (v int) {
			if err := raw.QueryRow("SELECT version FROM schema_version").Scan(&v); err != nil {
				t.Fatal(err)
			}
			return v
		})
	})
}
