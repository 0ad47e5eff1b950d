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
	"unicode"
	"unicode/utf8"

	"codeberg.org/relais/relais/internal/keymac"
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
	var sum [sha256.Size]byte
	return person(m.Sum(sum[:0]))
}

// pseudonymLen is the bytes of the HMAC a pseudonym shows: 16 base32
// characters are exactly 10 bytes, so that encoding them alone gives the
// first 16 characters of the whole HMAC's encoding, without padding.
const pseudonymLen = 10

// lowerBase32 is base32.StdEncoding in lower case.
var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// person is the pseudonym of an address whose HMAC is sum.
func person(sum []byte) string {
	var out [len("person:") + 16]byte
	copy(out[:], "person:")
	lowerBase32.Encode(out[len("person:"):], sum[:pseudonymLen])
	return string(out[:])
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
	k := &keyed{secret: secret}
	for _, d := range domains {
		k.domains = append(k.domains, strings.ToLower(d))
	}
	return &pseudonymizer{next: h, keyed: k}
}

type pseudonymizer struct {
	next slog.Handler
	*keyed
}

// keyed is what the handlers of one Pseudonymizer share: the secret, its
// HMACs ready to use (hmac.New hashes the key anew each time; a reset one
// starts from the key's hashed pads), and the hub's domains.
type keyed struct {
	secret  []byte
	macs    keymac.Pool // HMAC-SHA256 under secret
	domains []string
}

func (k *keyed) pseudonym(email string) string {
	sum := k.macs.Sum(k.secret, []byte(normal(email)))
	return person(sum[:])
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
	return &pseudonymizer{next: p.next.WithAttrs(clean), keyed: p.keyed}
}

func (p *pseudonymizer) WithGroup(name string) slog.Handler {
	return &pseudonymizer{next: p.next.WithGroup(name), keyed: p.keyed}
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
func (k *keyed) text(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	if isAddress(s) {
		// All of s is addrRE's one match: what the regexp would replace.
		return k.replace(s)
	}
	return addrRE.ReplaceAllStringFunc(s, k.replace)
}

// replace is the pseudonym of a, an address addrRE matched, or a itself
// when it is the hub's.
func (k *keyed) replace(a string) string {
	domain := strings.ToLower(a[strings.LastIndexByte(a, '@')+1:])
	for _, d := range k.domains {
		if domain == d || strings.HasSuffix(domain, "."+d) {
			return a
		}
	}
	return k.pseudonym(a)
}

// isAddress says whether addrRE matches all of s: an attribute that is one
// address (a recipient, a sender), the common case, is then pseudonymized
// without running the regexp. It reads s as the regexp does: the local
// part is every rune before the one '@' (its class has no '@'), the domain
// labels of their class separated by single dots, at least two; an invalid
// UTF-8 byte reads as U+FFFD, in neither class. Anything else is left to
// the regexp, which may find addresses inside.
func isAddress(s string) bool {
	at := strings.IndexByte(s, '@')
	if at <= 0 {
		return false
	}
	for _, r := range s[:at] {
		if !inLocal(r) {
			return false
		}
	}
	dots, n := 0, 0 // the dots seen, the runes of the current label
	for _, r := range s[at+1:] {
		switch {
		case r == '.':
			if n == 0 {
				return false
			}
			dots, n = dots+1, 0
		case inLabel(r):
			n++
		default:
			return false
		}
	}
	return dots >= 1 && n > 0
}

// inLabel and inLocal are addrRE's two character classes.
func inLabel(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-'
	}
	return unicode.Is(unicode.L, r) || unicode.Is(unicode.M, r) || unicode.Is(unicode.N, r)
}

func inLocal(r rune) bool {
	return inLabel(r) || r == '.' || r == '…' || r < utf8.RuneSelf && strings.ContainsRune("!#$%&'*+/=?^_{|}~", r)
}
