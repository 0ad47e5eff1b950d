package imapd

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// limits counts failed sign-ins per address and per client address (an
// hour), and connections per client address (a minute, and at once).
// Addresses are kept as hashes, only in memory.
type limits struct {
	cfg   Config
	now   func() time.Time
	mu    sync.Mutex
	fails map[string][]time.Time // "a:"+hash(address) or "ip:"+client → failures
	conns map[string][]time.Time // client → connections opened
	open  map[string]int         // client → connections open
	users map[string]int         // hash(address) → sessions signed in
}

func newLimits(cfg Config, now func() time.Time) *limits {
	return &limits{cfg: cfg, now: now, fails: map[string][]time.Time{}, conns: map[string][]time.Time{}, open: map[string]int{},
		users: map[string]int{}}
}

// clientIP is the address of a client, netip form.
func clientIP(a net.Addr) netip.Addr {
	if ga, ok := a.(guardAddr); ok {
		a = ga.Addr
	}
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// ipKey is what a client counts as: its IPv4 address, its IPv6 /64.
func ipKey(ip netip.Addr) string {
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

func addrKey(email string) string {
	h := sha256.Sum256([]byte(email))
	return "a:" + hex.EncodeToString(h[:8])
}

// recent drops the times before since.
func recent(ts []time.Time, since time.Time) []time.Time {
	i := 0
	for i < len(ts) && ts[i].Before(since) {
		i++
	}
	return ts[i:]
}

// mayTry says whether a sign-in of email from ip may be tried.
func (l *limits) mayTry(email string, ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	since := l.now().Add(-time.Hour)
	a, c := addrKey(email), "ip:"+ipKey(ip)
	l.fails[a] = recent(l.fails[a], since)
	l.fails[c] = recent(l.fails[c], since)
	return len(l.fails[a]) < l.cfg.FailuresPerAddress && len(l.fails[c]) < l.cfg.FailuresPerIP
}

func (l *limits) failed(email string, ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, k := range []string{addrKey(email), "ip:" + ipKey(ip)} {
		l.fails[k] = append(l.fails[k], now)
	}
	if len(l.fails) > 100000 { // under attack from everywhere: forget the oldest news
		clear(l.fails)
	}
}

// listener wraps ln: a connection beyond a client's limits is answered
// with a BYE and closed.
func (l *limits) listener(ln net.Listener, log *slog.Logger) net.Listener {
	return &limitedListener{Listener: ln, l: l, log: log}
}

type limitedListener struct {
	net.Listener
	l   *limits
	log *slog.Logger
}

func (ll *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := ipKey(clientIP(c.RemoteAddr()))
		if ll.l.admit(key) {
			return &countedConn{Conn: c, l: ll.l, key: key}, nil
		}
		ll.log.Info("imap: connection refused: client over its limits", "client", key)
		c.SetWriteDeadline(time.Now().Add(time.Second))
		c.Write([]byte("* BYE too many connections from your address, try again later\r\n"))
		c.Close()
	}
}

func (l *limits) admit(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.conns[key] = recent(l.conns[key], now.Add(-time.Minute))
	if len(l.conns[key]) >= l.cfg.ConnectionsPerIPMinute || l.open[key] >= l.cfg.MaxConnectionsPerIP {
		return false
	}
	l.conns[key] = append(l.conns[key], now)
	l.open[key]++
	if len(l.conns) > 100000 {
		clear(l.conns)
	}
	return true
}

type countedConn struct {
	net.Conn
	l    *limits
	key  string
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		if c.l.open[c.key]--; c.l.open[c.key] <= 0 {
			delete(c.l.open, c.key)
		}
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// open1 counts a session signed in with email, unless it has too many.
func (l *limits) open1(email string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := addrKey(email)
	if l.cfg.MaxSessionsPerAddress > 0 && l.users[k] >= l.cfg.MaxSessionsPerAddress {
		return false
	}
	l.users[k]++
	return true
}

func (l *limits) close1(email string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := addrKey(email)
	if l.users[k]--; l.users[k] <= 0 {
		delete(l.users, k)
	}
}
