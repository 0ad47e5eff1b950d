// Package doctor is in charge of checking, from the outside, what a hub
// needs to be received and trusted, and telling the operator what to fix
// (relais doctor): the DNS records published for a domain (MX, SPF, each
// DKIM selector, DMARC, TLS-RPT) against those `relais dns` prints
// (package zone), the relay (it answers, and is not the hub itself), the
// TLS certificate (it covers the hub's names and is not near its end), and
// the web address members are sent to (https).
//
// Every DNS question goes through the one mailauth.Resolver, so tests give
// an in-memory one; the relay is dialled through an injected dialer.
package doctor

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"codeberg.org/relais/relais/mailauth"
	"codeberg.org/relais/relais/queue"
	"codeberg.org/relais/relais/zone"
)

// Severity of a finding.
const (
	Error   = "error"   // mail is refused, lost, or not trusted
	Warning = "warning" // works now, will not for long, or works badly
)

// Finding is one thing wrong, and how to fix it.
type Finding struct {
	Check    string `json:"check"`    // mx, spf, dkim, dmarc, tlsrpt, relay, tls, web
	Severity string `json:"severity"` // error or warning
	Problem  string `json:"problem"`
	Fix      string `json:"fix"`
}

func (f Finding) String() string {
	return fmt.Sprintf("%s %s: %s\n  fix: %s", f.Severity, f.Check, f.Problem, f.Fix)
}

// Setup is what the hub is meant to be, as its configuration says.
type Setup struct {
	// Plan is what `relais dns` prints for the domain: the records to find.
	Plan zone.Plan
	// Hostname is the hub's name (greeting, EHLO); the certificate must
	// cover it and the MX host.
	Hostname string
	// Relay is relay.address; Listens are smtp.listen.
	Relay   string
	Listens []string
	// CertFile is smtp.tls_cert ("": no STARTTLS, itself a finding).
	CertFile string
	// BaseURL is web.base_url.
	BaseURL string
}

// Doctor runs the checks.
type Doctor struct {
	DNS mailauth.Resolver
	// Dial connects to the relay (default: a net.Dialer, 10 s).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// LocalIPs returns this machine's addresses (default: its interfaces').
	LocalIPs func() ([]net.IP, error)
	// Now is the clock of the certificate's dates (default time.Now).
	Now func() time.Time
	// ExpiryWarning: a certificate ending sooner is a warning (default 14
	// days; ACME clients renew 30 days before).
	ExpiryWarning time.Duration
}

// Check returns what is wrong with s, errors first; nothing when all is
// right.
func (d *Doctor) Check(ctx context.Context, s Setup) []Finding {
	var out []Finding
	out = append(out, d.checkDNS(ctx, s)...)
	out = append(out, d.checkRelay(ctx, s)...)
	out = append(out, d.checkCert(s)...)
	out = append(out, checkWeb(s)...)
	slices.SortStableFunc(out, func(a, b Finding) int {
		if a.Severity == b.Severity {
			return 0
		}
		if a.Severity == Error {
			return -1
		}
		return 1
	})
	return out
}

// checkDNS compares the published records with the plan's.
func (d *Doctor) checkDNS(ctx context.Context, s Setup) []Finding {
	var out []Finding
	domain := s.Plan.Domain
	for _, r := range zone.Records(s.Plan) {
		kind := r.Kind()
		publish := "publish " + r.Line(3600)
		name := strings.TrimSuffix(r.Name, ".")
		if r.Type == "MX" {
			want := strings.TrimSuffix(strings.TrimPrefix(r.Value, "10 "), ".")
			mxs, err := d.DNS.LookupMX(ctx, name)
			if err != nil && !notFound(err) {
				out = append(out, Finding{kind, Error, fmt.Sprintf("the MX records of %s could not be read: %v", domain, err), "check the domain's DNS servers answer"})
				continue
			}
			var hosts []string
			for _, mx := range mxs {
				h := strings.ToLower(strings.TrimSuffix(mx.Host, "."))
				hosts = append(hosts, h)
			}
			if !slices.Contains(hosts, strings.ToLower(want)) {
				problem := fmt.Sprintf("%s has no MX record: mail for it cannot reach the hub", domain)
				if len(hosts) > 0 {
					problem = fmt.Sprintf("%s's mail goes to %s, not to the hub (%s)", domain, strings.Join(hosts, ", "), want)
				}
				out = append(out, Finding{kind, Error, problem, publish})
			}
			continue
		}
		txts, err := d.DNS.LookupTXT(ctx, name)
		if err != nil && !notFound(err) {
			out = append(out, Finding{kind, Error, fmt.Sprintf("the TXT records at %s could not be read: %v", name, err), "check the domain's DNS servers answer"})
			continue
		}
		prefix := strings.SplitN(r.Value, ";", 2)[0]
		if kind == zone.KindSPF {
			prefix = "v=spf1"
		}
		var found []string
		for _, t := range txts {
			if strings.HasPrefix(strings.ToLower(strings.TrimSpace(t)), strings.ToLower(prefix)) {
				found = append(found, strings.TrimSpace(t))
			}
		}
		switch {
		case len(found) == 0:
			sev, problem := Error, map[string]string{
				zone.KindSPF:    "no SPF record at " + name + ": receivers cannot tell the relay may send for " + domain,
				zone.KindDKIM:   "no DKIM record at " + name + ": mail the hub signs with this key fails DKIM, and DMARC with it",
				zone.KindDMARC:  "no DMARC record at " + name + ": receivers apply their own policy to " + domain + "'s mail, and send no reports",
				zone.KindTLSRPT: "no TLS-RPT record at " + name + ": nobody reports TLS failures delivering to " + domain,
			}[kind]
			if kind == zone.KindTLSRPT || (kind == zone.KindDKIM && r.Waiting) {
				sev = Warning
			}
			if r.Waiting {
				problem += " (a waiting key: publish it before `relais dkim activate`)"
			}
			out = append(out, Finding{kind, sev, problem, publish})
		case len(found) > 1 && kind == zone.KindSPF:
			out = append(out, Finding{kind, Error, fmt.Sprintf("%d SPF records at %s: SPF fails with permerror (RFC 7208 §4.5)", len(found), name),
				"keep one: " + r.Line(3600)})
		case !sameRecord(kind, found[0], r.Value):
			sev := Error
			problem := fmt.Sprintf("%s says %q, not what `relais dns` prints", name, found[0])
			switch kind {
			case zone.KindSPF:
				problem = fmt.Sprintf("the SPF record of %s is %q; the hub's relay sends as %q", domain, found[0], r.Value)
			case zone.KindDKIM:
				problem = fmt.Sprintf("the DKIM record at %s is not the hub's key %s: its signatures fail", name, strings.SplitN(name, ".", 2)[0])
				if r.Waiting {
					sev = Warning
				}
			case zone.KindDMARC, zone.KindTLSRPT:
				sev = Warning
			}
			out = append(out, Finding{kind, sev, problem, "replace it: " + r.Line(3600)})
		}
	}
	return out
}

func notFound(err error) bool {
	var de *net.DNSError
	return errors.Is(err, mailauth.ErrNotFound) || (errors.As(err, &de) && de.IsNotFound)
}

// sameRecord compares a published TXT record with the one expected: DKIM
// by key (p=), the others by their words.
func sameRecord(kind, got, want string) bool {
	norm := func(s string) string {
		return strings.ToLower(strings.Join(strings.Fields(strings.ReplaceAll(s, ";", "; ")), " "))
	}
	if kind == zone.KindDKIM {
		return tag(got, "p") == tag(want, "p") && tag(want, "p") != ""
	}
	return norm(got) == norm(want)
}

// tag returns the value of tag name in a tag=value; list (RFC 6376 §3.2).
func tag(rec, name string) string {
	for _, kv := range strings.Split(rec, ";") {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.TrimSpace(k) == name {
			return strings.Join(strings.Fields(v), "")
		}
	}
	return ""
}

// checkRelay: the relay answers SMTP, and is not the hub.
func (d *Doctor) checkRelay(ctx context.Context, s Setup) []Finding {
	if s.Relay == "" {
		return nil
	}
	lookup := func(ctx context.Context, host string) ([]net.IP, error) {
		addrs, err := d.DNS.LookupIPAddr(ctx, host)
		var ips []net.IP
		for _, a := range addrs {
			ips = append(ips, a.IP)
		}
		return ips, err
	}
	if err := queue.CheckRelay(ctx, s.Relay, s.Listens, lookup, d.LocalIPs); err != nil {
		return []Finding{{"relay", Error, err.Error(), "set relay.address to the mail server that delivers for the hub (deploy/README.md)"}}
	}
	dial := d.Dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: 10 * time.Second}).DialContext
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, err := dial(ctx, "tcp", s.Relay)
	if err != nil {
		return []Finding{{"relay", Error, fmt.Sprintf("the relay %s does not answer: %v; every delivery waits in the queue", s.Relay, err),
			"start it (systemctl status postfix), or correct relay.address"}}
	}
	defer c.Close()
	// What the dial reached, resolved as the system resolves (/etc/hosts
	// included), which the mail DNS above may not know: is it the hub?
	if err := queue.CheckRelay(ctx, c.RemoteAddr().String(), s.Listens, lookup, d.LocalIPs); err != nil {
		return []Finding{{"relay", Error, fmt.Sprintf("relay.address %s reaches %s: %v", s.Relay, c.RemoteAddr(), err),
			"set relay.address to the mail server that delivers for the hub (deploy/README.md)"}}
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	r := bufio.NewReader(c)
	greeting, err := readReply(r)
	if err != nil || !strings.HasPrefix(greeting, "220") {
		return []Finding{{"relay", Error, fmt.Sprintf("the relay %s does not greet as an SMTP server (%q)", s.Relay, strings.TrimSpace(greeting)),
			"point relay.address at an SMTP server's port"}}
	}
	fmt.Fprintf(c, "QUIT\r\n")
	return nil
}

// readReply reads one SMTP reply, its continuation lines joined.
func readReply(r *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		b.WriteString(line)
		if err != nil || len(line) < 4 || line[3] != '-' {
			return b.String(), err
		}
	}
}

// checkCert: STARTTLS is offered with a certificate that covers the hub's
// names and is not near its end.
func (d *Doctor) checkCert(s Setup) []Finding {
	if s.CertFile == "" {
		return []Finding{{"tls", Warning, "no certificate (smtp.tls_cert): the hub offers no STARTTLS, and mail reaches it in clear text",
			"get one for " + s.Hostname + " (certbot certonly --standalone -d " + s.Hostname + ") and set smtp.tls_cert and smtp.tls_key"}}
	}
	b, err := os.ReadFile(s.CertFile)
	if err != nil {
		return []Finding{{"tls", Error, fmt.Sprintf("the certificate cannot be read: %v", err), "correct smtp.tls_cert, and make it readable by the hub's user"}}
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return []Finding{{"tls", Error, s.CertFile + " holds no PEM certificate", "point smtp.tls_cert at the full chain (fullchain.pem)"}}
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return []Finding{{"tls", Error, fmt.Sprintf("%s: %v", s.CertFile, err), "point smtp.tls_cert at the full chain (fullchain.pem)"}}
	}
	now := time.Now()
	if d.Now != nil {
		now = d.Now()
	}
	warn := d.ExpiryWarning
	if warn == 0 {
		warn = 14 * 24 * time.Hour
	}
	renew := "renew it (certbot renew) and check the renewal timer runs; the hub reads the new files at the next connection"
	var out []Finding
	switch {
	case now.After(cert.NotAfter):
		out = append(out, Finding{"tls", Error, fmt.Sprintf("the certificate expired on %s: senders that check it refuse to deliver",
			cert.NotAfter.UTC().Format("2006-01-02")), renew})
	case cert.NotAfter.Sub(now) < warn:
		out = append(out, Finding{"tls", Warning, fmt.Sprintf("the certificate expires on %s, in %d days",
			cert.NotAfter.UTC().Format("2006-01-02"), int(cert.NotAfter.Sub(now).Hours()/24)), renew})
	case now.Before(cert.NotBefore):
		out = append(out, Finding{"tls", Error, "the certificate is not valid before " + cert.NotBefore.UTC().Format("2006-01-02"), "check the machine's clock"})
	}
	names := []string{s.Hostname}
	if mx := strings.TrimSuffix(s.Plan.MX, "."); mx != "" && !strings.EqualFold(mx, s.Hostname) {
		names = append(names, mx)
	}
	for _, n := range names {
		if n == "" {
			continue
		}
		if err := cert.VerifyHostname(n); err != nil {
			out = append(out, Finding{"tls", Error, fmt.Sprintf("the certificate does not cover %s (it names %s)", n, strings.Join(cert.DNSNames, ", ")),
				"get one that names " + strings.Join(names, " and ")})
		}
	}
	return out
}

// checkWeb: the links the hub writes in mail point to an https address.
func checkWeb(s Setup) []Finding {
	if s.BaseURL == "" {
		return []Finding{{"web", Error, "web.base_url is not set: unsubscribe links in list mail point to the hub's local address, which members cannot reach",
			"put a TLS reverse proxy in front of web.listen and set web.base_url = \"https://listes.example.org\" (deploy/README.md)"}}
	}
	u, err := url.Parse(s.BaseURL)
	if err != nil || u.Host == "" {
		return []Finding{{"web", Error, fmt.Sprintf("web.base_url %q is not an address", s.BaseURL), "set it to the https address members reach"}}
	}
	if u.Scheme != "https" {
		return []Finding{{"web", Error, fmt.Sprintf("web.base_url %s is not https: large providers ignore one-click unsubscribe links that are not (RFC 8058 §3.1)", s.BaseURL),
			"serve it over https behind a TLS reverse proxy and set web.base_url = \"https://" + u.Host + "\""}}
	}
	return nil
}
