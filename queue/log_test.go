package queue

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"codeberg.org/relais/relais/privacy"
)

// syncBuffer is a log the recorder and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// logTo is a pseudonymizing text logger without time, as the hub's with
// log.pseudonymize on, over a handler that already holds attributes.
func logTo(w *syncBuffer) *slog.Logger {
	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	h := slog.NewTextHandler(w, &slog.HandlerOptions{ReplaceAttr: noTime})
	return slog.New(privacy.Pseudonymizer(h, []byte("secret"), []string{"hub.example"})).With("component", "queue")
}

// The delivery lines are written as they were when a logger made for each
// attempt held the delivery's ids: the same message, attributes in the
// same order, the recipient and the reply pseudonymized alike.
func TestDeliveryLogLines(t *testing.T) {
	to := members(3)
	relay := startRelay(t, true, func(r *testRelay) {
		r.refuse[to[1]] = "550 5.1.1 <" + to[1] + ">: Recipient address rejected"
	})
	var got syncBuffer
	e := newPipeEnvLog(t, relay, 1, nil, logTo(&got))
	e.enqueue(post, "list", to...)
	e.wait(map[string]int{"sent": 2, "failed": 1, "queued": 0})
	ds := map[string][]Delivery{}
	for _, state := range []string{"sent", "failed"} {
		var err error
		if ds[state], err = List(context.Background(), e.db, state, 10); err != nil {
			t.Fatal(err)
		}
	}
	e.stop() // the recorder has written its lines

	var want syncBuffer
	log := logTo(&want)
	for _, state := range []string{"sent", "failed"} {
		for _, d := range ds[state] {
			l := log.With("dlv", d.ID, "rcpt", d.Rcpt, "attempt", d.Attempts).With("qid", d.MessageID)
			if state == "sent" {
				l.Info("delivery", "result", state, "reply", d.LastReply)
			} else {
				l.Warn("delivery", "result", state, "reply", d.LastReply)
			}
		}
	}
	lines := func(s string) []string {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if strings.Contains(l, "msg=delivery") {
				out = append(out, l)
			}
		}
		slices.Sort(out)
		return out
	}
	if g, w := lines(got.String()), lines(want.String()); !slices.Equal(g, w) || len(w) != 3 {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(g, "\n"), strings.Join(w, "\n"))
	}
	if strings.Contains(got.String(), "@members.example") {
		t.Fatalf("an address in clear:\n%s", got.String())
	}
}
