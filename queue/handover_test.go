package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"codeberg.org/relais/relais/store"
)

// acceptFor stores msg in tx as the spool does (inserted and held) and
// queues it to rcpts.
func acceptFor(q *Queue, tx *store.Tx, msg string, rcpts ...string) (string, error) {
	id := store.NewID()
	if _, err := tx.Exec("message.insert", id, 0, "", "", "", false, false, len(msg), []byte(msg)); err != nil {
		return "", err
	}
	tx.Hold(store.Received{ID: id, Body: []byte(msg)})
	_, err := q.Enqueue(tx, Message{MessageID: id, To: rcpts, Kind: "forward"})
	return id, err
}

// On SQLite too, the deliveries of a message accepted in the transaction
// go to the workers at the commit with the message (no claim, no read);
// deliveries of a message the transaction does not hold, or of more
// recipients than handOverMax, are owed to the next claim; a savepoint
// rolled back hands over nothing; a delivery a claim took between the
// commit and the hand-over is not handed over twice.
func TestHandOverSQLite(t *testing.T) {
	ctx := context.Background()
	q := newQueue(t)
	q.running.Store(true) // as under Run, without its scheduler: the test claims

	var msgID string
	err := q.db.Write(ctx, func(tx *store.Tx) (err error) {
		msgID, err = acceptFor(q, tx, "Subject: a\r\n\r\nbody\r\n", "a@x.example", "b@x.example")
		if len(q.takeHanded()) != 0 {
			t.Error("handed over before the commit")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	js := q.takeHanded()
	if len(js) != 2 || js[0].rcpt != "a@x.example" || js[1].rcpt != "b@x.example" {
		t.Fatalf("handed over %+v", js)
	}
	for _, j := range js {
		if j.pre == nil || j.pre.messageID != msgID || string(j.pre.data) != "Subject: a\r\n\r\nbody\r\n" || j.attempt != 1 {
			t.Fatalf("job %+v (body %+v)", j, j.pre)
		}
	}
	if q.owed.Load() {
		t.Error("a claim is owed for deliveries handed over")
	}
	// In flight: a claim does not take them again.
	if again, err := q.claimDue(ctx); err != nil || len(again) != 0 {
		t.Fatalf("claimed again: %+v %v", again, err)
	}
	q.release(js)

	// Not held by the transaction, or too many recipients: owed to a
	// claim, said at the commit.
	many := members(handOverMax + 1)
	err = q.db.Write(ctx, func(tx *store.Tx) error {
		id := store.NewID()
		if _, err := tx.Exec("message.insert", id, 0, "", "", "", false, false, 3, []byte("x\r\n")); err != nil {
			return err
		}
		if _, err := q.Enqueue(tx, Message{MessageID: id, To: []string{"c@x.example"}, Kind: "forward"}); err != nil {
			return err
		}
		if _, err := acceptFor(q, tx, "Subject: b\r\n\r\nb\r\n", many...); err != nil {
			return err
		}
		if q.owed.Load() {
			t.Error("owed before the commit: a claim meanwhile would clear it without seeing them")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !q.owed.Load() || len(q.takeHanded()) != 0 {
		t.Fatalf("owed %v", q.owed.Load())
	}
	claimed, err := q.claimDue(ctx)
	// The two handed over and let go untried above, and these.
	if err != nil || len(claimed) != 2+1+len(many) {
		t.Fatalf("claimed %d, %v", len(claimed), err)
	}
	q.release(claimed)
	q.owed.Store(false)

	// A savepoint rolled back: its deliveries are gone, and so is their
	// hand-over.
	err = q.db.Write(ctx, func(tx *store.Tx) error {
		err := tx.Savepoint(func() error {
			if _, err := acceptFor(q, tx, "Subject: c\r\n\r\nc\r\n", "d@x.example"); err != nil {
				return err
			}
			return errors.New("refused after all")
		})
		if err == nil || err.Error() != "refused after all" {
			t.Errorf("savepoint: %v", err)
		}
		return nil // the transaction goes on, and commits
	})
	if err != nil {
		t.Fatal(err)
	}
	if js := q.takeHanded(); len(js) != 0 {
		t.Fatalf("a rolled-back delivery handed over: %+v", js)
	}

	// A claim between the commit and the hand-over (an AfterCommit
	// function that runs first) takes the delivery: not handed over too.
	var early []job
	err = q.db.Write(ctx, func(tx *store.Tx) error {
		tx.AfterCommit(func() {
			var err error
			if early, err = q.claimDue(ctx); err != nil {
				t.Error(err)
			}
		})
		_, err := acceptFor(q, tx, "Subject: d\r\n\r\nd\r\n", "e@x.example")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(early) != 1 || early[0].rcpt != "e@x.example" {
		t.Fatalf("early claim %+v", early)
	}
	if js := q.takeHanded(); len(js) != 0 {
		t.Fatalf("handed over what a claim holds: %+v", js)
	}
}

// Under a stream of messages from several writers, some handed over and
// some owed to claims (too many recipients, or not held), with kicks and
// claims running all along, every delivery reaches the relay exactly
// once.
func TestHandOverSendsEachOnce(t *testing.T) {
	relay := startRelay(t, true)
	e := newPipeEnv(t, relay, 4, nil)
	const writers, each = 6, 40
	want := map[string]int{}
	var wmu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				rcpts := []string{fmt.Sprintf("w%d-%d-a@x.example", w, i), fmt.Sprintf("w%d-%d-b@x.example", w, i)}
				if i%10 == 3 { // a list post: claimed by batches
					for k := 0; k < handOverMax+2; k++ {
						rcpts = append(rcpts, fmt.Sprintf("w%d-%d-m%d@x.example", w, i, k))
					}
				}
				msg := fmt.Sprintf("Subject: %d/%d\r\n\r\nbody\r\n", w, i)
				err := e.db.Write(context.Background(), func(tx *store.Tx) error {
					if i%7 == 5 { // not held: owed to a claim
						id := store.NewID()
						if _, err := tx.Exec("message.insert", id, 0, "", "", "", false, false, len(msg), []byte(msg)); err != nil {
							return err
						}
						_, err := e.q.Enqueue(tx, Message{MessageID: id, To: rcpts, Kind: "forward"})
						return err
					}
					_, err := acceptFor(e.q, tx, msg, rcpts...)
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
				e.q.Kick()
				wmu.Lock()
				for _, r := range rcpts {
					want[r]++
				}
				wmu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	total := 0
	for range want {
		total++
	}
	e.wait(map[string]int{"sent": total, "queued": 0})
	got := relay.copies()
	for r := range want {
		if got[r] != 1 {
			t.Errorf("%s: %d copies", r, got[r])
		}
	}
	if len(got) != total {
		t.Errorf("%d recipients reached, want %d", len(got), total)
	}
	// Nothing more comes once everything is sent (a late duplicate).
	time.Sleep(50 * time.Millisecond)
	for r, n := range relay.copies() {
		if n != 1 {
			t.Errorf("%s: %d copies", r, n)
		}
	}
}

// The messages handed over and not yet given to a worker are bounded in
// bytes too: while intake comes first they wait, and large ones would
// fill the memory. Past the bound, deliveries are owed to a claim, which
// reads the message when it sends it.
func TestHandOverBoundedInBytes(t *testing.T) {
	ctx := context.Background()
	q := newQueue(t)
	q.running.Store(true)
	q.handBytes = 100
	big := "Subject: big\r\n\r\n" + strings.Repeat("x", 60) + "\r\n" // 78 bytes
	for i := range 2 {
		err := q.db.Write(ctx, func(tx *store.Tx) error {
			_, err := acceptFor(q, tx, big, fmt.Sprintf("r%d@x.example", i))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		q.mu.Lock()
		n := len(q.waiting)
		q.mu.Unlock()
		if n != 1 { // the first handed over, the second not
			t.Fatalf("message %d: %d waiting", i, n)
		}
	}
	if !q.owed.Load() {
		t.Fatal("the second message, past the bound, is not owed to a claim")
	}
	first := q.takeHanded()
	if len(first) != 1 || first[0].rcpt != "r0@x.example" {
		t.Fatalf("handed over %+v", first)
	}
	accept := func(rcpt string) {
		t.Helper()
		err := q.db.Write(ctx, func(tx *store.Tx) error {
			_, err := acceptFor(q, tx, big, rcpt)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Taken by the scheduler, it waits in the jobs channel with its
	// message: still no room.
	accept("r2@x.example")
	if js := q.takeHanded(); len(js) != 0 {
		t.Fatalf("handed over while the first waits for a worker: %+v", js)
	}
	// Taken by a worker: room again.
	q.letGo(first...)
	accept("r3@x.example")
	third := q.takeHanded()
	if len(third) != 1 || third[0].rcpt != "r3@x.example" {
		t.Fatalf("after a worker took the first: %+v", third)
	}
	held := func() int {
		q.mu.Lock()
		defer q.mu.Unlock()
		return q.waitingBytes
	}
	if n := held(); n != third[0].held.n || n < len(big) {
		t.Fatalf("%d bytes held for one message of %d", n, third[0].held.n)
	}
	q.letGo(third...)
	if n := held(); n != 0 {
		t.Fatalf("%d bytes held once every message reached a worker", n)
	}
}

// A message handed over to several recipients weighs once, until the last
// of its deliveries reaches a worker.
func TestHandOverWeighsOnceUntilTheLast(t *testing.T) {
	ctx := context.Background()
	q := newQueue(t)
	q.running.Store(true)
	msg := "Subject: three\r\n\r\nhello\r\n"
	err := q.db.Write(ctx, func(tx *store.Tx) error {
		_, err := acceptFor(q, tx, msg, "a@x.example", "b@x.example", "c@x.example")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	held := func() int {
		q.mu.Lock()
		defer q.mu.Unlock()
		return q.waitingBytes
	}
	js := q.takeHanded()
	if len(js) != 3 {
		t.Fatalf("handed over %+v", js)
	}
	one := held()
	if one < len(msg) || one != js[0].held.n {
		t.Fatalf("%d bytes held for a message of %d", one, len(msg))
	}
	q.letGo(js[0], js[1])
	if n := held(); n != one {
		t.Fatalf("%d bytes held with one delivery still to reach a worker, want %d", n, one)
	}
	q.letGo(js[2])
	if n := held(); n != 0 {
		t.Fatalf("%d bytes held once all reached a worker", n)
	}
}

// A message's deliveries are queued in one statement on SQLite, from a
// JSON array: every recipient comes back byte for byte, in its order,
// whatever it holds (quotes, backslashes, <>&, U+2028, accents, the same
// address twice, NUL and control bytes, emoji, a megabyte), and the jobs
// handed over name the rows written. An
// address that is not UTF-8, which JSON would change, has its message's
// deliveries inserted one by one.
func TestEnqueueEveryRecipientAsGiven(t *testing.T) {
	ctx := context.Background()
	q := newQueue(t)
	q.running.Store(true)
	hostile := []string{
		"a@x.example", `"quoted \"local\""@x.example`, `back\slash@x.example`, "<tag>&amp;@x.example",
		"line\u2028sep@x.example", "élodie@exemple.fr", "a@x.example", "日本@例え.jp",
		"nul\x00byte@x.example", "\x01ctl\x1f\x7f@x.example", "😀@x.example", "\ufeff@x.example",
		"123", "null", "", strings.Repeat("l", 1<<20) + "@x.example",
	}
	notUTF8 := []string{"ok@x.example", "bad\xff\xfe@x.example", "z@x.example"}
	for _, rcpts := range [][]string{hostile, notUTF8, {"alone@x.example"}} {
		err := q.db.Write(ctx, func(tx *store.Tx) error {
			_, err := acceptFor(q, tx, "Subject: a\r\n\r\nbody\r\n", rcpts...)
			return err
		})
		if err != nil {
			t.Fatalf("%q: %v", rcpts, err)
		}
		js := q.takeHanded()
		var got []string
		err = func() error {
			rows, err := q.db.Query(ctx, "test.deliveries-of-last")
			if err != nil {
				return err
			}
			defer rows.Close()
			i := 0
			for rows.Next() {
				var id int64
				var rcpt string
				if err := rows.Scan(&id, &rcpt); err != nil {
					return err
				}
				got = append(got, rcpt)
				if i >= len(js) || js[i].id != id || js[i].rcpt != rcpt {
					t.Errorf("row %d (%d, %q) is not job %d of %+v", i, id, rcpt, i, js)
				}
				i++
			}
			return rows.Err()
		}()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, rcpts) || len(js) != len(rcpts) {
			t.Errorf("queued %q, handed over %d, want %q", got, len(js), rcpts)
		}
	}
}

// The recorder writes a batch's copies sent in one statement on SQLite
// (a JSON array of [id, reply]): each row gets its own reply byte for
// byte, the others (deferred, failed) theirs; a reply that is not UTF-8,
// which JSON would change, has its batch recorded row by row.
func TestRecordSentAsOne(t *testing.T) {
	ctx := context.Background()
	q := newQueue(t)
	q.running.Store(true)
	rcpts := []string{"a@x.example", "b@x.example", "c@x.example", "d@x.example", "e@x.example"}
	replies := []string{"250 2.0.0 Ok: queued as 7F3", `250 "quoted" \ back\slash`, "250 ünïcode\u2028sep", "451 4.3.0 try later", "550 5.1.1 no such user"}
	for _, odd := range []string{"250 plain", "250 not utf-8 \xff\xfe"} {
		replies[0] = odd
		err := q.db.Write(ctx, func(tx *store.Tx) error {
			_, err := acceptFor(q, tx, "Subject: a\r\n\r\nbody\r\n", rcpts...)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		js := q.takeHanded()
		if len(js) != len(rcpts) {
			t.Fatalf("handed over %d", len(js))
		}
		var batch []outcome
		for i, j := range js {
			j.created = time.Now()
			res := result{reply: replies[i], sent: i < 3, permanent: i == 4}
			batch = append(batch, outcome{j: j, res: res, loaded: true})
		}
		q.record(batch)
		want := []string{"sent", "sent", "sent", "queued", "failed"}
		for i, j := range js {
			var state, reply string
			var attempts int
			if err := q.db.QueryRow(ctx, "test.delivery-outcome", j.id).Scan(&state, &reply, &attempts); err != nil {
				t.Fatal(err)
			}
			if state != want[i] || reply != replies[i] || attempts != 1 {
				t.Errorf("%q: delivery %d: %s %q after %d attempts, want %s %q after 1", odd, i, state, reply, attempts, want[i], replies[i])
			}
		}
	}
}

// BenchmarkRecordSent records batches of 128 copies sent, as the recorder
// does during a fan-out (SQLite): the CPU time and allocations per copy
// (cpu-ns/op; ns/op is mostly the shared writer's wait).
func BenchmarkRecordSent(b *testing.B) {
	ctx := context.Background()
	db, err := store.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	q, err := New(ctx, db, Config{Domain: "hub.example", RetryMin: time.Minute, RetryMax: 4 * time.Hour,
		GiveUpAfter: 120 * time.Hour}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	q.running.Store(true)
	const batch = 128
	var rcpts []string
	for i := range batch {
		rcpts = append(rcpts, fmt.Sprintf("m%d@x.example", i))
	}
	var cpu time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		b.StopTimer()
		var js []job
		err := q.db.Write(ctx, func(tx *store.Tx) error {
			msg := fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i)
			id := store.NewID()
			if _, err := tx.Exec("message.insert", id, 0, "", "", "", false, false, len(msg), []byte(msg)); err != nil {
				return err
			}
			_, err := q.Enqueue(tx, Message{MessageID: id, To: rcpts, Kind: "forward"})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		rows, err := q.db.Query(ctx, "test.deliveries-of-last")
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
			var j job
			if err := rows.Scan(&j.id, &j.rcpt); err != nil {
				b.Fatal(err)
			}
			j.created = time.Now()
			js = append(js, j)
		}
		rows.Close()
		q.takeHanded() // read from the table instead
		sent := make([]outcome, len(js))
		for k, j := range js {
			sent[k] = outcome{j: j, res: result{reply: "250 2.0.0 Ok: queued as 7F3A2B", sent: true}, loaded: true}
		}
		b.StartTimer()
		before := cpuTime()
		q.record(sent)
		cpu += cpuTime() - before
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// cpuTime is the CPU time this process has used (user and system): the
// recorder's commit waits for the writer, whose wait is not work.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
