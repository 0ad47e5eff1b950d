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

// Write prints the domain's records.
func Write(w io.Writer, p Plan) error {
	if p.TTL == 0 {
		p.TTL = 3600
	}
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
	var b strings.Builder
	rec := func(comment, name, typ, data string) {
		if comment != "" {
			fmt.Fprintf(&b, "; %s\n", comment)
		}
		fmt.Fprintf(&b, "%s\t%d\tIN\t%s\t%s\n", name, p.TTL, typ, data)
	}
	fmt.Fprintf(&b, ";; %s: records for the hub's mail (zone-file form, absolute names)\n", p.Domain)
	rec("Where mail for the domain goes.", d, "MX", "10 "+fqdn(p.MX))
	rec("Who may send mail for the domain (SPF, RFC 7208): the relay the hub sends through.",
		d, "TXT", txt("v=spf1 "+p.SPF+" -all"))
	for _, k := range p.Keys {
		state := "waiting: publish it, then `relais dkim activate`"
		if k.Active {
			state = "active: signs the hub's mail"
		}
		rec(fmt.Sprintf("DKIM key %s (%s, %s).", k.Selector, k.Algo, state), fqdn(k.Name()), "TXT", txt(k.Record()))
	}
	rec("What receivers do with mail that fails DKIM and SPF (DMARC, RFC 7489); aggregate reports to "+p.Reports+".",
		fqdn("_dmarc."+p.Domain), "TXT", txt(fmt.Sprintf("v=DMARC1; p=%s; rua=mailto:%s; adkim=r; aspf=r", p.Policy, p.Reports)))
	rec("Where senders report TLS failures when they deliver to the domain (SMTP TLS reporting, RFC 8460).",
		fqdn("_smtp._tls."+p.Domain), "TXT", txt("v=TLSRPTv1; rua=mailto:"+p.Reports))
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
