package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

func open(t *testing.T, dir string) *DB {
	t.Helper()
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func countGroups(t *testing.T, db *DB) int {
	t.Helper()
	rows, err := db.Query(context.Background(), "group.list")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	return n
}

// Concurrent writers share commits; a failing or panicking writer rolls back
// only its own changes, and everything committed is there after reopening.
func TestGroupCommitIsolationAndDurability(t *testing.T) {
	dir := t.TempDir()
	db := open(t, dir)
	ctx := context.Background()
	const n = 200
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = db.Write(ctx, func(tx *Tx) error {
				if _, err := tx.Exec("group.insert", "44", fmt.Sprintf("g%d", i), "G", "", 0); err != nil {
					return err
				}
				switch i % 10 {
				case 3:
					return errors.New("refused")
				case 7:
					panic("boom")
				}
				return nil
			})
		}(i)
	}
	wg.Wait()
	want := 0
	for i, err := range errs {
		switch i % 10 {
		case 3, 7:
			if err == nil {
				t.Fatalf("write %d: want an error", i)
			}
		default:
			if err != nil {
				t.Fatalf("write %d: %v", i, err)
			}
			want++
		}
	}
	if got := countGroups(t, db); got != want {
		t.Fatalf("got %d groups, want %d", got, want)
	}
	// A write that violates a constraint fails alone.
	err := db.Write(ctx, func(tx *Tx) error {
		_, err := tx.Exec("group.insert", "44", "g0", "G", "", 0)
		return err
	})
	if err == nil {
		t.Fatal("duplicate group accepted")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Write(ctx, func(*Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
	db = open(t, dir)
	defer db.Close()
	if got := countGroups(t, db); got != want {
		t.Fatalf("after reopen: got %d groups, want %d", got, want)
	}
}

func TestSecretIsStable(t *testing.T) {
	dir := t.TempDir()
	db := open(t, dir)
	a, err := db.Secret(context.Background(), "verp")
	if err != nil || len(a) != 32 {
		t.Fatalf("secret: %x %v", a, err)
	}
	b, _ := db.Secret(context.Background(), "other")
	if bytes.Equal(a, b) {
		t.Fatal("two secrets are equal")
	}
	db.Close()
	db = open(t, dir)
	defer db.Close()
	c, _ := db.Secret(context.Background(), "verp")
	if !bytes.Equal(a, c) {
		t.Fatal("secret changed across reopen")
	}
}

func TestEveryQueryPrepares(t *testing.T) {
	db := open(t, t.TempDir())
	defer db.Close()
	if len(db.queries) < 20 {
		t.Fatalf("only %d queries loaded", len(db.queries))
	}
	for name, q := range db.queries {
		st, err := db.w.Prepare(q)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		st.Close()
	}
}

func TestWALAndSynchronousFull(t *testing.T) {
	db := open(t, t.TempDir())
	defer db.Close()
	var mode string
	var sync int
	if err := db.w.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode %q %v", mode, err)
	}
	if err := db.w.QueryRow("PRAGMA synchronous").Scan(&sync); err != nil || sync != 2 {
		t.Fatalf("synchronous %d %v, want 2 (FULL)", sync, err)
	}
}

// A lazy write alone is committed (after lazyDelay); lazy writes mixed with
// ordinary ones are all committed, and each caller hears its own verdict.
func TestWriteLazy(t *testing.T) {
	db := open(t, t.TempDir())
	defer db.Close()
	ctx := context.Background()
	ins := func(name string) func(*Tx) error {
		return func(tx *Tx) error {
			_, err := tx.Exec("group.insert", "44", name, "G", "", 0)
			return err
		}
	}
	if err := db.WriteLazy(ctx, ins("alone")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			name := fmt.Sprintf("g%d", i)
			if i%4 == 0 {
				errs[i] = db.Write(ctx, ins(name))
			} else {
				errs[i] = db.WriteLazy(ctx, ins(name))
			}
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
	}
	if err := db.WriteLazy(ctx, ins("alone")); err == nil {
		t.Fatal("duplicate accepted by a lazy write")
	}
	if got := countGroups(t, db); got != 41 {
		t.Fatalf("%d groups", got)
	}
	// More lazy writes than one batch holds: all committed.
	errs = make([]error, 3*maxBatch)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = db.WriteLazy(ctx, ins(fmt.Sprintf("many%d", i)))
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
	}
	if got := countGroups(t, db); got != 41+3*maxBatch {
		t.Fatalf("%d groups", got)
	}
}

// Both engines' migrations end at the same number: a change to the schema
// is made for both, one file each under the same number.
func TestMigrationsPaired(t *testing.T) {
	last := func(glob string) string {
		names, err := fs.Glob(sqlFiles, glob)
		if err != nil || len(names) == 0 {
			t.Fatal(glob, err)
		}
		sort.Strings(names)
		return strings.SplitN(filepath.Base(names[len(names)-1]), "_", 2)[0]
	}
	if a, b := last("migrations/*.sql"), last("migrations/postgres/*.sql"); a != b {
		t.Fatalf("SQLite's migrations end at %s, PostgreSQL's at %s", a, b)
	}
}

// No query's text ends in a comment: comments above a name belong to the
// next query, and on PostgreSQL an INSERT's RETURNING is appended to the
// text (it once landed in such a comment: delivery.insert, LastInsertId 0).
func TestQueriesDoNotEndInAComment(t *testing.T) {
	for _, e := range []Engine{SQLite, Postgres} {
		qs, err := loadQueries(e)
		if err != nil {
			t.Fatal(err)
		}
		for name, q := range qs {
			last := q[strings.LastIndexByte(q, '\n')+1:]
			if strings.Contains(last, "--") {
				t.Errorf("%s ends in a comment: %q", name, last)
			}
		}
	}
}
