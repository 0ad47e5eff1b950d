package templates

import (
	"bytes"
	"math/rand/v2"
	"mime/quotedprintable"
	"strings"
	"testing"
)

// appendQP writes what mime/quotedprintable's Writer writes, on inputs
// built to reach each of its cases: runs of text about a line long,
// spaces and tabs before line ends and soft breaks, CR, LF and CRLF in
// every order, bytes to encode at the end of a line, and nothing at all.
func TestAppendQPIsQuotedPrintable(t *testing.T) {
	want := func(p []byte) []byte {
		var b bytes.Buffer
		w := quotedprintable.NewWriter(&b)
		w.Write(p)
		w.Close()
		return b.Bytes()
	}
	check := func(p []byte) {
		t.Helper()
		w := want(p)
		if got := appendQP(nil, p); !bytes.Equal(got, w) {
			t.Fatalf("%q:\n got %q\nwant %q", p, got, w)
		}
		// Appended after what dst holds, the lines count from there.
		if got := appendQP([]byte("head\r\n"), p); !bytes.Equal(got, append([]byte("head\r\n"), w...)) {
			t.Fatalf("%q after a header: %q", p, got)
		}
	}
	check(nil)
	check([]byte("Réunion à la salle des fêtes = 20 h\n"))
	alphabet := []string{"a", "b", " ", "\t", "\r", "\n", "\r\n", "=", "é", "\x00", "~", "!", "\xff", "  ", "xxxxxxxx", strings.Repeat("y", 70)}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		var p []byte
		for n := r.IntN(40); n > 0; n-- {
			p = append(p, alphabet[r.IntN(len(alphabet))]...)
		}
		check(p)
	}
	// Every length of a plain line around the limit, ended each way.
	for n := 60; n < 160; n++ {
		for _, end := range []string{"", " ", "\t", "=", "é", " \n", "\t\r\n", "\r", "\r\r\n", "\n\r", "é\n"} {
			check([]byte(strings.Repeat("z", n) + end))
			check([]byte(strings.Repeat("z", n) + end + "next"))
		}
	}
}

func BenchmarkAppendQP(b *testing.B) {
	text := []byte(strings.Repeat("* samedi 28 novembre à 18:00 : Réunion publique sur le climat, salle des fêtes\n  organisé par Nantes Sud (à 3 km)\n\n", 200))
	b.Run("appendQP", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		var dst []byte
		for range b.N {
			dst = appendQP(dst[:0], text)
		}
	})
	b.Run("quotedprintable", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		var out bytes.Buffer
		for range b.N {
			out.Reset()
			w := quotedprintable.NewWriter(&out)
			w.Write(text)
			w.Close()
		}
	})
}
