package archive_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/archive"
	"codeberg.org/relais/relais/audit"
	"codeberg.org/relais/relais/lists"
	"codeberg.org/relais/relais/store"
)

type world struct {
	t    *testing.T
	db   *store.DB
	list int64
	at   time.Time
	ids  map[string]int64
}

func newWorld(t *testing.T) *world {
	db, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	code, _ := address.ParseCode("4405")
	l, err := lists.Create(context.Background(), db, lists.List{Code: code, Name: "discussion", Policy: lists.Members,
		Owners: []lists.Owner{{Email: "camille@exemple.fr"}}}, audit.Actor{})
	if err != nil {
		t.Fatal(err)
	}
	return &world{t: t, db: db, list: l.ID, at: time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC), ids: map[string]int64{}}
}

// post archives a message with Message-ID <name@x>, answering refs
// (References, oldest first).
func (w *world) post(name, subject, body string, refs ...string) int64 {
	w.t.Helper()
	var h strings.Builder
	fmt.Fprintf(&h, "From: Camille Martin <camille@exemple.fr>\r\nSubject: %s\r\nMessage-ID: <%s@x>\r\n", subject, name)
	if len(refs) > 0 {
		var ids []string
		for _, r := range refs {
			ids = append(ids, "<"+r+"@x>")
		}
		fmt.Fprintf(&h, "In-Reply-To: %s\r\nReferences: %s\r\n", ids[len(ids)-1], strings.Join(ids, " "))
	}
	h.WriteString("Content-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n")
	w.at = w.at.Add(time.Hour)
	var id int64
	err := w.db.Write(context.Background(), func(tx *store.Tx) error {
		var err error
		id, _, err = archive.Add(tx, w.list, "camille@exemple.fr", "Camille Martin", subject, w.at, []byte(h.String()),
			func(id int64) string { return fmt.Sprintf("https://hub.example/archives/4405.discussion/m/%d", id) })
		return err
	})
	if err != nil {
		w.t.Fatal(err)
	}
	w.ids[name] = id
	return id
}

func (w *world) head(name string) archive.Post {
	p, err := archive.Head(context.Background(), w.db, w.ids[name])
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

func TestThreading(t *testing.T) {
	w := newWorld(t)
	w.post("a", "Réunion de samedi", "On se retrouve samedi ?")
	w.post("b", "Re: Réunion de samedi", "Oui.", "a")
	w.post("c", "Re: Réunion de samedi", "> Oui.\nMoi aussi.", "a", "b")
	// d answers x, which comes after it (out of order): d hangs from a
	// until x comes, then from x.
	w.post("d", "Re: Réunion de samedi", "D'accord avec x.", "a", "x")
	if p := w.head("d"); p.Parent != w.ids["a"] || p.Thread != w.ids["a"] {
		t.Fatalf("d before x: %+v", p)
	}
	w.post("x", "Re: Réunion de samedi", "Je propose 14h.", "a")
	if p := w.head("d"); p.Parent != w.ids["x"] || p.Thread != w.ids["a"] {
		t.Fatalf("d after x: %+v", p)
	}
	// An orphan whose parent comes later brings its thread along.
	w.post("o2", "Re: Tracts", "Réponse à o1", "o1")
	w.post("o3", "Re: Tracts", "Réponse à o2", "o1", "o2")
	if p := w.head("o3"); p.Thread != w.ids["o2"] {
		t.Fatalf("o3: %+v", p)
	}
	w.post("o1", "Tracts", "Qui distribue ?")
	for _, n := range []string{"o2", "o3"} {
		if p := w.head(n); p.Thread != w.ids["o1"] {
			t.Fatalf("%s after o1: %+v", n, p)
		}
	}
	// No references: an answer joins its subject's thread; a new subject
	// starts one.
	w.post("s", "RE : [4405.discussion] Réunion de samedi", "Sans références.")
	if p := w.head("s"); p.Thread != w.ids["a"] {
		t.Fatalf("subject fallback: %+v", p)
	}
	w.post("n", "Réunion de samedi", "Pas une réponse : un nouveau fil.")
	if p := w.head("n"); p.Thread != w.ids["n"] {
		t.Fatalf("same subject without Re: %+v", p)
	}
	// References that loop do not hang a post under itself.
	w.post("l1", "Boucle", "un", "l2")
	w.post("l2", "Boucle", "deux", "l1")
	if p := w.head("l1"); p.Parent == w.ids["l2"] && w.head("l2").Parent == w.ids["l1"] {
		t.Fatal("a loop")
	}
	nodes, err := archive.ThreadPosts(context.Background(), w.db, w.list, w.ids["a"])
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range nodes {
		for k, v := range w.ids {
			if v == n.ID {
				got = append(got, fmt.Sprintf("%s%d", k, n.Depth))
			}
		}
	}
	if want := "a0 b1 c2 x1 d2 s1"; strings.Join(got, " ") != want {
		t.Fatalf("tree: %s, want %s", strings.Join(got, " "), want)
	}
}

func TestSearch(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.post("a", "Réunion publique", "La réunion aura lieu à la salle des fêtes.")
	w.post("b", "Tracts", "Rendez-vous au marché, pas de reunion.")
	w.post("c", "Logement", "Le collectif logement se réunit jeudi.\n> réunion citée")
	find := func(q archive.Query) string {
		t.Helper()
		hits, err := archive.Search(ctx, w.db, w.list, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, h := range hits {
			for k, v := range w.ids {
				if v == h.ID {
					out = append(out, k)
				}
			}
		}
		return strings.Join(out, " ")
	}
	for q, want := range map[string]string{"réunion": "b a", "reunion": "b a", "RÉUNION salle": "a", "fêtes": "a", "fetes": "a",
		"citée": "", "marché tracts": "b"} {
		if got := find(archive.Query{Words: q}); got != want {
			t.Errorf("search %q: %q, want %q", q, got, want)
		}
	}
	if got := find(archive.Query{Author: "camille"}); got != "c b a" {
		t.Errorf("author: %q", got)
	}
	if got := find(archive.Query{Words: "reunion", From: w.head("b").Posted}); got != "b" {
		t.Errorf("from a date: %q", got)
	}
	if got := find(archive.Query{Words: `reunion" OR "x`}); got != "" {
		t.Errorf("operators typed are words: %q", got)
	}
	hits, _ := archive.Search(ctx, w.db, w.list, archive.Query{Words: "salle"})
	if len(hits) != 1 || !strings.Contains(hits[0].Excerpt, "\x01salle\x02") {
		t.Fatalf("excerpt: %+v", hits)
	}
	if err := archive.Remove(ctx, w.db, w.list, "4405.discussion", w.ids["a"], audit.Actor{Who: "camille@exemple.fr", Via: audit.ViaCLI}, "demande de l'auteur", time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := find(archive.Query{Words: "reunion"}); got != "b" {
		t.Errorf("after removal: %q", got)
	}
	if _, err := archive.Body(ctx, w.db, w.list, w.ids["a"]); err == nil {
		t.Error("a removed post is still there")
	}
}

func TestViewSanitises(t *testing.T) {
	msg := "From: Camille <camille@exemple.fr>\r\nSubject: x\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
		"Content-Type: text/html; charset=utf-8\r\n\r\n" +
		`<html><head><style>p{}</style><script>alert(1)</script></head><body><p onclick="x()" style="color:red">Écrire à <a href="mailto:karim@exemple.fr">karim@exemple.fr</a>` +
		`<img src="https://tracker.example/p.gif" alt="pixel"><img src="cid:logo@x"><a href="javascript:alert(1)">lien</a><form><input></form></p></body></html>` +
		"\r\n--b\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n" +
		"--b\r\nContent-Type: application/x-msdownload; name=\"virus.exe\"\r\nContent-Disposition: attachment; filename=\"virus.exe\"\r\n\r\nMZ\r\n--b--\r\n"
	v := archive.Read([]byte(msg), true, func(n int) string { return fmt.Sprintf("/part/%d", n) })
	if v.From != "Camille <camille@e…>" {
		t.Errorf("from: %q", v.From)
	}
	if len(v.Parts) != 3 {
		t.Fatalf("parts: %+v", v.Parts)
	}
	h := v.Parts[0].HTML
	for _, bad := range []string{"script", "alert", "style", "onclick", "tracker.example", "javascript", "form", "input", "karim@exemple.fr"} {
		if strings.Contains(h, bad) {
			t.Errorf("sanitised HTML holds %q: %s", bad, h)
		}
	}
	for _, good := range []string{"Écrire à", `src="/part/2"`, "[pixel]", "karim@e…"} {
		if !strings.Contains(h, good) {
			t.Errorf("sanitised HTML lacks %q: %s", good, h)
		}
	}
	if p := v.Parts[2]; p.Name != "virus.exe" || p.N != 3 || archive.SafeType(p.Type) != "application/octet-stream" {
		t.Errorf("attachment: %+v", p)
	}
	data, typ, name, ok := archive.Attachment([]byte(msg), 2)
	if !ok || typ != "image/png" || name != "part-2.png" || len(data) != 8 {
		t.Errorf("attachment 2: %q %q %d %v", typ, name, len(data), ok)
	}
}
