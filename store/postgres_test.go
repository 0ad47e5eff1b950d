package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"

	"codeberg.org/relais/relais/internal/pgtest"
	"codeberg.org/relais/relais/store"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// Every named query, shared or PostgreSQL's own variant, is SQL that
// PostgreSQL reads, with every placeholder's type known.
func TestPostgresEveryQueryPrepares(t *testing.T) {
	db, err := store.OpenURL(pgtest.URL(t), "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.CheckQueries(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Concurrent writers on several group-commit writers: each caller hears
// its own verdict, a failing or panicking one rolls back only itself, ids
// come back (RETURNING), and a second node (another DB on the same
// database) sees everything.
func TestPostgresGroupCommit(t *testing.T) {
	u := pgtest.URL(t)
	db, err := store.OpenURL(u, "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	const n = 200
	var wg sync.WaitGroup
	errs := make([]error, n)
	ids := make([]int64, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = db.Write(ctx, func(tx *store.Tx) error {
				res, err := tx.Exec("group.insert", "44", fmt.Sprintf("g%d", i), "G", "", 0)
				if err != nil {
					return err
				}
				ids[i], _ = res.LastInsertId()
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
				t.Errorf("write %d: no error", i)
			}
		default:
			want++
			if err != nil || ids[i] <= 0 {
				t.Errorf("write %d: %v, id %d", i, err, ids[i])
			}
		}
	}
	other, err := store.OpenURL(u, "")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var got int
	rows, err := other.Query(ctx, "group.list")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		got++
	}
	rows.Close()
	if got != want {
		t.Fatalf("other node sees %d groups, want %d", got, want)
	}
	if e := db.Engine(); e != store.Postgres {
		t.Fatalf("engine %v", e)
	}
}
