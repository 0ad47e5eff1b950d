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
	"unicode"
	"unicode/utf8"
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
// in any case, or base32 or base64 text carrying it; and so once b is read
// as mail is (Unwrapped): a base64 body is cut every 76 characters, a
// quoted-printable one by soft line breaks, and an encoded word writes
// "@" as =40.
func In(b []byte, s string) bool {
	if s == "" || len(b) == 0 {
		return false
	}
	fs := forms(s)
	if in(b, fs) {
		return true
	}
	if u, ok := Unwrapped(b); ok {
		return in(u, fs)
	}
	return false
}

func in(b []byte, fs [][]byte) bool {
	if next(asciiLower(b), fs[0], 0) >= 0 {
		return true
	}
	for _, f := range fs[1:] {
		if bytes.Contains(b, f) {
			return true
		}
	}
	return false
}

// Unwrapped returns b without its line breaks, quoted-printable soft line
// breaks ("=" at the end of a line) gone with them, and =XX (hex) decoded
// (quoted-printable, RFC 2045 §6.7; encoded words, RFC 2047 §4.2): what a
// reader of the mail reads, give or take its spaces, so that an address
// cut by a line break, or an encoding of it, is whole again. ok is false
// when there was nothing to unwrap.
func Unwrapped(b []byte) ([]byte, bool) {
	if bytes.IndexByte(b, '\n') < 0 && bytes.IndexByte(b, '=') < 0 {
		return nil, false
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '\r' || c == '\n':
			continue
		case c == '=' && i+1 < len(b) && (b[i+1] == '\r' || b[i+1] == '\n'):
			continue
		case c == '=' && i+2 < len(b) && unhex(b[i+1]) >= 0 && unhex(b[i+2]) >= 0:
			out = append(out, byte(unhex(b[i+1])<<4|unhex(b[i+2])))
			i += 2
			continue
		}
		out = append(out, c)
	}
	return out, true
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// Literal reports whether b holds s as written, in any case, as a whole
// address.
func Literal(b []byte, s string) bool {
	return s != "" && next(asciiLower(b), []byte(strings.ToLower(s)), 0) >= 0
}

// Replace returns b with every occurrence of s (in any case) as a whole
// address replaced by repl: "a@x.test" inside "nadia@x.test" or
// "a@x.test.org" is someone else's address, left alone.
func Replace(b []byte, s, repl string) []byte {
	if s == "" {
		return b
	}
	low := asciiLower(b) // byte for byte, so offsets match b's
	needle := []byte(strings.ToLower(s))
	var out []byte
	last := 0
	for i := 0; ; {
		j := next(low, needle, i)
		if j < 0 {
			break
		}
		out = append(out, b[last:j]...)
		out = append(out, repl...)
		i = j + len(needle)
		last = i
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}

// next is the offset, from i on, of the next occurrence of needle in low
// that is a whole address: not preceded by what the local parts of
// addresses commonly hold (a letter or digit of any script, ".", "-", "_",
// "+"; not "=" or "/", which end a URL's parameter or path before an
// address), not followed by what a domain goes on with (a letter, a digit,
// a hyphen, or a dot and more of them). -1 when there is none.
func next(low, needle []byte, i int) int {
	for i <= len(low)-len(needle) {
		j := bytes.Index(low[i:], needle)
		if j < 0 {
			return -1
		}
		j += i
		if wholeAt(low, j, j+len(needle)) {
			return j
		}
		i = j + 1
	}
	return -1
}

func wholeAt(low []byte, start, end int) bool {
	if start > 0 {
		r, _ := utf8.DecodeLastRune(low[:start])
		if unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(".-_+", r) {
			return false
		}
	}
	if end < len(low) {
		r, n := utf8.DecodeRune(low[end:])
		if domainRune(r) {
			return false
		}
		if r == '.' && end+n < len(low) {
			if r2, _ := utf8.DecodeRune(low[end+n:]); domainRune(r2) {
				return false
			}
		}
	}
	return true
}

func domainRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' }

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
