package mailauth

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"time"
)

// Cached keeps the answers of a Resolver for a while: the records a domain
// publishes for its mail (SPF, DMARC, MX) are asked again for each message
// from it, and a busy hub receives many messages from the same domains in
// a minute. Answers are kept ttl, "no such record" too (negativeTTL); a
// lookup that failed for now is never kept. net.Resolver does not give the
// records' own TTLs, so ttl is short: a change published in the DNS is seen
// within it.
type Cached struct {
	r           Resolver
	ttl         time.Duration
	negativeTTL time.Duration
	now         func() time.Time

	mu      sync.Mutex
	entries map[cacheKey]cacheEntry
}

type cacheKey struct{ kind, name string }

type cacheEntry struct {
	val  any
	err  error // nil or ErrNotFound
	till time.Time
}

// maxCached bounds the answers kept; past it the cache starts afresh.
const maxCached = 10000

// NewCached keeps r's answers ttl, and its "no such record" answers
// negativeTTL.
func NewCached(r Resolver, ttl, negativeTTL time.Duration) *Cached {
	return &Cached{r: r, ttl: ttl, negativeTTL: negativeTTL, now: time.Now, entries: make(map[cacheKey]cacheEntry)}
}

func (c *Cached) lookup(ctx context.Context, kind, name string, ask func() (any, error)) (any, error) {
	k := cacheKey{kind, strings.ToLower(strings.TrimSuffix(name, "."))}
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[k]
	c.mu.Unlock()
	if ok && now.Before(e.till) {
		return e.val, e.err
	}
	v, err := ask()
	var till time.Time
	switch {
	case err == nil:
		till = now.Add(c.ttl)
	case errors.Is(err, ErrNotFound):
		till = now.Add(c.negativeTTL)
	default:
		return v, err // temporary: asked again next time
	}
	c.mu.Lock()
	if len(c.entries) >= maxCached {
		clear(c.entries)
	}
	c.entries[k] = cacheEntry{val: v, err: err, till: till}
	c.mu.Unlock()
	return v, err
}

// LookupTXT implements Resolver.
func (c *Cached) LookupTXT(ctx context.Context, name string) ([]string, error) {
	v, err := c.lookup(ctx, "txt", name, func() (any, error) { return c.r.LookupTXT(ctx, name) })
	txt, _ := v.([]string)
	return txt, err
}

// LookupMX implements Resolver.
func (c *Cached) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	v, err := c.lookup(ctx, "mx", name, func() (any, error) { return c.r.LookupMX(ctx, name) })
	mx, _ := v.([]*net.MX)
	return mx, err
}

// LookupIPAddr implements Resolver.
func (c *Cached) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	v, err := c.lookup(ctx, "ip", host, func() (any, error) { return c.r.LookupIPAddr(ctx, host) })
	ips, _ := v.([]net.IPAddr)
	return ips, err
}

// LookupAddr implements Resolver.
func (c *Cached) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	v, err := c.lookup(ctx, "ptr", addr, func() (any, error) { return c.r.LookupAddr(ctx, addr) })
	names, _ := v.([]string)
	return names, err
}
