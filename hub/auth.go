package hub

import (
	"context"
	"net"
	"strings"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/internal/mailbox"
	"codeberg.org/relais/relais/internal/rawheader"
	"codeberg.org/relais/relais/mailauth"
	"codeberg.org/relais/relais/smtpd"
)

// checker is the SMTP server's Checker: SPF, DKIM and DMARC for every
// message, while its sender waits, recorded in an Authentication-Results
// field that lists and the support desk read back (mailauth.Read).
type checker struct {
	h        *Hub
	dns      mailauth.Resolver
	id       string       // authserv-id
	skipSPF  []*net.IPNet // front MTAs whose address says nothing of the sender
	noReject bool
}

func (c *checker) Check(ctx context.Context, env *smtpd.Envelope, msg []byte) (field, body []byte, refusal *smtpd.Refusal) {
	in := mailauth.Input{IP: net.ParseIP(env.RemoteIP), Helo: env.Helo, MailFrom: env.From, Message: msg}
	front := false
	for _, n := range c.skipSPF {
		if in.IP != nil && n.Contains(in.IP) {
			in.IP, front = nil, true // SPF none: DKIM must carry the proof
		}
	}
	res := mailauth.Check(ctx, c.dns, in)
	c.h.log.Info("verdict", "qid", env.ID, "from", address.Redact(env.From), "spf", res.SPF, "dkim", len(res.DKIM),
		"dmarc", res.DMARC, "header_from", res.From, "policy", res.Policy, "aligned", res.Identity)
	if r := c.claimsHub(msg, res); r != nil {
		// Refused even behind a front MTA: a bounce is better than
		// laundered phishing.
		return nil, nil, r
	}
	switch {
	case front:
		// Behind a front MTA that already accepted the message, refusing
		// would make it bounce (backscatter), and SPF was not checked.
	case res.DMARC == "fail" && res.Policy == "reject" && !c.noReject:
		return nil, nil, &smtpd.Refusal{Why: smtpd.DMARCReject, Detail: "DMARC " + res.From}
	}
	return []byte(res.Field(c.id)), mailauth.Strip(msg, c.id), nil
}

// claimsHub refuses a From that passes for the hub's own mail without
// being it. Whatever the hub forwards keeps its From and leaves signed
// with the hub's domain: a From in that domain, or in one aligned with it
// (a subdomain, the parent domain: DMARC's relaxed alignment, RFC 7489
// §3.1.1), would pass DMARC downstream as the hub's own mail unless
// something proves it. And a display name or quoted local part showing
// the hub's address ("support@hub.example" <x@evil.example>) is what a
// reader sees of a From: the field is read as written, not only as a
// strict parser reads it.
func (c *checker) claimsHub(msg []byte, res mailauth.Result) *smtpd.Refusal {
	// The hub's domains as written in its configuration and in A-labels,
	// as res.From is (a domain configured in Unicode is the same domain
	// written xn--).
	var domains []string
	for _, d := range c.h.Config.Domains {
		domains = append(domains, d)
		if a := mailbox.ASCIIDomain("@" + d); a != "" && a != d {
			domains = append(domains, a)
		}
	}
	ours := func(from string) bool {
		for _, d := range domains {
			if mailauth.SameOrganization(from, d) {
				return true
			}
		}
		return false
	}
	if res.From != "" && ours(res.From) && !res.Proven() {
		return &smtpd.Refusal{Why: smtpd.HubFrom, Detail: res.From}
	}
	// As a lax reader shows it: every encoded word decoded (one in a
	// charset Go does not know made the whole decoding fail), fullwidth
	// forms folded, invisible characters dropped.
	raw := mailbox.Shown(field(msg, "From"))
	sender := mailbox.Shown(field(msg, "Sender"))
	for _, d := range domains {
		if showsAddressIn(raw, d) && !ours(res.From) {
			return &smtpd.Refusal{Why: smtpd.HubName, Detail: d}
		}
		// The hub writes no Sender: one in its domains is someone's who
		// wants the hub's name shown beside theirs, unless the From is
		// the hub's own and proven (checked above).
		if showsAddressIn(sender, d) && !ours(res.From) {
			return &smtpd.Refusal{Why: smtpd.HubSender, Detail: d}
		}
	}
	return nil
}

// showsAddressIn says whether s (lower case) shows an address in domain d
// or one of its subdomains: "@" then d, or "@" then labels and "." then d,
// and no more of a host name right after (so "@hub.example" is not found
// in "marie@hub.examples.org", but is in "x@hub.example.evil.example",
// whose reader sees the hub's name first).
func showsAddressIn(s, d string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], d)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(d)
		i = start + 1
		if end < len(s) && hostByte(s[end]) {
			continue
		}
		k := start
		for k > 0 && (hostByte(s[k-1]) || s[k-1] == '.') {
			k--
		}
		if k > 0 && s[k-1] == '@' && (k == start || s[start-1] == '.') {
			return true
		}
	}
}

// hostByte: a letter, digit or hyphen of a host name, or a byte of a
// non-ASCII one.
func hostByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c >= 0x80
}

// field is every field called name of msg as written, unfolded, one after
// the other.
func field(msg []byte, name string) string {
	var b strings.Builder
	for _, f := range rawheader.Fields(msg) {
		if strings.EqualFold(f.Name, name) {
			b.Write(rawheader.Unfold(f.Value()))
		}
	}
	return b.String()
}

// verdict is what the hub recorded about a stored message.
func (h *Hub) verdict(msg []byte) (mailauth.Result, bool) {
	return mailauth.Read(msg, h.Config.Auth.AuthservID)
}

// frontMTA says whether ip is a mail server in front of the hub
// (smtp.limit_exempt, auth.skip_spf_from): everyone's mail comes from it.
func (h *Hub) frontMTA(ip string) bool {
	p := net.ParseIP(ip)
	if p == nil {
		return false
	}
	for _, list := range [][]string{h.Config.SMTP.LimitExempt, h.Config.Auth.SkipSPFFrom} {
		for _, c := range list {
			if _, n, err := net.ParseCIDR(c); err == nil && n.Contains(p) {
				return true
			}
		}
	}
	return false
}
