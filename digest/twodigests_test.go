package digest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"codeberg.org/relais/relais/queue"
	"codeberg.org/relais/relais/store"
)

// Two digests (two outbound ids, two weeks) prepared at once by many
// workers, slightly out of order, events bumped meanwhile, the DB closed
// at the end with read-aheads possibly in flight.
func TestPrepareTwoDigestsAtOnce(t *testing.T) {
	ctx := context.Background()
	s, db, q := copiesService(t)
	const n = 1500
	var emails []string
	for i := range n {
		emails = append(emails, fmt.Sprintf("m%04d@example.org", i))
	}
	weeks := []string{"2026-W48", "2026-W49"}
	outs := make([]int64, 2)
	var err error
	err = db.Write(ctx, func(tx *store.Tx) error {
		for i, e := range emails {
			if err := Save(tx, Member{Email: e, PostCode: fmt.Sprintf("44%03d", i%1000), Radius: 10 + i%7, Lang: "fr", Active: true}, time.Now()); err != nil {
				return err
			}
		}
		for k, w := range weeks {
			body := []byte("Subject: x\r\n\r\nx\r\n")
			id := fmt.Sprintf("msg-%d", k)
			if _, err := tx.Exec("message.insert", id, time.Now().Unix(), "", "", "", false, false, len(body), body); err != nil {
				return err
			}
			// the second digest's recipients in reverse order
			to := emails
			if k == 1 {
				to = make([]string, n)
				for i := range emails {
					to[i] = emails[n-1-i]
				}
			}
			if outs[k], err = q.Enqueue(tx, queue.Message{MessageID: id, To: to, Kind: Kind, Ref: w}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	type cp struct {
		c queue.Copy
		i int
	}
	var all []cp
	for k := range 2 {
		first, err := s.readCopies(ctx, weeks[k], outs[k], 0)
		if err != nil {
			t.Fatal(err)
		}
		base := first.ids[0]
		for j := range n {
			i := j
			if k == 1 {
				i = n - 1 - j
			}
			all = append(all, cp{queue.Copy{DeliveryID: base + int64(j), OutboundID: outs[k], Rcpt: emails[i], Kind: Kind, Ref: weeks[k]}, i})
		}
	}
	// interleave the two digests
	var order []cp
	for j := range n {
		order = append(order, all[j], all[n+j])
	}
	ch := make(chan cp)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for x := range ch {
				p, err := s.prepare(ctx, x.c)
				if err != nil || !p.found || p.member.Email != emails[x.i] || p.member.Radius != 10+x.i%7 {
					t.Errorf("copy %+v: %+v %v", x.c, p.member, err)
				}
			}
		}()
	}
	for j, x := range order {
		if j == n {
			db.Write(ctx, func(tx *store.Tx) error { _, err := tx.Exec("test.events-version-bump"); return err })
		}
		ch <- x
	}
	close(ch)
	wg.Wait()
	// a read-ahead in flight when the DB closes
	s.copies.mu.Lock()
	s.copies.ahead = readAhead{ref: weeks[0], outbound: outs[0], from: all[0].c.DeliveryID}
	s.copies.mu.Unlock()
	s.copies.mu.Lock()
	s.readAheadIfDue(all[0].c)
	s.copies.mu.Unlock()
	db.Close()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		s.copies.mu.Lock()
		r := s.copies.ahead.reading
		s.copies.mu.Unlock()
		if !r {
			break
		}
	}
	s.copies.mu.Lock()
	t.Logf("after close: ahead %+v, next %d", s.copies.ahead, len(s.copies.next))
	s.copies.mu.Unlock()
	p, err := s.prepare(ctx, all[5].c)
	t.Logf("prepare after close: found %v err %v", p.found, err)
	if err == nil && !p.found {
		t.Error("closed DB gave a member-less copy")
	}
}
