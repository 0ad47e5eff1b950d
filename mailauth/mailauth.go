// Package mailauth is in charge of judging mail on proof rather than on its
// From line: what a domain publishes in the DNS about its mail (DMARC, RFC
// 7489) and, later, SPF, DKIM and DMARC verdicts for inbound mail.
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

	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"
)

// Resolver is the hub's one way to ask the DNS. Three things may happen:
// records are returned; the name has none (ErrNotFound, permanent); or the
// lookup failed for now (any other error, worth retrying later).
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// ErrNotFound: the name exists but has no such record, or does not exist.
var ErrNotFound = errors.New("mailauth: no such record")

// NetResolver asks the system's resolver.
type NetResolver struct{ R *net.Resolver }

// LookupTXT implements Resolver.
func (n NetResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	r := n.R
	if r == nil {
		r = net.DefaultResolver
	}
	txt, err := r.LookupTXT(ctx, name)
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound {
		return nil, ErrNotFound
	}
	return txt, err
}

// StaticResolver answers from a map of name → TXT records, for tests and
// the demo. Names are compared in lower case, without a final dot.
type StaticResolver struct {
	mu  sync.Mutex
	TXT map[string][]string
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
	domain = canon(domain)
	rec, err := lookupDMARC(ctx, r, domain)
	if err == nil {
		return Policy(rec.Policy), nil
	}
	if !errors.Is(err, dmarc.ErrNoPolicy) {
		return "", err
	}
	org, perr := publicsuffix.EffectiveTLDPlusOne(domain)
	if perr != nil || org == domain {
		return "", nil
	}
	rec, err = lookupDMARC(ctx, r, org)
	if errors.Is(err, dmarc.ErrNoPolicy) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	if rec.SubdomainPolicy != "" {
		return Policy(rec.SubdomainPolicy), nil
	}
	return Policy(rec.Policy), nil
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
