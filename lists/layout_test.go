package lists

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
)

func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

// personal applies the insertions as Personalize does.
func personal(msg []byte, ins []insertion) string {
	var b bytes.Buffer
	last := 0
	for _, in := range ins {
		b.Write(msg[last:in.At])
		b.WriteString(in.render("Liste x@hub — désinscription : x+unsubscribe@hub\n", "x+unsubscribe@hub", "", in.At == len(msg)))
		last = in.At
	}
	b.Write(msg[last:])
	return b.String()
}

// parts reads a message and returns each leaf part's type and decoded text.
func parts(t *testing.T, raw string) map[string]string {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("unreadable: %v\n%s", err, raw)
	}
	out := map[string]string{}
	var walk func(ct string, r io.Reader, cte string)
	walk = func(ct string, r io.Reader, cte string) {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil {
			t.Fatalf("content-type %q: %v", ct, err)
		}
		if strings.HasPrefix(mt, "multipart/") {
			mr := multipart.NewReader(r, params["boundary"])
			for {
				p, err := mr.NextPart()
				if err == io.EOF {
					return
				}
				if err != nil {
					t.Fatalf("multipart: %v\n%s", err, raw)
				}
				pct := p.Header.Get("Content-Type")
				if pct == "" {
					pct = "text/plain"
				}
				// multipart.Reader decodes quoted-printable itself.
				walk(pct, p, "")
			}
		}
		b, _ := io.ReadAll(r)
		out[mt] += string(b)
	}
	walk(m.Header.Get("Content-Type"), m.Body, m.Header.Get("Content-Transfer-Encoding"))
	return out
}

func TestLayoutPlainText(t *testing.T) {
	msg := crlf("From: a@b\nSubject: s\nContent-Type: text/plain\n\nBonjour\n")
	out, ins := layout([]byte(msg))
	got := personal(out, ins)
	if !strings.Contains(got, "Content-Type: text/plain; charset=utf-8\r\n") || !strings.Contains(got, "Content-Transfer-Encoding: 8bit") ||
		!strings.HasSuffix(got, "Bonjour\r\n\r\n-- \r\nListe x@hub — désinscription : x+unsubscribe@hub\r\n") {
		t.Fatalf("plain:\n%q", got)
	}
}

func TestLayoutAlternativeGetsBothFooters(t *testing.T) {
	msg := crlf(`From: a@b
Subject: s
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="AA"

--AA
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

R=C3=A9union jeudi
--AA
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

<html><body><p>R=C3=A9union jeudi</p></body></html>
--AA--
`)
	out, ins := layout([]byte(msg))
	if len(ins) != 2 {
		t.Fatalf("insertions %+v", ins)
	}
	p := parts(t, personal(out, ins))
	if !strings.Contains(p["text/plain"], "Réunion jeudi\r\n-- \r\nListe x@hub — désinscription : x+unsubscribe@hub") {
		t.Fatalf("text part %q", p["text/plain"])
	}
	if !strings.Contains(p["text/html"], `<a href="mailto:x+unsubscribe@hub?subject=unsubscribe">`) || !strings.HasSuffix(strings.TrimSpace(p["text/html"]), "</body></html>") {
		t.Fatalf("html part %q", p["text/html"])
	}
}

// A signed message is wrapped whole: the signed part's bytes are untouched.
func TestLayoutSignedIsWrapped(t *testing.T) {
	signed := crlf(`--SIG
Content-Type: text/plain; charset=us-ascii

Signed text
--SIG
Content-Type: application/pgp-signature

-----BEGIN PGP SIGNATURE-----
xyz
-----END PGP SIGNATURE-----
--SIG--
`)
	msg := crlf("From: a@b\nSubject: s\nMIME-Version: 1.0\nContent-Type: multipart/signed; protocol=\"application/pgp-signature\"; micalg=pgp-sha256; boundary=\"SIG\"\n\n") + signed
	out, ins := layout([]byte(msg))
	got := personal(out, ins)
	if !strings.Contains(got, signed) {
		t.Fatalf("signed content changed:\n%s", got)
	}
	p := parts(t, got)
	if !strings.Contains(p["text/plain"], "Signed text") || !strings.Contains(p["text/plain"], "x+unsubscribe@hub") ||
		p["application/pgp-signature"] == "" {
		t.Fatalf("wrapped parts %q", p)
	}
}

// A mixed message whose first part is an attachment gets a footer part.
func TestLayoutMixedWithoutText(t *testing.T) {
	msg := crlf(`From: a@b
Subject: s
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="MM"

--MM
Content-Type: application/pdf
Content-Transfer-Encoding: base64

JVBERi0=
--MM--
`)
	out, ins := layout([]byte(msg))
	p := parts(t, personal(out, ins))
	if p["application/pdf"] != "JVBERi0=" || !strings.Contains(p["text/plain"], "x+unsubscribe@hub") {
		t.Fatalf("parts %q", p)
	}
}

// Base64 or another charset: wrapped rather than spliced.
func TestLayoutLatin1IsWrapped(t *testing.T) {
	msg := "From: a@b\r\nSubject: s\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\nR\xe9union\r\n"
	out, ins := layout([]byte(msg))
	got := personal(out, ins)
	if !strings.Contains(got, "R\xe9union") || !strings.Contains(got, "multipart/mixed") {
		t.Fatalf("latin-1:\n%q", got)
	}
	parts(t, got)
}

func TestSplitPartsRefusesUnclosed(t *testing.T) {
	if _, _, ok := splitParts([]byte("--B\r\nx\r\n"), "B"); ok {
		t.Fatal("unclosed multipart accepted")
	}
}

func FuzzLayout(f *testing.F) {
	f.Add([]byte(crlf("Content-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/html\n\n<body>x</body>\n--B--\n")))
	f.Add([]byte("Subject: x\r\n\r\nbody"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		out, ins := layout(msg)
		last := 0
		for _, in := range ins {
			if in.At < last || in.At > len(out) {
				t.Fatalf("insertion %d out of order or range (len %d)", in.At, len(out))
			}
			last = in.At
		}
		personal(out, ins)
	})
}

// Messages longer than a bufio buffer: the header ends where it ends.
func TestLargeMessages(t *testing.T) {
	body := strings.Repeat("Réunion à 19h, salle des fêtes.\r\n", 400) // 8-bit, about 14 KB
	msg := "From: a@example.org\r\nSubject: s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body
	if p := problem([]byte(msg), false); p != "" {
		t.Fatalf("a large 8-bit body was found %q", p)
	}
	out, ins := layout([]byte(msg))
	got := personal(out, ins)
	if !strings.Contains(got, body) || !strings.HasSuffix(got, "x+unsubscribe@hub\r\n") || strings.Count(got, "Content-Type:") != 1 {
		t.Fatalf("large message laid out wrong: %d bytes, tail %q", len(got), got[len(got)-80:])
	}
	if headerLen([]byte("A: b\r\n\r\nbody")) != 8 || headerLen([]byte("\r\nbody")) != 2 || headerLen([]byte("A: b\r\n")) != 6 {
		t.Fatal("headerLen")
	}
}

// A body with more places for a footer than maxInsertions is wrapped: one
// footer, whatever the number of its text parts.
func TestLayoutManyAlternativesWrapped(t *testing.T) {
	msg := []byte("From: a@exemple.fr\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" +
		strings.Repeat("--b\r\n\r\nx\r\n", 1000) + "--b--\r\n")
	out, ins := layout(msg)
	if len(ins) != 1 || ins[0].Boundary == "" || !bytes.Contains(out, msg[bytes.Index(msg, []byte("--b\r\n")):]) {
		t.Fatalf("%d insertions %+v", len(ins), ins[:min(len(ins), 3)])
	}
	// Two alternatives, as clients write them, each still get theirs.
	two := []byte("From: a@exemple.fr\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--b--\r\n")
	if _, ins := layout(two); len(ins) != 2 {
		t.Fatalf("two alternatives: %+v", ins)
	}
}
