package queue

import (
	"context"
	"sync"
	"time"
)

// Intake first: while the hub accepts mail faster than intakeBusyRate,
// the scheduler hands no copy to the workers, for at most
// Config.IntakeFirst in a row; then, or as soon as intake slows down,
// everything goes out as usual. A sender waits on the line for its 250;
// a forwarded copy may leave a few seconds later. On a machine that a
// burst of mail saturates, the cores then serve the sessions first and
// the copies (their signatures above all) after, instead of both at half
// speed. Exim's queue_only_load does the like on the load average; the
// rate reacts within a fifth of a second.

// intakeBusyRate is the rate of accepted messages, per second, above
// which intake counts as busy: 20 messages within 200 ms. A few people
// writing at once, or one slow upload, are far below it.
const (
	intakeWindow   = 100 * time.Millisecond
	intakeBusyRate = 100
)

// intakeMeter counts accepted messages by windows of intakeWindow: the
// current one and the one before.
type intakeMeter struct {
	now       func() time.Time // time.Now; tests replace it
	mu        sync.Mutex
	window    int64 // index of the current window
	cur, prev int
	// since is when the scheduler began holding copies back in the
	// current busy spell; zero when it holds none back.
	since time.Time
	// spent: held back for the longest allowed in this busy spell; the
	// copies go out until the spell is over.
	spent bool
	// lastBusy is when intake was last seen busy. A spell ends only once
	// intake has been quiet for Config.IntakeFirst: a pause of a moment
	// (a flood that stops for 200 ms every 30 s, a rate that hovers
	// around the threshold) must not start a new spell each time, or the
	// copies would wait for as long as the flood lasts.
	lastBusy time.Time
}

// Accepted tells the queue that a message was accepted (its 250 said):
// with Config.IntakeFirst, copies wait while intake is busy.
func (q *Queue) Accepted() {
	if q.cfg.IntakeFirst <= 0 {
		return
	}
	m := &q.intake
	now := m.now()
	w := now.UnixNano() / int64(intakeWindow)
	m.mu.Lock()
	m.roll(w)
	m.cur++
	if m.cur+m.prev >= busyCount {
		m.lastBusy = now
	}
	m.mu.Unlock()
}

// roll moves the windows on to w. m.mu is held.
func (m *intakeMeter) roll(w int64) {
	switch {
	case w == m.window:
	case w == m.window+1:
		m.prev, m.cur = m.cur, 0
	default:
		m.prev, m.cur = 0, 0
	}
	m.window = w
}

// busy says whether intake runs above intakeBusyRate now.
func (m *intakeMeter) busy(now time.Time) bool {
	m.roll(now.UnixNano() / int64(intakeWindow))
	return m.cur+m.prev >= busyCount
}

// busyCount is intakeBusyRate over the two windows busy counts.
const busyCount = intakeBusyRate * 2 * int(intakeWindow) / int(time.Second)

// holdBack says how long the scheduler is to wait before handing out the
// next copy: 0 when intake is not busy, or when copies have been held
// back for Config.IntakeFirst already in this busy spell. A spell ends
// once intake has been quiet for Config.IntakeFirst: copies are held
// back for at most as long as they have gone out freely before.
func (q *Queue) holdBack() time.Duration {
	if q.cfg.IntakeFirst <= 0 {
		return 0
	}
	m := &q.intake
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.busy(now) {
		if now.Sub(m.lastBusy) >= q.cfg.IntakeFirst {
			m.since, m.spent = time.Time{}, false // the spell is over
		}
		return 0
	}
	m.lastBusy = now
	if m.spent {
		return 0
	}
	if m.since.IsZero() {
		m.since = now
		q.log.Info("queue: intake busy, copies wait", "for_at_most", q.cfg.IntakeFirst.String())
	}
	if left := q.cfg.IntakeFirst - now.Sub(m.since); left > 0 {
		return min(left, intakeWindow)
	}
	m.spent = true
	q.log.Info("queue: intake still busy, copies go out", "waited", q.cfg.IntakeFirst.String())
	return 0
}

// waitForIntake waits while holdBack says so, or until ctx ends; false if
// ctx ended.
func (q *Queue) waitForIntake(ctx context.Context) bool {
	for {
		d := q.holdBack()
		if d <= 0 {
			return true
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
}
