package queue

import (
	"context"
	"fmt"
	"net"
	"strconv"
)

// A relay that is the hub itself sends every message back to the hub,
// which refuses it (554 5.7.1 relay denied: the recipients are not its
// own) or, worse, takes it again: nothing is ever delivered. It happens
// with the most natural of settings (relais on :25, relay 127.0.0.1:25,
// with no Postfix), so the hub refuses to start with one.

// LookupIP resolves a host name for CheckRelay.
type LookupIP func(ctx context.Context, host string) ([]net.IP, error)

// CheckRelay returns an error, a sentence for the operator, when the relay
// address (host:port) resolves to one of the SMTP listen addresses: the
// same address and port, or a listener on every address (":25",
// "0.0.0.0:25") and the relay on this machine, on that port. lookup
// resolves the relay's host name (nil: the system's resolver); local
// returns the machine's own addresses (nil: its interfaces').
func CheckRelay(ctx context.Context, relay string, listens []string, lookup LookupIP, local func() ([]net.IP, error)) error {
	host, port, err := net.SplitHostPort(relay)
	if err != nil {
		return fmt.Errorf("relay.address %q: %w", relay, err)
	}
	rport, err := net.LookupPort("tcp", port)
	if err != nil {
		return fmt.Errorf("relay.address %q: %w", relay, err)
	}
	if lookup == nil {
		lookup = func(ctx context.Context, h string) ([]net.IP, error) {
			return net.DefaultResolver.LookupIP(ctx, "ip", h)
		}
	}
	if local == nil {
		local = interfaceIPs
	}
	var rips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		rips = []net.IP{ip}
	} else if host == "" {
		rips = []net.IP{net.IPv4(127, 0, 0, 1)}
	} else if rips, err = lookup(ctx, host); err != nil {
		return nil // unknown here: the queue will say so at each attempt
	}
	mine, _ := local()
	for _, l := range listens {
		lhost, lport, err := net.SplitHostPort(l)
		if err != nil {
			continue
		}
		if n, err := net.LookupPort("tcp", lport); err != nil || n != rport {
			continue
		}
		lip := net.ParseIP(lhost)
		for _, rip := range rips {
			self := false
			switch {
			case lhost == "" || (lip != nil && lip.IsUnspecified()):
				// Listening on every address: any address of this
				// machine reaches the hub.
				self = rip.IsLoopback() || rip.IsUnspecified() || containsIP(mine, rip)
			case lip != nil:
				self = lip.Equal(rip) || (rip.IsUnspecified() && lip.IsLoopback())
			default: // a host name
				if ips, err := lookup(ctx, lhost); err == nil {
					self = containsIP(ips, rip)
				}
			}
			if self {
				return fmt.Errorf("relay.address %s is this hub's own SMTP listener %s (port %s): every message would come back to the hub "+
					"and never be delivered. Point relay.address at the mail server that delivers for the hub "+
					"(a local Postfix listening on 127.0.0.1:10025, see deploy/README.md) or at a provider's smarthost",
					relay, l, strconv.Itoa(rport))
			}
		}
	}
	return nil
}

func containsIP(ips []net.IP, ip net.IP) bool {
	for _, x := range ips {
		if x.Equal(ip) {
			return true
		}
	}
	return false
}

func interfaceIPs() ([]net.IP, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []net.IP
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			out = append(out, n.IP)
		}
	}
	return out, nil
}
