// Package mention finds an email address in stored bytes: written as it
// is (any case), or inside base32 or base64 text, at any alignment, as the
// agenda's links once carried it and mail bodies may carry it. Erasure
// uses it to find what still names a person; the tests use it to look for
// addresses in links and in the database files.
package mention

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"strings"
	"sync"
)

// Forms returns the byte strings whose presence means s is there: s in
// lower case (compared case-insensitively), and for each alignment the part
// of its base32 and base64 encodings (standard, URL, hex alphabets) that
// depends only on s. Upper- and lower-case base32 are both listed.
func Forms(s string) [][]byte {
	s = strings.ToLower(s)
	out := [][]byte{[]byte(s)}
	seen := map[string]bool{s: true}
	add := func(f string) {
		if len(f) >= 8 && !seen[f] {
			seen[f] = true
			out = append(out, []byte(f))
		}
	}
	variants := []string{s}
	if u := strings.ToUpper(s[:1]) + s[1:]; u != s {
		variants = append(variants, u) // "Marie@…" as typed
	}
	for _, v := range variants {
		// base64: 3 bytes make 4 characters; with k bytes before s, the
		// characters that depend on s alone start after ceil(k*4/3) and end
		// before the group holding s's last partial bytes.
		for k := 0; k < 3; k++ {
			pre := strings.Repeat("\x00", k)
			for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
				full := enc.EncodeToString([]byte(pre + v))
				start := (k*4 + 2) / 3
				end := (len(pre+v) / 3) * 4
				if end > start {
					add(full[start:end])
				}
			}
		}
		// base32: 5 bytes make 8 characters.
		for k := 0; k < 5; k++ {
			pre := strings.Repeat("\x00", k)
			for _, enc := range []*base32.Encoding{base32.StdEncoding, base32.HexEncoding} {
				full := enc.EncodeToString([]byte(pre + v))
				start := (k*8 + 4) / 5
				end := (len(pre+v) / 5) * 8
				if end > start {
					add(full[start:end])
					add(strings.ToLower(full[start:end]))
				}
			}
		}
	}
	return out
}

var cache sync.Map // address → [][]byte

func forms(s string) [][]byte {
	if f, ok := cache.Load(s); ok {
		return f.([][]byte)
	}
	f := Forms(s)
	cache.Store(s, f)
	return f
}

// In reports whether b holds s in any of its Forms: the address itself
// in any case, or base32 or base64 text carrying it.
func In(b []byte, s string) bool {
	if s == "" || len(b) == 0 {
		return false
	}
	fs := forms(s)
	if containsFold(b, fs[0]) {
		return true
	}
	for _, f := range fs[1:] {
		if bytes.Contains(b, f) {
			return true
		}
	}
	return false
}

// Literal reports whether b holds s as written, in any case.
func Literal(b []byte, s string) bool { return s != "" && containsFold(b, []byte(strings.ToLower(s))) }

// Replace returns b with every occurrence of s (in any case) replaced by
// repl.
func Replace(b []byte, s, repl string) []byte {
	if s == "" {
		return b
	}
	low := asciiLower(b) // byte for byte, so offsets match b's
	needle := []byte(strings.ToLower(s))
	var out []byte
	last := 0
	for i := 0; ; {
		j := bytes.Index(low[i:], needle)
		if j < 0 {
			break
		}
		out = append(out, b[last:i+j]...)
		out = append(out, repl...)
		i += j + len(needle)
		last = i
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}

func containsFold(b, lowNeedle []byte) bool {
	return bytes.Contains(asciiLower(b), lowNeedle)
}

func asciiLower(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out
}
