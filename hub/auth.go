package hub

import (
	"context"
	"net"

	"codeberg.org/relais/relais/address"
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

func (c *checker) Check(ctx context.Context, env *smtpd.Envelope, msg []byte) ([]byte, string) {
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
	switch {
	case c.h.isOurs("x@"+res.From) && !res.Proven():
		// A From in the hub's own domain that the hub did not write: it
		// would leave signed by the hub (a group forward keeps its From),
		// passing DMARC downstream as the hub's own mail. Refused even
		// behind a front MTA: a bounce is better than laundered phishing.
		return nil, "From " + res.From
	case front:
		// Behind a front MTA that already accepted the message, refusing
		// would make it bounce (backscatter), and SPF was not checked.
	case res.DMARC == "fail" && res.Policy == "reject" && !c.noReject:
		return nil, "DMARC " + res.From
	}
	return append([]byte(res.Field(c.id)), mailauth.Strip(msg, c.id)...), ""
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
