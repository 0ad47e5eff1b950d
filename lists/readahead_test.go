package lists

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/audit"
	"codeberg.org/relais/relais/queue"
	"codeberg.org/relais/relais/store"
)

// The members of a post's copies are read by batches of 512, the next one
// ahead, outside the lock, once half of this one is used: every copy gets
// its own member, whether its batch was read ahead or when it was asked
// for, and the batch after the first is read ahead.
func TestMemberOfReadsAhead(t *testing.T) {
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
	s, err := New(ctx, db, q, nil, nil, Config{}, log)
	if err != nil {
		t.Fatal(err)
	}
	code, name, _ := address.GroupLocal("4405.grande")
	l, err := Create(ctx, db, List{Code: code, Name: name, Policy: Open, Owners: []Owner{{Email: "anim@exemple.fr"}}}, audit.Actor{})
	if err != nil {
		t.Fatal(err)
	}
	var emails []string
	for i := range 1300 {
		emails = append(emails, fmt.Sprintf("m%04d@example.org", i))
	}
	if _, err := Subscribe(ctx, db, l.ID, "test", emails, audit.Actor{}, time.Now()); err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	ms, err := MemberList(ctx, db, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		ids[m.Email] = m.ID
	}
	var outbound int64
	err = db.Write(ctx, func(tx *store.Tx) error {
		body := []byte("Subject: x\r\n\r\nx\r\n")
		if _, err := tx.Exec("message.insert", "msg-1", time.Now().Unix(), "", "", "", false, false, len(body), body); err != nil {
			return err
		}
		outbound, err = q.Enqueue(tx, queue.Message{MessageID: "msg-1", To: emails, Kind: "list"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// The deliveries, in order: the first read of the batches names them.
	first, err := s.readMembers(ctx, l.ID, outbound, 0)
	if err != nil || len(first.ids) != memberBatch {
		t.Fatalf("first batch: %d deliveries, %v", len(first.ids), err)
	}
	dlv := first.ids[0]
	aheadSeen := false
	for i, email := range emails {
		c := queue.Copy{DeliveryID: dlv + int64(i), OutboundID: outbound, Rcpt: email}
		id, state, err := s.memberOf(ctx, l.ID, c)
		if err != nil || state != "active" || id != ids[email] {
			t.Fatalf("copy %d (%s): member %d %q %v, want %d", i, email, id, state, err, ids[email])
		}
		if i == memberBatch/2+10 {
			// Past half the first batch: the second is being read ahead.
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
				s.copiesMu.Lock()
				_, ok := s.copies[dlv+memberBatch]
				reading := s.ahead.reading
				s.copiesMu.Unlock()
				if ok && !reading {
					aheadSeen = true
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the second batch was not read ahead")
				}
			}
		}
	}
	if !aheadSeen {
		t.Fatal("no read ahead seen")
	}
	s.copiesMu.Lock()
	defer s.copiesMu.Unlock()
	if len(s.copies) != 0 || s.ahead.from != 0 {
		t.Fatalf("%d members kept after the last copy, next read from %d", len(s.copies), s.ahead.from)
	}
}

// A read ahead that ends after memberOf read on (s.ahead moved) leaves
// alone whether another read ahead is under way: it would otherwise let a
// second read of the same batch start (found by review).
func TestStaleReadAheadLeavesTheNextOne(t *testing.T) {
	db, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := &Service{db: db, copies: map[int64]memberRead{}}
	s.ahead = readAhead{list: 1, outbound: 1, from: 1025, reading: true}
	s.readAheadMembers(readAhead{list: 1, outbound: 1, from: 513})
	if a := s.ahead; !a.reading || a.from != 1025 {
		t.Fatalf("after a stale read ahead: %+v", a)
	}
}
