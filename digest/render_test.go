package digest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"codeberg.org/relais/relais/events"
	"codeberg.org/relais/relais/templates"
)

// renderService is a Service that renders digests and nothing else.
func renderService(t *testing.T, dir string) *Service {
	t.Helper()
	texts, err := templates.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	return &Service{texts: texts, memo: texts.Memo("Attend", "Distance"), secret: []byte("secret"),
		cfg: Config{Domain: "hub.example", Hostname: "mx.hub.example", WebURL: "https://agenda.hub.example", Days: 14,
			Now:    func() time.Time { return now },
			Manage: func(link, email string) string { return "https://agenda.hub.example/signin/" + link + "." + email }}}
}

// random is what differs from one message of the same content to the
// next: the Message-ID and the MIME boundary.
var random = regexp.MustCompile(`(?m)^Message-Id: .*\r\n|[0-9a-f]{60}`)

// normal is a composed message with its header fields sorted (the MIME
// library writes them in no fixed order) and without what is random.
func normal(msg []byte) []byte {
	head, body, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	head = bytes.ReplaceAll(head, []byte("\r\n "), []byte(" "))
	lines := strings.Split(string(head), "\r\n")
	sort.Strings(lines)
	return random.ReplaceAll([]byte(strings.Join(lines, "\r\n")+"\r\n\r\n"+string(body)), nil)
}

// Each member's digest made through the memo is the one the templates
// make for them directly: addresses HTML must escape, places and titles
// with markup, members in other zones and languages, the built-in
// templates and an operator's override.
func TestMemoDigestsSameAsPlain(t *testing.T) {
	over := t.TempDir()
	os.MkdirAll(filepath.Join(over, "fr"), 0o755)
	os.WriteFile(filepath.Join(over, "fr", "agenda-digest.html"), []byte(`<p>Pour {{.Email}}</p>
{{range .Own}}<p><a href="{{.Attend}}" title="{{.Title}}">{{.Title}}</a> {{.Distance}} <a href="/a?u={{.Attend}}">x</a></p>{{end}}
{{range .Near}}<p>{{.When}} {{if .Distance}}<em>{{.Distance}}</em>{{end}} <a href="{{.Attend}}">{{.Title}}</a></p>{{end}}
<a href="{{.Stop}}">stop</a>`), 0o644)
	for name, dir := range map[string]string{"built-in": "", "override": over} {
		t.Run(name, func(t *testing.T) {
			s := renderService(t, dir)
			r := rand.New(rand.NewPCG(3, 4))
			titles := []string{"Réunion", "<script>alert(1)</script>", `Fête "au" jardin & co`, "l'AG + la soupe", "Vélo"}
			evs := map[int64]*events.Event{}
			for id := int64(1); id <= 40; id++ {
				evs[id] = &events.Event{ID: id, UID: fmt.Sprintf("u%d@hub.example", id), Title: titles[r.IntN(len(titles))],
					Start: time.Date(2026, 11, 24+r.IntN(10), 18, 0, 0, 0, time.UTC), AllDay: r.IntN(5) == 0,
					Place: []string{"", "Nantes", "<b>Salle</b> & co"}[r.IntN(3)], Located: r.IntN(4) > 0, Public: r.IntN(3) > 0,
					Themes: []string{"climat"}, Names: []string{"Nantes Sud", "A&B"}[:1+r.IntN(2)], Details: titles[r.IntN(len(titles))]}
			}
			byID := func(id int64) (*events.Event, bool) { e, ok := evs[id]; return e, ok }
			emails := []string{"marie@example.org", `"a<b>"@example.org`, "o'neil+x@example.org", "x&y@example.org", "é@example.org"}
			items := func(n int) []Item {
				var out []Item
				for i := r.IntN(n + 1); i > 0; i-- {
					out = append(out, Item{ID: 1 + r.Int64N(41), Km: []float64{-1, 0.4, 3, 12.6, 49}[r.IntN(5)]})
				}
				return out
			}
			for i := range 600 {
				m := Member{Email: emails[r.IntN(len(emails))], Link: fmt.Sprintf("l%d", i%50), PostCode: "44000",
					Place: []string{"Nantes", "Saint-Herblain", "<Rezé>"}[r.IntN(3)], Radius: 25, Lang: []string{"fr", "en", "de"}[r.IntN(3)],
					Zone: []string{"", "Europe/Paris", "America/Cayenne"}[r.IntN(3)], INSEE: "44109", Active: true}
				d := Digest{Own: items(4), Near: items(8), Themes: items(3), Cancelled: items(2)}
				got, err1 := s.render(m, d, byID, "2026-W48")
				memo := s.memo
				s.memo = nil
				want, err2 := s.render(m, d, byID, "2026-W48")
				s.memo = memo
				if err1 != nil || err2 != nil {
					t.Fatal(err1, err2)
				}
				got, want = normal(got), normal(want)
				if !bytes.Equal(got, want) {
					t.Fatalf("member %d (%s): the memo's digest differs:\n%s\n-----\n%s", i, m.Email, got, want)
				}
			}
		})
	}
}

// BenchmarkRender makes digests of 30 events among 2,000, for members
// spread over 50 places, through the memo and through the templates alone.
func BenchmarkRender(b *testing.B) {
	for _, memo := range []bool{true, false} {
		b.Run(map[bool]string{true: "memo", false: "plain"}[memo], func(b *testing.B) {
			s := renderService(&testing.T{}, "")
			if !memo {
				s.memo = nil
			}
			r := rand.New(rand.NewPCG(5, 6))
			evs := map[int64]*events.Event{}
			for id := int64(1); id <= 2000; id++ {
				evs[id] = &events.Event{ID: id, UID: fmt.Sprintf("u%d@hub.example", id), Title: "Réunion publique sur le climat",
					Start: time.Date(2026, 11, 24+r.IntN(10), 18, 0, 0, 0, time.UTC), Place: "Salle des fêtes, 2 rue de la Mairie, Nantes",
					Located: true, Public: true, Themes: []string{"climat"}, Names: []string{"Nantes Sud"},
					Details: "Une soirée pour parler de ce que nous pouvons faire ensemble, avec des invités et un repas partagé ; venez nombreux."}
			}
			byID := func(id int64) (*events.Event, bool) { e, ok := evs[id]; return e, ok }
			var ds []Digest
			for range 50 {
				var d Digest
				for j := range 30 {
					it := Item{ID: 1 + r.Int64N(2000), Km: float64(r.IntN(40))}
					switch {
					case j < 5:
						d.Own = append(d.Own, it)
					case j < 25:
						d.Near = append(d.Near, it)
					default:
						d.Themes = append(d.Themes, it)
					}
				}
				ds = append(ds, d)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				m := Member{Email: fmt.Sprintf("m%d@example.org", i), Link: fmt.Sprintf("l%d", i), PostCode: "44000", Place: "Nantes",
					Radius: 25, Lang: "fr", Zone: "Europe/Paris", INSEE: "44109", Active: true}
				if _, err := s.render(m, ds[i%len(ds)], byID, "2026-W48"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The links of digests already sent keep working: a token is the member's
// link id, the event in base 36, and the first 10 bytes of an HMAC-SHA256
// of "agenda-attend", NUL, link, NUL, event in base 10, in lower-case
// base32; a stop link's MAC is that of "agenda-stop", NUL, link.
func TestTokensAsSent(t *testing.T) {
	s := renderService(t, "")
	mac := func(msg string) string {
		h := hmac.New(sha256.New, []byte("secret"))
		h.Write([]byte(msg))
		return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h.Sum(nil)[:10]))
	}
	m := Member{Link: "k7d2x", Email: "marie@example.org"}
	for range 3 { // the pooled state used again gives the same
		if got, want := s.AttendToken(m, 123456), "k7d2x.2n9c."+mac("agenda-attend\x00k7d2x\x00123456"); got != want {
			t.Fatalf("attend token %q, want %q", got, want)
		}
		if got, want := s.Token(m), "k7d2x."+mac("agenda-stop\x00k7d2x"); got != want {
			t.Fatalf("stop token %q, want %q", got, want)
		}
	}
}
