package signin

import (
	"bytes"
	"math/rand/v2"
	"regexp"
	"testing"
)

// footerRE is what findTokens finds.
var footerRE = regexp.MustCompile(`[al]\.[0-9a-f]{1,40}\.[0-9a-z]{1,13}\.[a-z2-7]{26}`)

// findTokens finds what the regular expression finds, in text made of
// tokens, pieces of tokens and what surrounds them.
func TestFindTokensAsRegexp(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a.", "l.", "b.", ".", "0123456789abcdef", "f", "0", "z", "x9", "abcdefghijklmnopqrstuvwxyz", "234567",
		"l.12.q6p5lhalz7e.", "a.9f.kqn4knr5ylud7ql2.", "kqn4knr5ylud7ql2kqn4knr5yl", "=\r\n", " ", "%2F", "8", "1",
		"l.1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1.x.", "aa.", "..", "Z", "é",
		"abcdefghijklmnopqrstuvwxy", "0123456789abc", "0123456789abcd", "0123456789abcdef0123456789abcdef01234567", "89"}
	for range 50000 {
		var b bytes.Buffer
		for n := r.IntN(20); n >= 0; n-- {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		max := 1 + r.IntN(4)
		want := footerRE.FindAll(b.Bytes(), max)
		got := findTokens(b.Bytes(), max)
		if len(want) != len(got) {
			t.Fatalf("%q: %q, want %q", b.Bytes(), got, want)
		}
		for i := range want {
			if !bytes.Equal(want[i], got[i]) {
				t.Fatalf("%q: %q, want %q", b.Bytes(), got, want)
			}
		}
	}
	tok := "l.12.q6p5lhalz7e.abcdefghijklmnopqrstuvwxyz"
	if got := findTokens([]byte("see https://hub/signin/"+tok+"?x"), 5); len(got) != 1 || string(got[0]) != tok {
		t.Fatalf("%q", got)
	}
}

func BenchmarkFindTokens(b *testing.B) {
	msg := bytes.Repeat([]byte("Bonjour à tous, la réunion a lieu samedi. Venez nombreux ! l.12.34 "), 64)
	b.SetBytes(int64(len(msg)))
	for range b.N {
		findTokens(msg, maxQuoted)
	}
}
