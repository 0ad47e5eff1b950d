package store_test

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	_ "github.com/mattn/go-sqlite3" // "sqlite3", to set the schema version back

	"codeberg.org/relais/relais/internal/pgtest"
	"codeberg.org/relais/relais/store"
)

// Options.NoMigrate (the CLI's reading commands) opens a current database,
// and refuses one whose schema is behind this binary's without changing
// it: a newer binary run for a look must not migrate the database under a
// hub still running the older one. Both engines.
func TestNoMigrate(t *testing.T) {
	check := func(t *testing.T, url, dir string, raw *sql.DB, version func() int, setBack func(int)) {
		t.Helper()
		db, err := store.OpenWith(url, dir, store.Options{}) // migrates
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		want := version()
		if db, err = store.OpenWith(url, dir, store.Options{NoMigrate: true}); err != nil {
			t.Fatalf("a current schema: %v", err)
		}
		db.Close()
		setBack(want - 1)
		_, err = store.OpenWith(url, dir, store.Options{NoMigrate: true})
		var behind *store.SchemaBehindError
		if !errors.As(err, &behind) || behind.Have != want-1 || behind.Want != want {
			t.Fatalf("schema behind: %v", err)
		}
		if v := version(); v != want-1 {
			t.Fatalf("the schema moved to %d", v)
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		if db, err := store.Open(dir); err != nil {
			t.Fatal(err)
		} else {
			db.Close()
		}
		raw, err := sql.Open("sqlite3", filepath.Join(dir, store.FileName))
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		check(t, "", dir, raw, func() (v int) {
			if err := raw.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
				t.Fatal(err)
			}
			return v
		}, func(v int) {
			if _, err := raw.Exec("PRAGMA user_version = " + strconv.Itoa(v)); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("postgres", func(t *testing.T) {
		server := pgtest.Server(t)
		name := fmt.Sprintf("relais_nomigrate_%d", os.Getpid())
		u, err := pgtest.CreateDatabase(server, name) // empty, not from the template
		if err != nil {
			t.Fatal(err)
		}
		defer pgtest.Drop(server, name)
		raw, err := sql.Open("pgx", u)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		// A database never migrated: refused, and no table made.
		_, err = store.OpenWith(u, "", store.Options{NoMigrate: true})
		var behind *store.SchemaBehindError
		if !errors.As(err, &behind) || behind.Have != 0 {
			t.Fatalf("empty database: %v", err)
		}
		var table sql.NullString
		if err := raw.QueryRow("SELECT to_regclass('schema_version')::text").Scan(&table); err != nil || table.Valid {
			t.Fatalf("schema_version made: %v %v", table, err)
		}
		check(t, u, "", raw, func() (v int) {
			if err := raw.QueryRow("SELECT version FROM schema_version").Scan(&v); err != nil {
				t.Fatal(err)
			}
			return v
		}, func(v int) {
			if _, err := raw.Exec("UPDATE schema_version SET version = $1", v); err != nil {
				t.Fatal(err)
			}
		})
	})
}
