package queue

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// fakeNow is a clock the test moves (the intake meter's, pipeEnv's).
type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeNow) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeNow) add(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

// accept tells q of n messages accepted now.
func accept(q *Queue, n int) {
	for range n {
		q.Accepted()
	}
}

// Copies wait while intake runs at 100 messages a second or more (20 in
// 200 ms), for IntakeFirst at most in a busy spell; a quieter intake, or
// none at all, holds nothing back; IntakeFirst 0 never holds back.
func TestIntakeFirstHoldBack(t *testing.T) {
	clock := &fakeNow{t: time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)}
	q := newQueue(t)
	q.intake.now = clock.now
	accept(q, 100)
	if d := q.holdBack(); d != 0 {
		t.Fatalf("IntakeFirst 0 held back %s", d)
	}
	q.cfg.IntakeFirst = 2 * time.Second
	if d := q.holdBack(); d != 0 {
		t.Fatalf("no intake, held back %s", d)
	}
	accept(q, 19)
	if d := q.holdBack(); d != 0 {
		t.Fatalf("19 messages in 200 ms held back %s", d)
	}
	accept(q, 1)
	if d := q.holdBack(); d <= 0 || d > intakeWindow {
		t.Fatalf("20 messages in 200 ms: held back %s", d)
	}
	// Busy on: 20 a window, each window.
	for range 19 {
		clock.add(intakeWindow)
		accept(q, 20)
		if d := q.holdBack(); d <= 0 {
			t.Fatalf("busy, %s into the spell: nothing held back", clock.t.Sub(q.intake.since))
		}
	}
	clock.add(intakeWindow)
	accept(q, 20)
	if d := q.holdBack(); d != 0 {
		t.Fatalf("held back past IntakeFirst: %s", d)
	}
	clock.add(intakeWindow)
	accept(q, 20)
	if d := q.holdBack(); d != 0 {
		t.Fatalf("held back again in the same busy spell: %s", d)
	}
	// Quiet for 200 ms: copies go, and the spell is not over: busy again,
	// nothing is held back.
	clock.add(2 * intakeWindow)
	if d := q.holdBack(); d != 0 {
		t.Fatalf("quiet, held back %s", d)
	}
	accept(q, 20)
	if d := q.holdBack(); d != 0 {
		t.Fatalf("a pause of 200 ms started a new spell: held back %s", d)
	}
	// Quiet for IntakeFirst: the spell is over; the next one holds back
	// anew.
	clock.add(q.cfg.IntakeFirst + intakeWindow)
	if d := q.holdBack(); d != 0 {
		t.Fatalf("quiet, held back %s", d)
	}
	accept(q, 20)
	if d := q.holdBack(); d <= 0 {
		t.Fatal("a new busy spell held nothing back")
	}
	// Messages of windows long gone do not count.
	clock.add(time.Hour)
	accept(q, 19)
	if d := q.holdBack(); d != 0 {
		t.Fatalf("old windows counted: held back %s", d)
	}
}

// While intake is busy, a queued copy stays in the queue; once intake is
// quiet it goes out, once.
func TestIntakeFirstCopiesWait(t *testing.T) {
	relay := startRelay(t, true)
	clock := &fakeNow{t: time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)}
	e := newPipeEnv(t, relay, 2, nil, func(c *Config) { c.IntakeFirst = time.Hour })
	e.q.intake.now = clock.now
	accept(e.q, 50)
	e.enqueue("Subject: x\r\n\r\nx\r\n", "forward", "a@x.example")
	holding := func() bool {
		e.q.intake.mu.Lock()
		defer e.q.intake.mu.Unlock()
		return !e.q.intake.since.IsZero()
	}
	deadline := time.Now().Add(10 * time.Second)
	for !holding() {
		if time.Now().After(deadline) {
			t.Fatal("the scheduler never held the copy back")
		}
		time.Sleep(5 * time.Millisecond) // polling an asynchronous state
	}
	if got := relay.copies(); len(got) != 0 {
		t.Fatalf("sent while intake is busy: %v", got)
	}
	clock.add(time.Second) // quiet since
	e.wait(map[string]int{"sent": 1, "queued": 0})
	if got := relay.copies(); got["a@x.example"] != 1 || len(got) != 1 {
		t.Fatalf("copies %v", got)
	}
}

// The bound holds however intake runs: a flood that pauses for 200 ms
// (two windows) every 29.8 s, or a rate that dips under the threshold for
// an instant, is one busy spell, not a new one each time. Here intake is
// busy for 5 minutes save a 200 ms pause every 29.8 s; the scheduler asks
// holdBack every 100 ms, as waitForIntake does. Copies must not be held
// back for more than IntakeFirst in all (they were for 4m50s, going out
// only in the pauses).
func TestIntakeFirstBoundHoldsWhenIntakeDips(t *testing.T) {
	clock := &fakeNow{t: time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)}
	q := newQueue(t)
	q.intake.now = clock.now
	q.cfg.IntakeFirst = 30 * time.Second
	const flood = 5 * time.Minute
	pauseEvery := 298 // windows (29.8 s)
	var held time.Duration
	for w := 0; time.Duration(w)*intakeWindow < flood; w++ {
		clock.add(intakeWindow)
		if w%pauseEvery > 1 { // two windows of every pauseEvery without mail
			accept(q, 20)
		}
		if d := q.holdBack(); d > 0 {
			held += intakeWindow
		}
	}
	if held > q.cfg.IntakeFirst+intakeWindow {
		t.Fatalf("copies held back %s of a %s flood with 200 ms pauses (IntakeFirst %s)", held, flood, q.cfg.IntakeFirst)
	}
}

// Copies held back stay claimed: intake_first is shortened to half the
// lease, so that a hold never outlasts a claim (on PostgreSQL another
// node would send them too). A short lease for a fast failover does not
// stop the hub from starting.
func TestIntakeFirstWithinLease(t *testing.T) {
	db := newQueue(t).db
	for _, tc := range []struct{ intake, lease, want time.Duration }{
		{30 * time.Second, 5 * time.Minute, 30 * time.Second},
		{30 * time.Second, 5 * time.Second, 2500 * time.Millisecond},
		{10 * time.Minute, 0, 150 * time.Second}, // the default lease, 5 minutes
		{0, 5 * time.Second, 0},
	} {
		q, err := New(context.Background(), db, Config{Domain: "hub.example", IntakeFirst: tc.intake, Lease: tc.lease},
			slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if q.cfg.IntakeFirst != tc.want {
			t.Errorf("intake_first %s, lease %s: %s, want %s", tc.intake, tc.lease, q.cfg.IntakeFirst, tc.want)
		}
	}
}
