package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
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

// A search's excerpt on PostgreSQL marks words as the index splits them,
// as FTS4's snippet does on SQLite: a word inside an address or a host
// name, a word typed without its accents; and it cuts a long text around
// the first match, with "…" where words were left out.
func TestPostgresExcerpt(t *testing.T) {
	u := pgtest.URL(t)
	db, err := store.OpenURL(u, "") // the schema, with relais_excerpt
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	const post = "Pour le covoiturage, écrivez à jean.dupont@example.net avant jeudi."
	long := strings.Repeat("mot ", 40) + "la salle est réservée " + strings.Repeat("fin ", 40)
	for _, c := range []struct{ text, match, want string }{
		{post, "dupont", "à jean.\x01dupont\x02@example.net"},
		{post, "net", "@example.\x01net\x02 avant"},
		{post, "jean dupont", "\x01jean\x02.\x01dupont\x02@"},
		{post, "ecrivez", "\x01écrivez\x02 à"},
		{post, "author:jean", "Pour le covoiturage, écrivez à jean.dupont@example.net avant jeudi"},
		{long, "salle", "…mot mot mot la \x01salle\x02 est réservée fin"},
		{"", "salle", ""},
	} {
		var got string
		if err := raw.QueryRow("SELECT relais_excerpt($1, $2)", c.text, c.match).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(got, c.want) || c.want == "" && got != "" {
			t.Errorf("excerpt of %q for %q: %q, want it to hold %q", c.text, c.match, got, c.want)
		}
		if c.text == long && (!strings.HasSuffix(got, "…") || len(strings.Fields(got)) > 24) {
			t.Errorf("long excerpt not cut to 24 words: %q", got)
		}
	}
}
