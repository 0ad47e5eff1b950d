package privacy

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestPseudonymizer(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(Pseudonymizer(slog.NewTextHandler(&b, nil), []byte("secret"), []string{"hub.example"}))
	log = log.With("rcpt", "Marie@Example.org")
	log.Info("sent to marie@example.org", "from", "4405.discussion+confirm-…@hub.example", "err", errors.New("550 <bob@example.net> unknown"),
		"to", []string{"bob@example.net"}, slog.Group("g", "who", "marie@example.org"))
	out := b.String()
	p := Pseudonym([]byte("secret"), "marie@example.org")
	if strings.Contains(out, "marie@") || strings.Contains(out, "bob@") || strings.Count(out, p) != 3 ||
		!strings.Contains(out, "4405.discussion+confirm-…@hub.example") || len(p) != len("person:")+16 {
		t.Fatalf("%s", out)
	}
	if Pseudonym([]byte("other"), "marie@example.org") == p {
		t.Fatal("the pseudonym does not depend on the secret")
	}
}

// pieces make the strings the address fast path is compared on: letters,
// marks and digits of several scripts and categories, the local part's
// punctuation, separators, hub domains and bytes that are not UTF-8.
var pieces = []string{"a", "Z", "0", "é", "e\u0301", "ß", "ǅ", "Ⅻ", "²", "٣", "日本", "\u00a0", "-", ".", "..", "@", "@@",
	"…", "+", "!", "#", "{", "|", "~", "'", "_", " ", "\t", "(", ")", "<", ">", ",", ":", "\"", "\xff", "\xc3", "\ufffd",
	"hub.example", "HUB.Example", "sub.hub.example", "xhub.example", "hub.example.org", "example.org", "marie", "Marie.Curie"}

// trickyStrings are hand-picked values and n random ones made of pieces.
func trickyStrings(n int) []string {
	out := []string{"", "@", "a@b", "a@b.", "a@.b", "@b.c", "a@b.c", "a@b..c", "a@b.c.", ".a@b.c", "a.@b.c", "a..b@c.d",
		"a@b@c.d", "a@b.c@d.e", "marie@example.org", "Marie@Example.ORG", "jörg@exämple.org", "jörg@exämple.org ",
		" jörg@exämple.org", "<marie@example.org>", "marie@example.org.", "marie@example.org-", "-@-.-",
		"4405.discussion+confirm-…@hub.example", "x@sub.hub.example", "x@xhub.example", "x@hub.example.org",
		"a@b.c\xff", "\xffa@b.c", "a@b\xff.c", "a\u0301@b\u0301.c\u0301", "日本@日本.日本", "a@b.c\u00a0", "a@b_c.d",
		"a@b.c,d@e.f", "550 <bob@example.net> unknown", "Ⅻ@²٣.ǅ"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range n {
		var b strings.Builder
		for range 1 + rng.IntN(8) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		out = append(out, b.String())
	}
	return out
}

// checkFastPath: the fast path takes exactly the strings addrRE matches
// whole, and text writes every string as the regexp path and Pseudonym do.
func checkFastPath(t *testing.T, k *keyed, s string) {
	t.Helper()
	loc := addrRE.FindStringIndex(s)
	whole := loc != nil && loc[0] == 0 && loc[1] == len(s)
	if isAddress(s) != whole {
		t.Errorf("isAddress(%q) = %v, addrRE matches %v", s, isAddress(s), loc)
	}
	slow := addrRE.ReplaceAllStringFunc(s, func(a string) string {
		domain := strings.ToLower(a[strings.LastIndexByte(a, '@')+1:])
		for _, d := range k.domains {
			if domain == d || strings.HasSuffix(domain, "."+d) {
				return a
			}
		}
		return Pseudonym(k.secret, a)
	})
	if got := k.text(s); got != slow {
		t.Errorf("text(%q) = %q, the regexp gives %q", s, got, slow)
	}
}

func TestPseudonymFastPath(t *testing.T) {
	k := Pseudonymizer(slog.DiscardHandler, []byte("secret"), []string{"Hub.Example"}).(*pseudonymizer).keyed
	for _, s := range trickyStrings(200000) {
		checkFastPath(t, k, s)
	}
	// The pooled HMAC gives Pseudonym's value, used or fresh.
	for _, s := range []string{"marie@example.org", "Marie@Example.org", "bob@example.net", "marie@example.org"} {
		if got, want := k.pseudonym(s), Pseudonym([]byte("secret"), s); got != want {
			t.Errorf("%s: %s, want %s", s, got, want)
		}
	}
}

func FuzzPseudonymFastPath(f *testing.F) {
	for _, s := range trickyStrings(0) {
		f.Add(s)
	}
	k := Pseudonymizer(slog.DiscardHandler, []byte("secret"), []string{"hub.example"}).(*pseudonymizer).keyed
	f.Fuzz(func(t *testing.T, s string) { checkFastPath(t, k, s) })
}

// TestPseudonymValue pins the pseudonym itself: log lines written before
// and after must still follow one person.
func TestPseudonymValue(t *testing.T) {
	m := hmac.New(sha256.New, []byte("secret"))
	m.Write([]byte("marie@example.org"))
	want := "person:" + strings.ToLower(base32.StdEncoding.EncodeToString(m.Sum(nil))[:16])
	if got := Pseudonym([]byte("secret"), " Marie@Example.org"); got != want {
		t.Fatalf("%s, want %s", got, want)
	}
}

// BenchmarkPseudonymize: one recipient's address, as each delivery line
// names it: the regexp and a new HMAC each time (before), the fast path
// and a pooled HMAC (now).
func BenchmarkPseudonymize(b *testing.B) {
	k := Pseudonymizer(slog.DiscardHandler, []byte("secret"), []string{"hub.example"}).(*pseudonymizer).keyed
	const rcpt = "m01234@members.example"
	b.Run("regexp", func(b *testing.B) {
		for b.Loop() {
			addrRE.ReplaceAllStringFunc(rcpt, func(a string) string { return Pseudonym(k.secret, a) })
		}
	})
	b.Run("text", func(b *testing.B) {
		for b.Loop() {
			k.text(rcpt)
		}
	})
}
