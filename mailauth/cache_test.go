package mailauth

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// countingResolver answers from a StaticResolver and counts the questions;
// fail makes the next answer a temporary error.
type countingResolver struct {
	StaticResolver
	asked int
	fail  bool
}

func (c *countingResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	c.asked++
	if c.fail {
		c.fail = false
		return nil, &net.DNSError{Err: "timeout", Name: name, IsTimeout: true}
	}
	return c.StaticResolver.LookupTXT(ctx, name)
}

// Answers and "no such record" are kept for their time; a temporary
// failure is not, and names are compared in lower case.
func TestCachedResolver(t *testing.T) {
	r := &countingResolver{}
	r.Set("example.org", "v=spf1 -all")
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	c := NewCached(r, time.Minute, 10*time.Second)
	c.now = func() time.Time { return now }
	ctx := context.Background()
	for range 3 {
		if txt, err := c.LookupTXT(ctx, "Example.org."); err != nil || len(txt) != 1 {
			t.Fatalf("%v %v", txt, err)
		}
	}
	if r.asked != 1 {
		t.Errorf("asked %d times, want 1", r.asked)
	}
	now = now.Add(time.Minute)
	c.LookupTXT(ctx, "example.org")
	if r.asked != 2 {
		t.Errorf("after its time: asked %d times, want 2", r.asked)
	}
	for range 2 {
		if _, err := c.LookupTXT(ctx, "_dmarc.example.org"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("no record: %v", err)
		}
	}
	if r.asked != 3 {
		t.Errorf("no record: asked %d times, want 3", r.asked)
	}
	now = now.Add(10 * time.Second)
	c.LookupTXT(ctx, "_dmarc.example.org")
	if r.asked != 4 {
		t.Errorf("no record after its time: asked %d times, want 4", r.asked)
	}
	r.fail = true
	if _, err := c.LookupTXT(ctx, "other.example"); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("temporary failure: %v", err)
	}
	if _, err := c.LookupTXT(ctx, "other.example"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("asked again after a failure: %v", err)
	}
	if r.asked != 6 {
		t.Errorf("a failure was kept: asked %d times, want 6", r.asked)
	}
}
