package privacy

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
)

// LogSecret names the server secret of the log pseudonyms.
const LogSecret = "log"

// Pseudonym is how log lines name email when log.pseudonymize is on:
// "person:" and 16 characters of an HMAC-SHA256 of the lower-case address
// under the hub's secret "log". The same address always gets the same
// pseudonym, so one person's lines can still be followed; nobody without
// the secret can tell whose they are.
func Pseudonym(secret []byte, email string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(normal(email)))
	return "person:" + strings.ToLower(base32.StdEncoding.EncodeToString(m.Sum(nil))[:16])
}

// addrRE finds email addresses in log text: an addr-spec's usual
// characters around one '@' and a domain with a dot, letters of any script
// (SMTPUTF8, RFC 6531: "jörg@exämple.org").
var addrRE = regexp.MustCompile(`[\p{L}\p{M}\p{N}!#$%&'*+/=?^_{|}~.\-…]+@[\p{L}\p{M}\p{N}\-]+(?:\.[\p{L}\p{M}\p{N}\-]+)+`)

// Pseudonymizer wraps h so that every address outside domains (the hub's
// own: lists, queues, groups, whose reply keys address.Redact already
// hides) in a record's message and attributes is written as its
// Pseudonym.
func Pseudonymizer(h slog.Handler, secret []byte, domains []string) slog.Handler {
	p := &pseudonymizer{secret: secret}
	for _, d := range domains {
		p.domains = append(p.domains, strings.ToLower(d))
	}
	p.next = h
	return p
}

type pseudonymizer struct {
	next    slog.Handler
	secret  []byte
	domains []string
}

func (p *pseudonymizer) Enabled(ctx context.Context, l slog.Level) bool {
	return p.next.Enabled(ctx, l)
}

func (p *pseudonymizer) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, p.text(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(p.attr(a))
		return true
	})
	return p.next.Handle(ctx, out)
}

func (p *pseudonymizer) WithAttrs(as []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(as))
	for i, a := range as {
		clean[i] = p.attr(a)
	}
	return &pseudonymizer{next: p.next.WithAttrs(clean), secret: p.secret, domains: p.domains}
}

func (p *pseudonymizer) WithGroup(name string) slog.Handler {
	return &pseudonymizer{next: p.next.WithGroup(name), secret: p.secret, domains: p.domains}
}

func (p *pseudonymizer) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, p.text(v.String()))
	case slog.KindGroup:
		as := v.Group()
		clean := make([]slog.Attr, len(as))
		for i, x := range as {
			clean[i] = p.attr(x)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(clean...)}
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, p.text(x.Error()))
		case []string:
			clean := make([]string, len(x))
			for i, s := range x {
				clean[i] = p.text(s)
			}
			return slog.Any(a.Key, clean)
		case fmt.Stringer:
			return slog.String(a.Key, p.text(x.String()))
		default:
			return slog.String(a.Key, p.text(fmt.Sprint(x)))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// text replaces the addresses of s that are not the hub's.
func (p *pseudonymizer) text(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	return addrRE.ReplaceAllStringFunc(s, func(a string) string {
		domain := strings.ToLower(a[strings.LastIndexByte(a, '@')+1:])
		for _, d := range p.domains {
			if domain == d || strings.HasSuffix(domain, "."+d) {
				return a
			}
		}
		return Pseudonym(p.secret, a)
	})
}
