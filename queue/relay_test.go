package queue

import (
	"context"
	"net"
	"strings"
	"testing"
)

// A relay that is one of the hub's own listeners is refused with a
// sentence; any other is accepted.
func TestCheckRelay(t *testing.T) {
	lookup := func(_ context.Context, host string) ([]net.IP, error) {
		switch host {
		case "localhost":
			return []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}, nil
		case "mx.hub.example":
			return []net.IP{net.ParseIP("203.0.113.10")}, nil
		case "smtp.provider.example":
			return []net.IP{net.ParseIP("198.51.100.5")}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	local := func() ([]net.IP, error) {
		return []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("203.0.113.10"), net.ParseIP("::1")}, nil
	}
	for _, c := range []struct {
		relay   string
		listens []string
		self    bool
	}{
		{"127.0.0.1:25", []string{":25"}, true},               // the README's old production line
		{"localhost:25", []string{"0.0.0.0:25"}, true},        // a name for this machine
		{"mx.hub.example:25", []string{"[::]:25"}, true},      // this machine's public address
		{"127.0.0.1:2525", []string{"127.0.0.1:2525"}, true},  // the same address
		{"localhost:smtp", []string{"127.0.0.1:25"}, true},    // a service name
		{"127.0.0.1:10025", []string{":25"}, false},           // the tested topology
		{"127.0.0.1:25", []string{"203.0.113.10:25"}, false},  // a Postfix on loopback
		{"smtp.provider.example:587", []string{":25"}, false}, // a provider
		{"198.51.100.5:25", []string{":25"}, false},           // another machine
		{"nowhere.invalid:25", []string{":25"}, false},        // unknown: the queue will say so
	} {
		err := CheckRelay(context.Background(), c.relay, c.listens, lookup, local)
		if (err != nil) != c.self {
			t.Errorf("relay %s, listen %v: %v", c.relay, c.listens, err)
		}
		if err != nil && !strings.Contains(err.Error(), "is this hub's own SMTP listener") {
			t.Errorf("relay %s: no sentence: %v", c.relay, err)
		}
	}
	err := CheckRelay(context.Background(), "127.0.0.1:25", []string{":25"}, lookup, local)
	want := "relay.address 127.0.0.1:25 is this hub's own SMTP listener :25 (port 25): every message would come back to the hub and never be delivered. " +
		"Point relay.address at the mail server that delivers for the hub (a local Postfix listening on 127.0.0.1:10025, see deploy/README.md) or at a provider's smarthost"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}
