package smtpd

import (
	"sync"
	"time"
)

// rate counts events per key (a client address, a sender) over a sliding
// period, approximated as Postfix's anvil and most limiters do with two
// fixed windows: the current one, and the previous one weighted by the
// part of it still inside the period. Memory is two maps of the keys seen
// in the last two windows.
type rate struct {
	period time.Duration
	limit  int // 0: no limit

	mu        sync.Mutex
	start     time.Time
	cur, prev map[string]int
}

func newRate(period time.Duration, limit int) *rate {
	return &rate{period: period, limit: limit, cur: map[string]int{}, prev: map[string]int{}}
}

// allow records one event for key at now, unless key has reached the
// limit already; it reports whether the event is allowed.
func (r *rate) allow(key string, now time.Time) bool {
	if r == nil || r.limit <= 0 {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.full(key, now) {
		return false
	}
	r.cur[key]++
	return true
}

// over says whether key has reached the limit, recording nothing.
func (r *rate) over(key string, now time.Time) bool {
	if r == nil || r.limit <= 0 {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.full(key, now)
}

// add records one event for key at now.
func (r *rate) add(key string, now time.Time) {
	if r == nil || r.limit <= 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.full(key, now) // moves the windows on
	r.cur[key]++
}

func (r *rate) full(key string, now time.Time) bool {
	switch elapsed := now.Sub(r.start); {
	case elapsed >= 2*r.period || elapsed < 0:
		r.prev, r.cur, r.start = map[string]int{}, map[string]int{}, now.Truncate(r.period)
	case elapsed >= r.period:
		r.prev, r.cur, r.start = r.cur, map[string]int{}, r.start.Add(r.period)
	}
	left := 1 - float64(now.Sub(r.start))/float64(r.period)
	return float64(r.cur[key])+float64(r.prev[key])*left >= float64(r.limit)
}
