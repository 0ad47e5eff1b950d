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
	"time"

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

// The writes waiting when a PostgreSQL writer is free share its
// transaction and commit; if one of them fails, none of the batch stays
// and each runs again alone, so that the failure undoes only itself.
func TestPostgresSharedCommit(t *testing.T) {
	u := pgtest.URL(t)
	db, err := store.OpenWith(u, "", store.Options{Writers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mu sync.Mutex
	var commits []int
	db.OnCommit(func(n int, _ time.Duration) {
		mu.Lock()
		commits = append(commits, n)
		mu.Unlock()
	})
	ctx := context.Background()
	// batch holds the one writer busy until n writes wait behind it, then
	// lets it go; fail says which of them fail after writing.
	// waiting returns once n writes wait for the writer.
	waiting := func(n int) {
		for db.Queued() < n {
			time.Sleep(time.Millisecond)
		}
	}
	// hold keeps the one writer busy; the function it returns waits until
	// n writes are queued behind it, forgets the commits seen, lets it go
	// and waits for its commit, which comes first.
	hold := func() (letGo func(n int)) {
		release, holding, held := make(chan struct{}), make(chan struct{}), make(chan error, 1)
		go func() {
			held <- db.WriteShared(ctx, func(tx *store.Tx) error {
				close(holding)
				<-release
				return nil
			})
		}()
		<-holding // the writer runs the holder
		return func(n int) {
			waiting(n)
			mu.Lock()
			commits = nil
			mu.Unlock()
			close(release)
			if err := <-held; err != nil {
				t.Fatal(err)
			}
		}
	}
	ignore := func(int) bool { return false }
	batch := func(prefix string, n int, fail func(int) bool) ([]error, []int) {
		letGo := hold()
		errs, runs := make([]error, n), make([]int, n)
		var wg sync.WaitGroup
		// Those that ignore an error go last: the others' statements
		// come first, and the commit is what fails.
		queued := 0
		for k := 0; k < 2*n; k++ {
			i := k % n
			if k == n {
				waiting(queued)
			}
			if (k < n) == ignore(i) {
				continue
			}
			queued++
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				errs[i] = db.WriteShared(ctx, func(tx *store.Tx) error {
					mu.Lock()
					runs[i]++
					mu.Unlock()
					if ignore(i) {
						// A statement that fails, its error ignored: the
						// server turns the commit into a rollback.
						tx.Exec("group.insert", "44", "", "G", "", 0)
						tx.Exec("group.insert", "44", "", "G", "", 0)
						return nil
					}
					if _, err := tx.Exec("group.insert", "44", fmt.Sprintf("%s%d", prefix, i), "G", "", 0); err != nil {
						return err
					}
					if fail(i) {
						return errors.New("refused")
					}
					return nil
				})
			}(i)
		}
		letGo(n)
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		if len(commits) == 0 || commits[0] != 1 {
			t.Fatalf("commits %v: the holder's first", commits)
		}
		commits = commits[1:] // the batch's
		return errs, runs
	}
	count := func(prefix string) int {
		rows, err := db.Query(ctx, "group.list")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var id, created int64
			var code, name, display, commune string
			if err := rows.Scan(&id, &code, &name, &display, &commune, &created); err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(name, prefix) {
				n++
			}
		}
		return n
	}

	// All succeed: one transaction, one commit for the 30.
	errs, runs := batch("ok", 30, func(int) bool { return false })
	for i, err := range errs {
		if err != nil || runs[i] != 1 {
			t.Fatalf("write %d: %v, run %d times", i, err, runs[i])
		}
	}
	if len(commits) != 1 || commits[0] != 30 {
		t.Errorf("commits %v, want one of 30 writes", commits)
	}
	if n := count("ok"); n != 30 {
		t.Errorf("%d groups written, want 30", n)
	}

	// One in three fails: the batch is undone, each runs again alone; the
	// others are written once, the failed ones not at all.
	errs, runs = batch("mix", 30, func(i int) bool { return i%3 == 0 })
	for i, err := range errs {
		if (err != nil) != (i%3 == 0) {
			t.Errorf("write %d: %v", i, err)
		}
	}
	if len(commits) != 20 {
		t.Errorf("commits %v, want 20 of one write", commits)
	}
	if n := count("mix"); n != 20 {
		t.Errorf("%d groups written, want 20", n)
	}
	ran := 0
	for _, r := range runs {
		ran += r
	}
	if ran < 31 || ran > 60 {
		t.Errorf("write functions ran %d times for 30 writes", ran)
	}

	// One ignores a statement's error: whether the others' statements
	// fail after it or the commit comes back a rollback, the others are
	// written, and that one alone is told its write failed.
	ignore = func(i int) bool { return i == 17 }
	errs, _ = batch("quiet", 30, func(int) bool { return false })
	for i, err := range errs {
		if (err != nil) != (i == 17) {
			t.Errorf("write %d: %v", i, err)
		}
	}
	if n := count("quiet"); n != 29 {
		t.Errorf("%d groups written, want 29", n)
	}

	// A write that does not say it may share runs alone.
	letGo := hold()
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := db.Write(ctx, func(tx *store.Tx) error {
				_, err := tx.Exec("group.insert", "44", fmt.Sprintf("alone%d", i), "G", "", 0)
				return err
			}); err != nil {
				t.Error(err)
			}
		}(i)
	}
	letGo(5)
	wg.Wait()
	mu.Lock()
	if fmt.Sprint(commits) != "[1 1 1 1 1 1]" {
		t.Errorf("commits %v, want six of one write", commits)
	}
	mu.Unlock()
}

// An INSERT into a table with an id tells that id on PostgreSQL too
// (RETURNING appended to its text), whatever comment follows it in its
// file: delivery.insert, followed by delivery.insert-all's comment, once
// told 0.
func TestPostgresInsertTellsItsID(t *testing.T) {
	db, err := store.OpenURL(pgtest.URL(t), "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Write(context.Background(), func(tx *store.Tx) error {
		if _, err := tx.Exec("message.insert", "m1", 0, "", "", "", false, false, 1, []byte("x")); err != nil {
			return err
		}
		res, err := tx.Exec("outbound.insert", "m1", []byte{}, false, nil, "forward", "", 0)
		if err != nil {
			return err
		}
		oid, err := res.LastInsertId()
		if err != nil {
			return err
		}
		res, err = tx.Exec("delivery.insert", oid, "a@x.example", 0, 0, 0)
		if err != nil {
			return err
		}
		did, err := res.LastInsertId()
		if err == nil && (oid == 0 || did == 0) {
			err = fmt.Errorf("outbound %d, delivery %d", oid, did)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
