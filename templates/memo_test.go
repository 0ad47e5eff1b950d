package templates

import (
	"bytes"
	htmltemplate "html/template"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// memoItem and memoView have the fields the digest templates read.
type memoItem struct {
	Title, When, Place, Distance, Organisers, Calendar, Themes, Details, Attend string
	MembersOnly                                                                 bool
}

type memoView struct {
	Email, Place, PostCode, Request, Stop, Manage, ChangeRadius, ChangePlace, StopMail string
	Radius, Count                                                                      int
	Own, Near, Themes, Cancelled                                                       []memoItem
}

// Values a person or an organiser may put anywhere, escaping's hard cases
// among them.
var memoPieces = []string{"", "Nantes", "à 12 km", "<b>", "a&b", `"q"`, "l'été", "x+y", "javascript:alert(1)",
	"https://agenda.hub.example/agenda/attend/abc.def", "HTTPS://x/y", "mailto:a@b", "?a=1&b=2", "%41", "é\u2028\x00",
	"</ul><script>", "a b", "/rel", "#frag", "{{.}}", "\ufffd", "\xff"}

func memoString(r *rand.Rand) string {
	var b strings.Builder
	for n := r.IntN(3); n >= 0; n-- {
		b.WriteString(memoPieces[r.IntN(len(memoPieces))])
	}
	return b.String()
}

// memoData draws views over a few shared events, with personal links
// and distances: the same events come back, as in a week's digests.
func memoData(r *rand.Rand, events []memoItem) memoView {
	pick := func(n int) []memoItem {
		var out []memoItem
		for i := r.IntN(n + 1); i > 0; i-- {
			e := events[r.IntN(len(events))]
			e.Attend = "https://agenda.hub.example/agenda/attend/" + memoString(r)
			if r.IntN(4) == 0 {
				e.Attend = memoString(r)
			}
			if r.IntN(3) > 0 {
				e.Distance = []string{"", "à 3 km", "12 km away", "à moins d'1 km", memoString(r)}[r.IntN(5)]
			}
			out = append(out, e)
		}
		return out
	}
	v := memoView{Email: memoString(r) + "@example.org", Place: memoString(r), PostCode: "44000", Request: "agenda+request@hub.example",
		Stop: "https://agenda.hub.example/agenda/stop/" + memoString(r), Radius: r.IntN(50), ChangeRadius: "mailto:x?subject=rayon%2040",
		ChangePlace: "mailto:x?subject=" + memoString(r), StopMail: "mailto:x?subject=stop",
		Own: pick(4), Near: pick(6), Themes: pick(3), Cancelled: pick(2)}
	if r.IntN(2) == 0 {
		v.Manage = "https://agenda.hub.example/signin/" + memoString(r)
	}
	v.Count = len(v.Own) + len(v.Near) + len(v.Themes)
	return v
}

func memoEvents(r *rand.Rand) []memoItem {
	var evs []memoItem
	for range 30 {
		evs = append(evs, memoItem{Title: memoString(r), When: "samedi 28 novembre à 18:00", Place: memoString(r),
			Organisers: "organisé par " + memoString(r), Calendar: []string{"", "https://agenda.hub.example/e.ics", memoString(r)}[r.IntN(3)],
			Themes: memoString(r), Details: memoString(r), MembersOnly: r.IntN(2) == 0})
	}
	return evs
}

// memoRender is Set.render through m's parts.
func memoRender(m *Memo, lang, name string, data any, htmlName string) (Rendered, []byte, error) {
	f, err := m.form(lang, name, htmlName)
	if err != nil {
		return Rendered{}, nil, err
	}
	if f == nil { // as Compose falls back
		return m.set.render(lang, name, data, htmlName)
	}
	subject, text, html, done, err := m.parts(f, name, data, htmlName)
	defer done()
	if err != nil {
		return Rendered{}, nil, err
	}
	r := Rendered{Lang: f.lang, Subject: subject, Text: string(text)}
	if html != nil {
		html = bytes.Clone(html)
	}
	return r, html, nil
}

// compareMemo renders n views both ways and says whether the memo kept
// items.
func compareMemo(t *testing.T, s *Set, n int) (kept bool) {
	t.Helper()
	m := s.Memo("Attend", "Distance")
	r := rand.New(rand.NewPCG(7, 8))
	evs := memoEvents(r)
	for i := range n {
		v := memoData(r, evs)
		lang := Languages[i%len(Languages)]
		want, wantHTML, err1 := s.render(lang, "agenda-digest", v, "agenda-digest")
		got, gotHTML, err2 := memoRender(m, lang, "agenda-digest", v, "agenda-digest")
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("view %d: errors differ: %v / %v", i, err1, err2)
		}
		if err1 != nil {
			continue // Compose returns no message either way
		}
		if want != got {
			t.Fatalf("view %d: text differs:\n%q\n%q", i, want.Text, got.Text)
		}
		if !bytes.Equal(wantHTML, gotHTML) {
			t.Fatalf("view %d: HTML differs:\n%s\n----\n%s", i, wantHTML, gotHTML)
		}
	}
	var text, html int
	for k, st := range m.kept {
		if st.bad {
			continue
		}
		if k.p.html {
			html++
		} else {
			text++
		}
	}
	return text > 0 && html > 0
}

// The memo's digests are those Compose makes, byte for byte, whatever the
// values: escaping's hard cases in personal links and distances included.
func TestMemoSameAsCompose(t *testing.T) {
	s, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if !compareMemo(t, s, 3000) {
		t.Fatal("the built-in digest kept no item")
	}
}

// Items whose words hash the same are told apart: with every item's hash
// the same, each digest is still Compose's.
func TestMemoSameHash(t *testing.T) {
	s, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	sameSum = true
	defer func() { sameSum = false }()
	if !compareMemo(t, s, 500) {
		t.Fatal("the built-in digest kept no item")
	}
}

// An operator's templates that use the personal fields in other ways, or
// in other places, still give Compose's messages: those items are made
// each time.
func TestMemoOverrides(t *testing.T) {
	for name, over := range map[string][2]string{
		"places": {"", `<p>{{range .Own}}<a href="{{.Attend}}" title="{{.Attend}}">{{.Attend}}</a>
<a href="/go?to={{.Attend}}&d={{.Distance}}">x</a><a href=/x/{{.Attend}}>y</a>
<span onclick="f('{{.Attend}}')">{{.Distance}}</span><a href="/p/{{.Attend}}">z</a>{{end}}</p>`},
		"computed": {"Subject: x\n\n{{range .Own}}{{printf \"%q\" .Attend}} {{len .Distance}} {{.Attend | urlquery}}\n{{end}}{{range .Near}}{{if .Distance}}{{.Distance}}{{else}}-{{end}} {{.Attend}}\n{{end}}",
			`{{range .Own}}{{printf "%.8s" .Attend}}{{end}}{{range .Near}}{{$.Radius}}{{.Attend}}{{end}}{{range .Themes}}{{.}}{{end}}{{range $i, $e := .Cancelled}}{{$e.Attend}}{{end}}`},
		"in an attribute": {"", `<p title="{{range .Own}}{{.Title}} {{.Attend}}{{end}}">{{range .Near}}{{.Attend}}{{end}}</p>`},
		"script":          {"", `<script>var a = [{{range .Own}}{{.Attend}},{{end}}];</script>{{range .Near}}<b>{{.Attend}}</b>{{end}}`},
		"with":            {"", `{{range .Own}}{{with .Attend}}<a href="{{.}}">{{.}}</a>{{end}}{{with .Calendar}}{{.}}{{end}}{{end}}`},
		"else": {"Subject: x\n\n{{range .Own}}{{.Attend}} {{.Distance}}\n{{else}}none\n{{end}}",
			`{{range .Own}}<a href="{{.Attend}}">{{.Title}}</a>{{else}}<p>rien</p>{{end}}{{range .Near}}<i>{{.Attend}}</i>{{end}}`},
		"nested": {"", `{{range .Own}}<ul>{{range .Themes}}{{end}}</ul>{{end}}{{if .Near}}{{range .Near}}<i>{{if .Distance}}({{.Distance}}){{end}}</i>
<a href="{{.Attend}}">{{.Title}}</a>{{end}}{{else}}rien{{end}}`},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for _, lang := range Languages {
				os.MkdirAll(filepath.Join(dir, lang), 0o755)
				if over[0] != "" {
					os.WriteFile(filepath.Join(dir, lang, "agenda-digest.tmpl"), []byte(over[0]), 0o644)
				}
				os.WriteFile(filepath.Join(dir, lang, "agenda-digest.html"), []byte(over[1]), 0o644)
			}
			s, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			compareMemo(t, s, 500)
		})
	}
}

// A value the memo puts in without escaping it itself comes out of
// html/template unchanged, in each place it does so.
func TestMemoPlainValues(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune("aZ09 ,.:;/_~()?!@#%*-&'\"+<>=`\x00\t\né€\u2028\ufffd\ufdd0\uffff\u00a0")
	for range 20000 {
		var b strings.Builder
		for n := r.IntN(12); n >= 0; n-- {
			b.WriteRune(alphabet[r.IntN(len(alphabet))])
		}
		s := b.String()
		if r.IntN(3) == 0 {
			s = []string{"http://", "https://", "mailto:", "javascript:", "HTTP://", "/a:"}[r.IntN(6)] + s
		}
		for _, c := range []struct {
			ctx   escCtx
			plain func(string) bool
		}{{ctxHTML, plainHTML}, {ctxURL, plainURL}, {ctxQuery, plainQuery}} {
			if c.plain(s) && escapeMini(c.ctx, s) != s {
				t.Fatalf("%q is not plain in %d: %q", s, c.ctx, escapeMini(c.ctx, s))
			}
		}
		// A quoted attribute escapes as text does.
		var a strings.Builder
		htmltemplate.Must(htmltemplate.New("").Parse(`<a title="{{.}}">`)).Execute(&a, s)
		if a.String() != `<a title="`+escapeMini(ctxHTML, s)+`">` {
			t.Fatalf("%q: attribute %q, text %q", s, a.String(), escapeMini(ctxHTML, s))
		}
	}
}

// Lists that are not slices range as {{range}} does: a map in the order
// of its keys, a number.
func TestMemoOtherLists(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "fr"), 0o755)
	os.WriteFile(filepath.Join(dir, "fr", "agenda-digest.tmpl"), []byte("Subject: x\n\n{{range .Own}}{{.Attend}}\n{{end}}{{range .Near}}{{.Attend}}{{end}}{{range .N}}x{{end}}"), 0o644)
	os.WriteFile(filepath.Join(dir, "fr", "agenda-digest.html"), []byte(`{{range .Own}}<a href="{{.Attend}}">{{.Title}}</a>{{end}}{{range .Near}}{{.Attend}}{{end}}{{range .N}}x{{end}}`), 0o644)
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := s.Memo("Attend", "Distance")
	data := map[string]any{"Own": map[string]memoItem{"b": {Title: "B", Attend: "https://x/b"}, "a": {Title: "<A>", Attend: "javascript:x"}},
		"Near": []any{memoItem{Attend: "&"}, map[string]string{"Attend": "<m>"}}, "N": 3}
	want, wantHTML, err1 := s.render("fr", "agenda-digest", data, "agenda-digest")
	got, gotHTML, err2 := memoRender(m, "fr", "agenda-digest", data, "agenda-digest")
	if err1 != nil || err2 != nil || want != got || !bytes.Equal(wantHTML, gotHTML) {
		t.Fatalf("%v %v\n%q\n%q\n%s\n%s", err1, err2, want, got, wantHTML, gotHTML)
	}
	if _, _, err := memoRender(m, "fr", "agenda-digest", map[string]any{"Own": nil, "Near": 1.5, "N": 0}, "agenda-digest"); err == nil {
		t.Fatal("ranged over a float")
	}
}

// A template that calls the memo's own functions is not made through the
// memo, where a list printed twice would print a buffer given back (Load
// refuses such a template already: the functions are not the templates').
func TestMemoOwnFunctionsNotTheTemplates(t *testing.T) {
	s, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	m := s.Memo("Attend", "Distance")
	src := "Subject: x\n\n{{range .Own}}{{.Attend}}\n{{end}}{{$l := relaisList 0 .Own}}{{$l}}{{$l}}"
	if _, _, err := m.split("fr/agenda-digest.tmpl", src, &memoPart{m: m}); err == nil {
		t.Fatal("split a template that calls relaisList")
	}
	if _, err := Load(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "fr"), 0o755)
	os.WriteFile(filepath.Join(dir, "fr", "agenda-digest.tmpl"), []byte(src), 0o644)
	if _, err := Load(dir); err == nil {
		t.Fatal("loaded a template that calls relaisList")
	}
}

// Items of two types in one list whose fields hold the same words (the
// same integers, the same strings) are two items: each is rendered as
// Compose renders it, not as the other one was.
type memoLabelA struct {
	N      int
	Attend string
}
type memoLabelB struct {
	N      int
	Attend string
}

func (memoLabelA) Label() string { return "A" }
func (memoLabelB) Label() string { return "B" }

func TestMemoSameWordsOtherType(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "fr"), 0o755)
	os.WriteFile(filepath.Join(dir, "fr", "agenda-digest.tmpl"), []byte("Subject: x\n\n{{range .Own}}{{.Label}} {{.Attend}}\n{{end}}"), 0o644)
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := s.Memo("Attend", "Distance")
	for range 2 {
		data := map[string]any{"Own": []any{memoLabelA{N: 1, Attend: "x"}, memoLabelB{N: 1, Attend: "y"}}}
		want, _, err1 := s.render("fr", "agenda-digest", data, "")
		got, _, err2 := memoRender(m, "fr", "agenda-digest", data, "")
		if err1 != nil || err2 != nil || want != got {
			t.Fatalf("%v %v\n%q\n%q", err1, err2, want.Text, got.Text)
		}
	}
}
