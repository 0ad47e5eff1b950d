// Package zone is in charge of the DNS records an operator publishes so that
// the hub's mail is received and trusted: MX, SPF (RFC 7208), the DKIM keys
// (RFC 6376 §3.6.1), DMARC (RFC 7489) and TLS reporting (RFC 8460), written
// in zone-file form (RFC 1035 §5) with absolute names, ready to paste.
package zone

import (
	"fmt"
	"io"
	"strings"

	"codeberg.org/relais/relais/dkim"
)

// Plan is what the records of one domain say.
type Plan struct {
	Domain string
	// MX is the host that receives the domain's mail (the hub, or the
	// Postfix in front of it).
	MX string
	// SPF is the mechanisms that name who sends for the domain (the
	// relay), between "v=spf1" and "-all". Default: "mx".
	SPF string
	// Reports is where DMARC aggregate and TLS reports go.
	Reports string
	// Policy is the DMARC policy: none, quarantine (suggested) or reject.
	Policy string
	Keys   []dkim.Key // the domain's keys, active and waiting
	TTL    int
}

// Record is one DNS record of a Plan.
type Record struct {
	Name    string // absolute, with the final dot
	Type    string // MX, TXT
	Value   string // MX: "10 host."; TXT: the text, unquoted
	Comment string
	// Waiting: a DKIM key not yet signing (publish it before activating).
	Waiting bool
}

// Kinds of records, for Record.Kind.
const (
	KindMX     = "mx"
	KindSPF    = "spf"
	KindDKIM   = "dkim"
	KindDMARC  = "dmarc"
	KindTLSRPT = "tlsrpt"
)

// Kind says what a record is for: mx, spf, dkim, dmarc, tlsrpt.
func (r Record) Kind() string {
	switch {
	case r.Type == "MX":
		return KindMX
	case strings.HasPrefix(r.Value, "v=spf1"):
		return KindSPF
	case strings.HasPrefix(r.Value, "v=DKIM1"):
		return KindDKIM
	case strings.HasPrefix(r.Value, "v=DMARC1"):
		return KindDMARC
	}
	return KindTLSRPT
}

// Line is the record in zone-file form.
func (r Record) Line(ttl int) string {
	v := r.Value
	if r.Type == "TXT" {
		v = txt(v)
	}
	return fmt.Sprintf("%s\t%d\tIN\t%s\t%s", r.Name, ttl, r.Type, v)
}

// Records returns the records of p, in the order Write prints them.
func Records(p Plan) []Record {
	if p.SPF == "" {
		p.SPF = "mx"
	}
	if p.Policy == "" {
		p.Policy = "quarantine"
	}
	if p.Reports == "" {
		p.Reports = "postmaster@" + p.Domain
	}
	d := fqdn(p.Domain)
	out := []Record{
		{Name: d, Type: "MX", Value: "10 " + fqdn(p.MX), Comment: "Where mail for the domain goes."},
		{Name: d, Type: "TXT", Value: "v=spf1 " + p.SPF + " -all", Comment: "Who may send mail for the domain (SPF, RFC 7208): the relay the hub sends through."},
	}
	for _, k := range p.Keys {
		state := "waiting: publish it, then `relais dkim activate`"
		if k.Active {
			state = "active: signs the hub's mail"
		}
		out = append(out, Record{Name: fqdn(k.Name()), Type: "TXT", Value: k.Record(), Waiting: !k.Active,
			Comment: fmt.Sprintf("DKIM key %s (%s, %s).", k.Selector, k.Algo, state)})
	}
	out = append(out,
		Record{Name: fqdn("_dmarc." + p.Domain), Type: "TXT", Value: fmt.Sprintf("v=DMARC1; p=%s; rua=mailto:%s; adkim=r; aspf=r", p.Policy, p.Reports),
			Comment: "What receivers do with mail that fails DKIM and SPF (DMARC, RFC 7489); aggregate reports to " + p.Reports + "."},
		Record{Name: fqdn("_smtp._tls." + p.Domain), Type: "TXT", Value: "v=TLSRPTv1; rua=mailto:" + p.Reports,
			Comment: "Where senders report TLS failures when they deliver to the domain (SMTP TLS reporting, RFC 8460)."})
	return out
}

// Write prints the domain's records.
func Write(w io.Writer, p Plan) error {
	if p.TTL == 0 {
		p.TTL = 3600
	}
	var b strings.Builder
	fmt.Fprintf(&b, ";; %s: records for the hub's mail (zone-file form, absolute names)\n", p.Domain)
	for _, r := range Records(p) {
		fmt.Fprintf(&b, "; %s\n%s\n", r.Comment, r.Line(p.TTL))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func fqdn(name string) string { return strings.TrimSuffix(strings.ToLower(name), ".") + "." }

// txt quotes a TXT value as character-strings of at most 255 octets
// (RFC 1035 §3.3.14), in one parenthesised group when it takes several.
func txt(v string) string {
	var parts []string
	for len(v) > 255 {
		parts = append(parts, v[:255])
		v = v[255:]
	}
	parts = append(parts, v)
	for i, p := range parts {
		p = strings.ReplaceAll(p, `\`, `\\`)
		parts[i] = `"` + strings.ReplaceAll(p, `"`, `\"`) + `"`
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "( " + strings.Join(parts, " ") + " )"
}
