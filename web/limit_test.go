package web

import (
	"net/http"
	"net/netip"
	"testing"
	"time"
)

func TestClientBehindTrustedProxies(t *testing.T) {
	s := &Server{cfg: Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}}
	for _, tc := range []struct {
		remote string
		xff    []string
		want   string
	}{
		{"203.0.113.1:1234", []string{"198.51.100.1"}, "203.0.113.1"}, // not a proxy: its word is not read
		{"127.0.0.1:1", nil, "127.0.0.1"},
		{"127.0.0.1:1", []string{"198.51.100.1, 203.0.113.7"}, "203.0.113.7"}, // the client's own entry comes first
		{"127.0.0.1:1", []string{"198.51.100.1", "203.0.113.7"}, "203.0.113.7"},
		{"127.0.0.1:1", []string{"203.0.113.7, 127.0.0.2"}, "203.0.113.7"}, // two proxies
		{"127.0.0.1:1", []string{"203.0.113.7, garbage"}, "127.0.0.1"},     // stops at what is not an address
		{"127.0.0.1:1", []string{"garbage, 203.0.113.7"}, "203.0.113.7"},
		{"127.0.0.1:1", []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"[::ffff:127.0.0.1]:1", []string{"203.0.113.9"}, "203.0.113.9"},
		{"[::1]:1", []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
		{"127.0.0.1:1", []string{"127.0.0.3"}, "127.0.0.3"},
		{"nonsense", []string{"203.0.113.9"}, "invalid IP"},
	} {
		r := &http.Request{RemoteAddr: tc.remote, Header: http.Header{"X-Forwarded-For": tc.xff}}
		if got := s.client(r).String(); got != tc.want {
			t.Errorf("%s %q: %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
	// With no trusted proxy, X-Forwarded-For is never read.
	s = &Server{}
	if got := s.client(&http.Request{RemoteAddr: "127.0.0.1:1", Header: http.Header{"X-Forwarded-For": {"203.0.113.7"}}}); got.String() != "127.0.0.1" {
		t.Errorf("no trusted proxy: %s", got)
	}
	if k := clientKey(netip.MustParseAddr("2001:db8:1:2:3::1")); k != "2001:db8:1:2::/64" {
		t.Errorf("IPv6 key %s", k)
	}
}

func TestLimiterGivesBackEvenly(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	l := newLimiter(120, func() time.Time { return now })
	for i := 0; i < 120; i++ {
		if ok, _, _ := l.take("a"); !ok {
			t.Fatalf("request %d refused", i+1)
		}
	}
	ok, wait, first := l.take("a")
	if ok || wait != 500*time.Millisecond || !first {
		t.Fatalf("121st: %v %v %v", ok, wait, first)
	}
	if _, _, first := l.take("a"); first {
		t.Fatal("second refusal in a row counted as the first")
	}
	if ok, _, _ := l.take("b"); !ok {
		t.Fatal("another client refused")
	}
	now = now.Add(500 * time.Millisecond)
	if ok, _, _ := l.take("a"); !ok {
		t.Fatal("refused after the interval")
	}
	if ok, _, _ := l.take("a"); ok {
		t.Fatal("two given back in one interval")
	}
	// A client owed nothing is forgotten at the next sweep.
	now = now.Add(2 * time.Minute)
	l.take("c")
	if _, ok := l.clients["a"]; ok || len(l.clients) != 1 {
		t.Fatalf("after a sweep: %d clients", len(l.clients))
	}
}
