package queue

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"testing"
)

// writeContent sends a copy's parts as RFC 5321 §4.5.2 and §2.3.8 want:
// each line ended by CRLF (a bare LF gets its CR; a CR at the very end,
// its LF), a line that starts with a dot gets another, and the final ".".
// Checked against a byte-by-byte reading of the same rules, on parts that cut
// lines, CRLFs and dots anywhere.
func TestWriteContentStuffsAndEndsLines(t *testing.T) {
	want := func(parts [][]byte) []byte {
		var all []byte
		for _, p := range parts {
			all = append(all, p...)
		}
		var out []byte
		bol := true
		for i, b := range all {
			if bol && b == '.' {
				out = append(out, '.')
			}
			if b == '\n' && (i == 0 || all[i-1] != '\r') {
				out = append(out, '\r')
			}
			out = append(out, b)
			bol = b == '\n'
		}
		switch {
		case len(all) == 0 || bol:
		case all[len(all)-1] == '\r':
			out = append(out, '\n')
		default:
			out = append(out, '\r', '\n')
		}
		return append(out, ".\r\n"...)
	}
	got := func(parts [][]byte) []byte {
		var b bytes.Buffer
		c := &client{bw: bufio.NewWriterSize(&b, 64)} // small: long runs go around it
		c.writeContent(parts...)
		c.bw.Flush()
		return b.Bytes()
	}
	alphabet := []string{"a", "bc", ".", "..", "\r", "\n", "\r\n", "\n.", "\r\n.", " ", "é", "line of some length\r\n"}
	r := rand.New(rand.NewPCG(5, 9))
	for range 100000 {
		var parts [][]byte
		for n := r.IntN(4); n > 0; n-- {
			var p []byte
			for k := r.IntN(12); k > 0; k-- {
				p = append(p, alphabet[r.IntN(len(alphabet))]...)
			}
			parts = append(parts, p)
		}
		if g, w := got(parts), want(parts); !bytes.Equal(g, w) {
			t.Fatalf("%q:\n got %q\nwant %q", parts, g, w)
		}
	}
}
