package queue

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"codeberg.org/relais/relais/store"
)

func handedBatch(t *testing.T, q *Queue, n int) []job {
	t.Helper()
	rcpts := make([]string, n)
	for i := range rcpts {
		rcpts[i] = string(rune('a'+i)) + "@x.example"
	}
	err := q.db.Write(context.Background(), func(tx *store.Tx) error {
		_, err := acceptFor(q, tx, "Subject: a\r\n\r\nbody\r\n", rcpts...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	js := q.takeHanded()
	if len(js) != n {
		t.Fatalf("handed %d", len(js))
	}
	for i := range js {
		js[i].created = time.Now()
	}
	return js
}

func recordedOutcome(t *testing.T, q *Queue, id int64) (string, string, int) {
	t.Helper()
	var state, reply string
	var attempts int
	if err := q.db.QueryRow(context.Background(), "test.delivery-outcome", id).Scan(&state, &reply, &attempts); err != nil {
		t.Fatal(err)
	}
	return state, reply, attempts
}

func TestRecordOddReplies(t *testing.T) {
	q := newQueue(t)
	q.running.Store(true)
	replies := []string{
		"250 nul\x00tail", "\x00", "250 <html>&amp;", "250 ctl \x01\x1f\x7f\t", "250-a\r\n250 b\r\n", "",
		strings.Repeat("250 long ", 1<<17), "250 \U0001F600 \uFFFE \uFEFF", `250 \u0000 literal`, "250 '; DROP TABLE deliveries; --",
		"451 defer \x00 nul", "550 fail \x00 nul",
	}
	js := handedBatch(t, q, len(replies))
	var batch []outcome
	for i, j := range js {
		batch = append(batch, outcome{j: j, res: result{reply: replies[i], sent: i < 10, permanent: i == 11}, loaded: true})
	}
	q.record(batch)
	for i, j := range js {
		state, reply, attempts := recordedOutcome(t, q, j.id)
		want := "sent"
		if i == 10 {
			want = "queued"
		} else if i == 11 {
			want = "failed"
		}
		if state != want || reply != replies[i] || attempts != 1 {
			r := reply
			if len(r) > 60 {
				r = r[:60]
			}
			t.Errorf("%d: %s %q (len %d, want %d) attempts %d, want %s", i, state, r, len(reply), len(replies[i]), attempts, want)
		}
	}
}

func TestRecordSameIDTwice(t *testing.T) {
	q := newQueue(t)
	q.running.Store(true)
	js := handedBatch(t, q, 2)
	batch := []outcome{
		{j: js[0], res: result{reply: "250 first", sent: true}, loaded: true},
		{j: js[0], res: result{reply: "250 second", sent: true}, loaded: true},
		{j: js[1], res: result{reply: "451 later"}, loaded: true},
		{j: js[1], res: result{reply: "250 now", sent: true}, loaded: true},
	}
	q.record(batch)
	for _, j := range js {
		s, r, a := recordedOutcome(t, q, j.id)
		t.Logf("delivery %d: %s %q attempts %d", j.id, s, r, a)
	}
}

// The bulk statement fails (a trigger aborts it): the recorder's whole
// write is rolled back (its deferred and failed too), another write in
// the same commit is kept, and the deliveries stay in flight.
func TestRecordBulkFails(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	q, err := New(ctx, db, Config{Domain: "hub.example", RetryMin: time.Minute, RetryMax: 4 * time.Hour, GiveUpAfter: 120 * time.Hour}, q0log())
	if err != nil {
		t.Fatal(err)
	}
	q.running.Store(true)
	raw, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`CREATE TRIGGER boom BEFORE UPDATE OF state ON deliveries WHEN NEW.last_reply = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END`); err != nil {
		t.Fatal(err)
	}
	js := handedBatch(t, q, 4)
	other := handedBatch(t, q, 1)
	batch := []outcome{
		{j: js[0], res: result{reply: "250 ok", sent: true}, loaded: true},
		{j: js[1], res: result{reply: "boom", sent: true}, loaded: true},
		{j: js[2], res: result{reply: "451 later"}, loaded: true},
		{j: js[3], res: result{reply: "550 no", permanent: true}, loaded: true},
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); q.record(batch) }()
	// other writes while the recorder retries, sharing its commits
	stop := time.Now().Add(7 * time.Second)
	for time.Now().Before(stop) {
		db.Write(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec("delivery.sent", "250 other", time.Now().Unix(), other[0].id)
			return err
		})
		time.Sleep(3 * time.Millisecond)
	}
	wg.Wait()
	for _, j := range js {
		s, r, a := recordedOutcome(t, q, j.id)
		if s != "queued" || a != 0 {
			t.Errorf("delivery %d: %s %q attempts %d, want untouched", j.id, s, r, a)
		}
		q.mu.Lock()
		in := q.inflight[j.id]
		q.mu.Unlock()
		if !in {
			t.Errorf("delivery %d not in flight", j.id)
		}
	}
	if s, _, a := recordedOutcome(t, q, other[0].id); s != "sent" || a != 1 {
		t.Errorf("other write: %s %d", s, a)
	}
}

func q0log() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestRecordSentAllPlan(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rows, err := raw.Query(`EXPLAIN QUERY PLAN UPDATE deliveries SET state = 'sent', attempts = attempts + 1, last_reply = v.reply, updated_at = ?, lease_until = 0
FROM (SELECT CAST(value ->> 0 AS BIGINT) AS id, value ->> 1 AS reply FROM json_each(?)) AS v
WHERE deliveries.id = v.id AND deliveries.state = 'queued'`, 1, "[[1,\"a\"]]")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a, b, c int
		var d string
		rows.Scan(&a, &b, &c, &d)
		t.Log(d)
	}
	var v string
	raw.QueryRow("select sqlite_version()").Scan(&v)
	t.Log(v)
}
