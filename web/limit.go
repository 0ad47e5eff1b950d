package web

import (
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// client is who a request comes from: the peer's address; or, when the
// peer is a trusted proxy, the last address of X-Forwarded-For that is not
// itself a trusted proxy, which is the one the nearest proxy appended
// (what a client writes there itself comes before, and is not read). An
// X-Forwarded-For entry that is not an address stops the walk at the
// proxy that passed it on.
func (s *Server) client(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	addr := ap.Addr().Unmap()
	if !s.trusted(addr) {
		return addr
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i, n := len(hops)-1, 0; i >= 0 && n < maxHops; i, n = i-1, n+1 {
		a, ok := parseHop(strings.TrimSpace(hops[i]))
		if !ok {
			return addr
		}
		addr = a
		if !s.trusted(a) {
			return a
		}
	}
	return addr
}

// maxHops bounds how many proxies in a row are looked through.
const maxHops = 16

// parseHop reads an X-Forwarded-For entry: an address, with a port or not.
func parseHop(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientKey is what the limit counts by: an IPv4 address, or the /64 of
// an IPv6 one (a single subscriber commonly holds a whole /64).
func clientKey(a netip.Addr) string {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// limit answers 429 Too Many Requests (RFC 6585 §4), with Retry-After, to
// a client over its rate, before any handler runs; a client's first
// refusal in a row is logged.
func (s *Server) limit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.limiter != nil {
			c := s.client(r)
			ok, wait, first := s.limiter.take(clientKey(c))
			if !ok {
				secs := int((wait + time.Second - 1) / time.Second)
				if first {
					s.log.Warn("web: client over its request rate", "client", c.String(), "retry_after", secs)
				}
				w.Header().Set("Retry-After", strconv.Itoa(secs))
				status(w, http.StatusTooManyRequests)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// limiter allows each client n requests a minute, given back evenly: the
// generic cell rate algorithm, one request every interval with a burst of
// n, in whole nanoseconds.
type limiter struct {
	mu       sync.Mutex
	n        int64
	interval time.Duration
	now      func() time.Time
	clients  map[string]*allowance
	swept    time.Time
}

type allowance struct {
	tat  time.Time // theoretical arrival time: when the client is owed nothing
	over bool      // refused since its last allowed request
}

// maxClients bounds the clients remembered at once; beyond it, new
// clients share one allowance until the table is swept.
const maxClients = 1 << 16

func newLimiter(perMinute int, now func() time.Time) *limiter {
	return &limiter{n: int64(perMinute), interval: time.Minute / time.Duration(perMinute), now: now,
		clients: make(map[string]*allowance)}
}

// take counts a request of client: whether it is allowed, and if not, how
// long until one is, and whether this is its first refusal in a row.
func (l *limiter) take(client string) (ok bool, wait time.Duration, first bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.swept) >= time.Minute || len(l.clients) >= maxClients {
		l.sweep(now)
	}
	a := l.clients[client]
	if a == nil {
		if len(l.clients) >= maxClients {
			client = "overflow"
			a = l.clients[client]
		}
		if a == nil {
			a = &allowance{tat: now}
			l.clients[client] = a
		}
	}
	tat := a.tat
	if tat.Before(now) {
		tat = now
	}
	next := tat.Add(l.interval)
	if over := next.Sub(now) - time.Duration(l.n)*l.interval; over > 0 {
		first, a.over = !a.over, true
		return false, over, first
	}
	a.tat, a.over = next, false
	return true, 0, false
}

// sweep forgets the clients owed nothing any more.
func (l *limiter) sweep(now time.Time) {
	for k, a := range l.clients {
		if !a.tat.After(now) {
			delete(l.clients, k)
		}
	}
	l.swept = now
}
