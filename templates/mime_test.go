package templates

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jordan-wright/email"
)

// mimeRandom is what differs between two compositions of one message:
// the MIME boundary.
var mimeRandom = regexp.MustCompile(`[0-9a-f]{60}`)

// mimeNormal sorts a message's header fields (the library writes them in
// map order) and blanks its boundary.
func mimeNormal(msg []byte) string {
	head, body, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	lines := strings.Split(strings.ReplaceAll(string(head), "\r\n ", " "), "\r\n")
	slices.Sort(lines)
	return mimeRandom.ReplaceAllString(strings.Join(lines, "\r\n")+"\r\n\r\n"+string(body), "")
}

// mimeBytes writes what the library writes, but for the order of the
// header fields.
func TestMimeBytesAsLibrary(t *testing.T) {
	date := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	long := strings.Repeat("Réunion à la salle des fêtes, 2 rue de la Mairie = 3 € ", 40)
	for i, c := range []struct {
		r    Rendered
		html []byte
		env  Envelope
	}{
		{Rendered{"fr", "Agenda de la semaine : 3 événements", long + "\n\nfin\n"}, []byte("<p>" + long + "</p>\r\n<a href=\"x\">y</a>"),
			Envelope{From: "Agenda <agenda@hub.example>", To: "marie@example.org", Date: date, MessageID: "<a@b>", AutoSubmitted: "auto-generated",
				Header: [][2]string{{"List-Id", "Agenda <agenda.hub.example>"}, {"List-Unsubscribe", "<https://x/s/t>, <mailto:a+r@x?subject=stop>"},
					{"X-Agenda-Week", "2026-W48"}, {"Precedence", "bulk"}}}},
		{Rendered{"en", "Undelivered: hello", "text only\n"}, nil,
			Envelope{From: "relais <postmaster@hub.example>", To: `"Dupont, Marie" <marie@example.org>`, Date: date, MessageID: "<c@d>",
				References: "<m1@x> <m2@x>", Header: [][2]string{{"Reply-To", "Équipe <e@x>"}, {"X-Two", "a"}, {"X-Two", "b"}}}},
		{Rendered{"fr", "x", ""}, []byte("<p>html only</p>"), Envelope{From: "a@b", To: "not an address, c@d", Date: date, MessageID: "<e@f>"}},
	} {
		got, err1 := compose("test", c.r.Lang, c.r.Subject, []byte(c.r.Text), c.html, c.env)
		toBytes = (*email.Email).Bytes
		want, err2 := compose("test", c.r.Lang, c.r.Subject, []byte(c.r.Text), c.html, c.env)
		toBytes = mimeBytes
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if mimeNormal(want) != mimeNormal(got) {
			t.Errorf("message %d:\n%s\n-----\n%s", i, mimeNormal(got), mimeNormal(want))
		}
	}
}
