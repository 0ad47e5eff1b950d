package tickets

import (
	"runtime"
	"strings"
	"testing"
)

// allocated is the memory f allocates: unlike time, the other core does
// not blur it, and it grows with the square of the input where a buffer is
// copied once per piece of it.
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// TestReadCostLinear: what the desk reads of a message costs linearly in
// its size. The desk reads inside the intake transaction, the hub's one
// writer: work that grows with the square of a message (a text copied
// again for each of its parts, or for each line break of its HTML) held
// every other message for minutes (a 2 MB message of 40,000 HTML parts
// took 5 s; 25 MB, the size limit, hours).
func TestReadCostLinear(t *testing.T) {
	multipart := func(part string) func(int) []byte {
		return func(n int) []byte {
			return []byte("From: a@exemple.fr\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
				strings.Repeat(part, n) + "--b--\r\n")
		}
	}
	html := func(frag string) func(int) []byte {
		return func(n int) []byte {
			return []byte("From: a@exemple.fr\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>" +
				strings.Repeat(frag, n) + "</body></html>\r\n")
		}
	}
	for name, build := range map[string]func(int) []byte{
		"text parts":        multipart("--b\r\nContent-Type: text/plain\r\n\r\nhello world\r\n"),
		"untyped parts":     multipart("--b\r\n\r\n"),
		"html parts":        multipart("--b\r\nContent-Type: text/html\r\n\r\nhello world\r\n"),
		"html line breaks":  html("a <br>"),
		"html paragraphs":   html("<p>a </p>"),
		"html spaced divs":  html("<div> x </div>"),
		"html pre and text": html("<pre>x </pre>y "),
	} {
		small, large := build(2000), build(16000)
		a := allocated(func() { Read(small) })
		b := allocated(func() { Read(large) })
		ratio := float64(b) / float64(a)
		t.Logf("%s: %d then %d bytes allocated (×%.1f for 8× the input)", name, a, b, ratio)
		if ratio > 16 {
			t.Errorf("%s: allocations grow ×%.1f for 8× the input", name, ratio)
		}
	}
}

// TestReadBounded: the text read of a huge message is bounded, so that
// what follows (Trim's patterns, line by line) is too; the beginning is
// kept, cut at a line end.
func TestReadBounded(t *testing.T) {
	for name, msg := range map[string]string{
		"text": "From: a@exemple.fr\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBonjour,\r\n" +
			strings.Repeat("Le x\r\n", 1<<20),
		"html": "From: a@exemple.fr\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Bonjour,</p>" +
			strings.Repeat("<p>a </p>", 1<<20),
	} {
		c := Read([]byte(msg))
		if len(c.Text) > maxText+16 || !strings.HasPrefix(c.Text, "Bonjour,") || !strings.HasSuffix(c.Text, "\n[…]\n") {
			t.Errorf("%s: %d bytes of text, %q…%q", name, len(c.Text), c.Text[:min(20, len(c.Text))], c.Text[max(0, len(c.Text)-20):])
		}
	}
}
