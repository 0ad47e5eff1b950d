package signin

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // utf-16, as the hub's packages have it
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

// A link is found however the message carries it: as written, cut by a
// quoted-printable soft break, in base64 (one part, or a part of several),
// in a charset that does not write ASCII as ASCII. Only a single part
// whose decoded text is its bytes as written is not decoded again.
func TestQuotedTokensEveryEncoding(t *testing.T) {
	const tok = "l.12.q6p5lhalz7e.abcdefghijklmnopqrstuvwxyz"
	link := "https://hub.example/signin/" + tok
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	utf16 := func(s string) string {
		var b []byte
		for _, c := range s {
			b = append(b, 0, byte(c))
		}
		return base64.StdEncoding.EncodeToString(b)
	}
	h := "From: a@x.example\r\nTo: l@hub.example\r\nSubject: Re\r\nMIME-Version: 1.0\r\n"
	for _, tc := range []struct {
		name, msg string
		written   bool
	}{
		{"plain", h + "\r\n> " + link + "\r\n", true},
		{"utf-8 8bit", h + "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nRéunion\r\n> " + link + "\r\n", true},
		{"latin-1", h + "Content-Type: text/plain; charset=ISO-8859-1\r\n\r\nR\xe9union " + link + "\r\n", true},
		{"quoted-printable cut", h + "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<a href=3D\"" + link[:30] + "=\r\n" + link[30:] + "\">x</a>\r\n", false},
		{"base64", h + "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64("Merci.\r\n> "+link+"\r\n") + "\r\n", false},
		{"base64 in a part", h + "Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nMerci.\r\n--b\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: BASE64\r\n\r\n" + b64("<p>"+link+"</p>") + "\r\n--b--\r\n", false},
		{"utf-16", h + "Content-Type: text/plain; charset=utf-16be\r\nContent-Transfer-Encoding: base64\r\n\r\n" + utf16(link) + "\r\n", false},
		{"utf-16 8bit", h + "Content-Type: text/plain; charset=utf-16be\r\n\r\n" + string([]byte{0, 'x'}) + "\r\n", false},
	} {
		e, err := message.Read(strings.NewReader(tc.msg))
		if e == nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := asWritten(e.Header); got != tc.written {
			t.Errorf("%s: as written %v, want %v", tc.name, got, tc.written)
		}
		if tc.name == "utf-16 8bit" {
			continue
		}
		if got := quotedTokens([]byte(tc.msg)); len(got) != 1 || got[0] != tok {
			t.Errorf("%s: found %q", tc.name, got)
		}
	}
}

// A message attached whole (message/rfc822: "forward as attachment", a
// digest of replies) is looked at decoded too: a link in a base64 or
// UTF-16 part of the attached message is found, whether the attachment is
// a part of the message or the message itself.
func TestQuotedTokensInAttachedMessage(t *testing.T) {
	const tok = "l.12.q6p5lhalz7e.abcdefghijklmnopqrstuvwxyz"
	link := "https://hub.example/signin/" + tok
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	h := "From: a@x.example\r\nTo: l@hub.example\r\nSubject: Fwd\r\nMIME-Version: 1.0\r\n"
	inner := "From: l@hub.example\r\nSubject: Re\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + b64("Merci.\r\n> "+link+"\r\n") + "\r\n"
	for _, tc := range []struct{ name, msg string }{
		{"in a part", h + "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nVoir.\r\n" +
			"--b\r\nContent-Type: message/rfc822\r\n\r\n" + inner + "--b--\r\n"},
		{"the message", h + "Content-Type: message/rfc822\r\n\r\n" + inner},
	} {
		if got := quotedTokens([]byte(tc.msg)); len(got) != 1 || got[0] != tok {
			t.Errorf("%s: found %q", tc.name, got)
		}
	}
}
