package hub

import (
	"context"
	"net"

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
	for _, n := range c.skipSPF {
		if in.IP != nil && n.Contains(in.IP) {
			in.IP = nil // SPF none: DKIM must carry the proof
		}
	}
	res := mailauth.Check(ctx, c.dns, in)
	c.h.log.Info("verdict", "qid", env.ID, "from", env.From, "spf", res.SPF, "dkim", len(res.DKIM),
		"dmarc", res.DMARC, "header_from", res.From, "policy", res.Policy, "aligned", res.Identity)
	if res.DMARC == "fail" && res.Policy == "reject" && !c.noReject {
		return nil, "DMARC " + res.From
	}
	return append([]byte(res.Field(c.id)), mailauth.Strip(msg, c.id)...), ""
}

// verdict is what the hub recorded about a stored message.
func (h *Hub) verdict(msg []byte) (mailauth.Result, bool) {
	return mailauth.Read(msg, h.Config.Auth.AuthservID)
}
