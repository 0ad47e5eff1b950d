package mailauth

import (
	"context"
	"errors"
	"testing"
)

// failing is a DNS that answers nothing for now.
type failing struct{ StaticResolver }

func (*failing) LookupTXT(context.Context, string) ([]string, error) {
	return nil, errors.New("timeout")
}

func TestDMARCPolicy(t *testing.T) {
	r := &StaticResolver{}
	r.Set("_dmarc.strict.example", "v=DMARC1; p=reject")
	r.Set("_dmarc.org.example", "v=DMARC1; p=none; sp=quarantine")
	r.Set("_dmarc.broken.example", "v=DMARC1; p=whatever")
	ctx := context.Background()
	for domain, want := range map[string]Policy{
		"strict.example":      "reject",
		"STRICT.example.":     "reject",
		"org.example":         "none",
		"mail.org.example":    "quarantine", // sp= of the organisational domain (RFC 7489 §6.6.3)
		"a.b.strict.example":  "reject",     // no sp=: p= applies
		"nothing.example":     "",
		"broken.example":      "", // a record that does not parse counts as none
		"sub.nothing.example": "",
	} {
		got, err := DMARCPolicy(ctx, r, domain)
		if err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", domain, got, err, want)
		}
	}
	if !Policy("reject").Strict() || !Policy("quarantine").Strict() || Policy("none").Strict() || Policy("").Strict() {
		t.Error("Strict")
	}
	// A lookup that fails for now is an error, to retry; not "no policy".
	if _, err := DMARCPolicy(ctx, &failing{}, "example.org"); err == nil {
		t.Error("temporary failure taken as no policy")
	}
}
