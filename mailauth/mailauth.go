// Package mailauth is in charge of judging inbound mail on proof rather than
// on its From line: SPF (RFC 7208, through blitiri.com.ar/go/spf), DKIM
// (RFC 6376, through go-msgauth) and DMARC (RFC 7489) verdicts, written in
// an Authentication-Results field (RFC 8601) that the rest of the hub reads
// back; and what a domain publishes about its mail (its DMARC policy).
//
// Every DNS lookup goes through a Resolver, so tests replace the DNS with
// an in-memory one and never touch the network.
package mailauth

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"
)

// Resolver is the hub's one way to ask the DNS. Three things may happen:
// records are returned; the name has none (ErrNotFound, permanent); or the
// lookup failed for now (any other error, worth retrying later).
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// ErrNotFound: the name exists but has no such record, or does not exist.
var ErrNotFound = errors.New("mailauth: no such record")

// NetResolver asks the system's resolver, or R.
type NetResolver struct{ R *net.Resolver }

// NewNetResolver asks the DNS server at addr (host:port, a local
// validating resolver such as unbound), or the system's when addr is "".
func NewNetResolver(addr string) NetResolver {
	if addr == "" {
		return NetResolver{}
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	return NetResolver{R: &net.Resolver{PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}}}
}

func (n NetResolver) r() *net.Resolver {
	if n.R == nil {
		return net.DefaultResolver
	}
	return n.R
}

func notFound(err error) error {
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound {
		return ErrNotFound
	}
	return err
}

// LookupTXT implements Resolver.
func (n NetResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	txt, err := n.r().LookupTXT(ctx, name)
	return txt, notFound(err)
}

// LookupMX implements Resolver.
func (n NetResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	mx, err := n.r().LookupMX(ctx, name)
	return mx, notFound(err)
}

// LookupIPAddr implements Resolver.
func (n NetResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	ips, err := n.r().LookupIPAddr(ctx, host)
	return ips, notFound(err)
}

// LookupAddr implements Resolver.
func (n NetResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	names, err := n.r().LookupAddr(ctx, addr)
	return names, notFound(err)
}

// StaticResolver answers from maps of name → records, for tests and the
// demo. Names are compared in lower case, without a final dot.
type StaticResolver struct {
	mu  sync.Mutex
	TXT map[string][]string
	IP  map[string][]net.IP
	MX  map[string][]*net.MX
	PTR map[string][]string // by IP address as text
}

// SetIP replaces the addresses of host.
func (s *StaticResolver) SetIP(host string, ips ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.IP == nil {
		s.IP = make(map[string][]net.IP)
	}
	var out []net.IP
	for _, ip := range ips {
		out = append(out, net.ParseIP(ip))
	}
	s.IP[canon(host)] = out
}

// SetMX replaces the MX records of name (preference 10 each).
func (s *StaticResolver) SetMX(name string, hosts ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.MX == nil {
		s.MX = make(map[string][]*net.MX)
	}
	var out []*net.MX
	for _, h := range hosts {
		out = append(out, &net.MX{Host: h + ".", Pref: 10})
	}
	s.MX[canon(name)] = out
}

// LookupMX implements Resolver.
func (s *StaticResolver) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if mx, ok := s.MX[canon(name)]; ok {
		return mx, nil
	}
	return nil, ErrNotFound
}

// LookupIPAddr implements Resolver.
func (s *StaticResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ips, ok := s.IP[canon(host)]
	if !ok {
		return nil, ErrNotFound
	}
	out := make([]net.IPAddr, len(ips))
	for i, ip := range ips {
		out[i] = net.IPAddr{IP: ip}
	}
	return out, nil
}

// LookupAddr implements Resolver.
func (s *StaticResolver) LookupAddr(_ context.Context, addr string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if names, ok := s.PTR[addr]; ok {
		return names, nil
	}
	return nil, ErrNotFound
}

// Set replaces the TXT records of name.
func (s *StaticResolver) Set(name string, txt ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.TXT == nil {
		s.TXT = make(map[string][]string)
	}
	s.TXT[canon(name)] = txt
}

// LookupTXT implements Resolver.
func (s *StaticResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if txt, ok := s.TXT[canon(name)]; ok {
		return txt, nil
	}
	return nil, ErrNotFound
}

func canon(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) }

// Policy is what a domain asks receivers to do with mail that fails DMARC:
// "none", "quarantine" or "reject"; "" when it publishes no DMARC record.
type Policy string

// Strict says whether mail from the domain that a list re-sends under the
// author's From would be quarantined or rejected by receivers (RFC 7489
// §6.3 p=): then a list must write From as its own (RFC 7960 §4.1.3).
func (p Policy) Strict() bool { return p == "quarantine" || p == "reject" }

// DMARCPolicy returns the policy that applies to mail From domain: the
// domain's own _dmarc record, else its organisational domain's, where sp=
// applies to subdomains (RFC 7489 §6.6.3).
func DMARCPolicy(ctx context.Context, r Resolver, domain string) (Policy, error) {
	_, p, err := policyRecord(ctx, r, domain)
	return p, err
}

// policyRecord finds the DMARC record that applies to domain (nil if none)
// and the policy it gives that domain.
func policyRecord(ctx context.Context, r Resolver, domain string) (*dmarc.Record, Policy, error) {
	domain = canon(domain)
	rec, err := lookupDMARC(ctx, r, domain)
	if err == nil {
		return rec, Policy(rec.Policy), nil
	}
	if !errors.Is(err, dmarc.ErrNoPolicy) {
		return nil, "", err
	}
	org := orgDomain(domain)
	if org == domain {
		return nil, "", nil
	}
	rec, err = lookupDMARC(ctx, r, org)
	if errors.Is(err, dmarc.ErrNoPolicy) {
		return nil, "", nil
	} else if err != nil {
		return nil, "", err
	}
	if rec.SubdomainPolicy != "" {
		return rec, Policy(rec.SubdomainPolicy), nil
	}
	return rec, Policy(rec.Policy), nil
}

// orgDomain is the organisational domain (RFC 7489 §3.2): the public
// suffix and one label more.
// SameOrganization says whether two domains have the same organizational
// domain (RFC 7489 §3.2): what relaxed DMARC alignment compares.
func SameOrganization(a, b string) bool {
	return canon(a) != "" && orgDomain(a) == orgDomain(b)
}

func orgDomain(domain string) string {
	org, err := publicsuffix.EffectiveTLDPlusOne(canon(domain))
	if err != nil {
		return canon(domain)
	}
	return org
}

func lookupDMARC(ctx context.Context, r Resolver, domain string) (*dmarc.Record, error) {
	var lookErr error
	rec, err := dmarc.LookupWithOptions(domain, &dmarc.LookupOptions{
		LookupTXT: func(name string) ([]string, error) {
			txt, err := r.LookupTXT(ctx, name)
			if errors.Is(err, ErrNotFound) {
				return nil, nil
			}
			lookErr = err
			return txt, err
		},
	})
	if lookErr != nil {
		return nil, lookErr
	}
	if err != nil && !errors.Is(err, dmarc.ErrNoPolicy) {
		// A record that does not parse is as good as none (RFC 7489 §6.6.3).
		return nil, dmarc.ErrNoPolicy
	}
	return rec, err
}
