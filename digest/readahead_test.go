package digest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"codeberg.org/relais/relais/queue"
	"codeberg.org/relais/relais/store"
	"codeberg.org/relais/relais/templates"
)

// copiesService is a Service on a fresh database with its queue, for
// making copies (the built-in templates).
func copiesService(t *testing.T) (*Service, *store.DB, *queue.Queue) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	q, err := queue.New(ctx, db, queue.Config{Domain: "hub.example", RetryMin: time.Minute, RetryMax: time.Hour, GiveUpAfter: time.Hour}, log)
	if err != nil {
		t.Fatal(err)
	}
	texts, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(ctx, db, q, texts, nil, Config{}, log)
	if err != nil {
		t.Fatal(err)
	}
	return s, db, q
}

// The recipients of a queued digest are read by batches of 512, the next
// one ahead, outside the lock, once half of this one is used: every copy
// gets its own member, whether its batch was read ahead or when it was
// asked for, and the batch after the first is read ahead. A batch read
// ahead with other events than those in memory is not kept: the copy
// that misses it reads its batch, and the events, itself.
func TestPrepareReadsAhead(t *testing.T) {
	ctx := context.Background()
	s, db, q := copiesService(t)
	const week = "2026-W48"
	var emails []string
	for i := range 1300 {
		emails = append(emails, fmt.Sprintf("m%04d@example.org", i))
	}
	var outbound int64
	var err error
	err = db.Write(ctx, func(tx *store.Tx) error {
		for i, e := range emails {
			if err := Save(tx, Member{Email: e, PostCode: fmt.Sprintf("44%03d", i%1000), Radius: 10 + i%7, Lang: "fr", Active: true}, time.Now()); err != nil {
				return err
			}
		}
		body := []byte("Subject: x\r\n\r\nx\r\n")
		if _, err := tx.Exec("message.insert", "msg-1", time.Now().Unix(), "", "", "", false, false, len(body), body); err != nil {
			return err
		}
		outbound, err = q.Enqueue(tx, queue.Message{MessageID: "msg-1", To: emails, Kind: Kind, Ref: week})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.readCopies(ctx, week, outbound, 0)
	if err != nil || len(first.ids) != copyBatch {
		t.Fatalf("first batch: %d deliveries, %v", len(first.ids), err)
	}
	dlv := first.ids[0]
	cs := &s.copies
	copyOf := func(i int) {
		t.Helper()
		c := queue.Copy{DeliveryID: dlv + int64(i), OutboundID: outbound, Rcpt: emails[i], Kind: Kind, Ref: week}
		p, err := s.prepare(ctx, c)
		if err != nil || !p.found || p.member.Email != emails[i] || p.member.Radius != 10+i%7 {
			t.Fatalf("copy %d (%s): %+v %v", i, emails[i], p.member, err)
		}
	}
	waitAhead := func(from int64) bool {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			cs.mu.Lock()
			_, ok := cs.next[from]
			reading := cs.ahead.reading
			cs.mu.Unlock()
			if !reading {
				return ok
			}
		}
		t.Fatal("the read ahead did not end")
		return false
	}
	for i := range copyBatch/2 + 10 {
		copyOf(i)
	}
	// Past half the first batch: the second is read ahead.
	if !waitAhead(dlv + copyBatch) {
		t.Fatal("the second batch was not read ahead")
	}
	// The events change before the third batch is read ahead (at half
	// the second): it is not kept, and the copies read it, and the events,
	// themselves.
	for i := copyBatch/2 + 10; i < copyBatch+copyBatch/2-10; i++ {
		copyOf(i)
	}
	err = db.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec("test.events-version-bump")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	cs.mu.Lock()
	before := cs.version
	cs.mu.Unlock()
	for i := copyBatch + copyBatch/2 - 10; i < copyBatch+copyBatch/2+10; i++ {
		copyOf(i)
	}
	if waitAhead(dlv + 2*copyBatch) {
		t.Fatal("a batch read ahead with other events was kept")
	}
	for i := copyBatch + copyBatch/2 + 10; i < len(emails); i++ {
		copyOf(i)
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.version == before {
		t.Fatal("the events were not read again")
	}
	if len(cs.next) != 0 || cs.ahead.from != 0 {
		t.Fatalf("%d recipients kept after the last copy, next read from %d", len(cs.next), cs.ahead.from)
	}
}

// A read ahead that ends after prepare read on (cs.ahead moved) leaves
// alone whether another read ahead is under way: it would otherwise let a
// second read of the same batch start (found by review).
func TestStaleReadAheadLeavesTheNextOne(t *testing.T) {
	db, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := &Service{db: db}
	s.copies.ahead = readAhead{ref: "2026-W48", outbound: 1, from: 1025, reading: true}
	s.readAheadCopies(readAhead{ref: "2026-W48", outbound: 1, from: 513})
	if a := s.copies.ahead; !a.reading || a.from != 1025 {
		t.Fatalf("after a stale read ahead: %+v", a)
	}
}
