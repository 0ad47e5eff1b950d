package mailview

import (
	"strings"
	"testing"
)

// What a moderator's page shows of a held post runs nothing and loads
// nothing: scripts, handlers, styles, images, frames and forms are gone,
// links stay; attachments are named.
func TestViewSanitises(t *testing.T) {
	raw := "From: a@example.org\r\nSubject: =?utf-8?q?H=C3=A9?=\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n" +
		"--c\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBonjour\r\n" +
		"--c\r\nContent-Type: text/html\r\n\r\n<p onclick=\"x()\">Bonjour <b>tous</b><script>alert(1)</script>" +
		"<img src=\"https://tracker.example/p.gif\"><style>p{}</style><iframe src=\"x\"></iframe><form><input></form>" +
		"<a href=\"https://example.org/\" style=\"color:red\">lien</a><a href=\"javascript:x()\">js</a></p>\r\n--c--\r\n" +
		"--b\r\nContent-Type: application/pdf; name=\"tract.pdf\"\r\nContent-Disposition: attachment; filename=\"tract.pdf\"\r\n\r\nJVBERi0=\r\n--b--\r\n"
	v := View([]byte(raw))
	if v.Text != "Bonjour" {
		t.Errorf("text %q", v.Text)
	}
	for _, bad := range []string{"script", "alert", "onclick", "img", "tracker", "style", "iframe", "form", "input", "javascript"} {
		if strings.Contains(v.HTML, bad) {
			t.Errorf("sanitised HTML keeps %q: %s", bad, v.HTML)
		}
	}
	if !strings.Contains(v.HTML, `<b>tous</b>`) || !strings.Contains(v.HTML, `href="https://example.org/"`) || !strings.Contains(v.HTML, "noreferrer") {
		t.Errorf("sanitised HTML lost what it should keep: %s", v.HTML)
	}
	if len(v.Attachments) != 1 || v.Attachments[0].Name != "tract.pdf" {
		t.Errorf("attachments %+v", v.Attachments)
	}
	if v.Fields[1] != [2]string{"Subject", "Hé"} {
		t.Errorf("fields %v", v.Fields)
	}
}
