package mailview

import "testing"

func TestString(t *testing.T) {
	msg := "Received: from x\r\nDKIM-Signature: v=1; b=abc\r\nFrom: =?utf-8?q?L=C3=A9a?= <lea@exemple.fr>\r\nTo: a@b.example\r\n" +
		"Subject: =?utf-8?q?R=C3=A9union?=\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n" +
		"--b1\r\nContent-Type: multipart/alternative; boundary=b2\r\n\r\n" +
		"--b2\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>HTML</p>\r\n" +
		"--b2\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nBonjour =C3=A0 tous,=\r\n la suite.\r\n--b2--\r\n" +
		"--b1\r\nContent-Type: application/pdf; name=\"tract.pdf\"\r\nContent-Disposition: attachment; filename=\"tract.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n" +
		"--b1\r\nContent-Type: message/rfc822\r\n\r\nFrom: x@y.example\r\nSubject: inside\r\n\r\nQuoted post.\r\n" +
		"--b1--\r\n"
	want := "From: Léa <lea@exemple.fr>\nTo: a@b.example\nSubject: Réunion\n\nBonjour à tous, la suite.\n" +
		"[attachment: tract.pdf, application/pdf, 5 bytes]\n--- attached message ---\n| From: x@y.example\n| Subject: inside\n| \n| Quoted post.\n"
	if got := String([]byte(msg)); got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	html := "Subject: x\r\nContent-Type: text/html\r\n\r\n<html><head><style>p{}</style></head><body><p>Un <a href=\"https://e.example/u\">lien</a></p><p>Deux</p></body></html>\r\n"
	if got := String([]byte(html)); got != "Subject: x\n\nUn <https://e.example/u> lien\nDeux\n" {
		t.Fatalf("html: %q", got)
	}
}
