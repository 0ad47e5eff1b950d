package tickets

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// norm is how a corpus expectation is compared: each line's spaces
// collapsed, empty lines dropped.
func norm(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(s, "\u00a0", " "), "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// The corpus: whole messages as mail clients write replies (testdata/trim,
// see its README), each with the text a reader should see.
func TestTrimCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/trim/*.eml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 30 {
		t.Fatalf("corpus has %d messages, want at least 30", len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".eml")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(strings.TrimSuffix(f, ".eml") + ".txt")
			if err != nil {
				t.Fatal(err)
			}
			got := Trim(Read(raw).Text)
			g, w := norm(got), norm(string(want))
			if strings.Join(g, "\n") != strings.Join(w, "\n") {
				t.Errorf("trimmed:\n%s\n--- want:\n%s", strings.Join(g, "\n"), strings.Join(w, "\n"))
			}
		})
	}
}

func TestTrimCases(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"wrapped attribution", "Oui.\n\nLe lun. 3 juin 2024 à 10:12, Camille Martin-Durand <\ncamille@example.org> a écrit :\n> Question ?", "Oui."},
		{"nbsp before colon", "D'accord.\n\nLe 3 juin 2024 à 10:12, Support a écrit\u00a0:\n> x", "D'accord."},
		{"bottom posting", "Le 3 juin 2024, Support a écrit :\n> Question ?\n\nRéponse en bas.", "Réponse en bas."},
		{"one answer inside the quote", "> Première question ?\nRéponse une.\n> Suite du message.", "Réponse une."},
		{"answers inside the quote", "Le 3 juin, X a écrit :\n> Q1 ?\nR1.\n> Q2 ?\nR2.\n> Fin.", "> Q1 ?\nR1.\n> Q2 ?\nR2."},
		{"signature", "Merci.\n-- \nCamille\n06 00 00 00 00", "Merci."},
		{"mobile", "Ok pour moi.\n\nEnvoyé de mon iPhone\n\nLe 3 juin, X a écrit :\n> y", "Ok pour moi."},
		{"outlook block", "Vu.\n\nDe : Support <support@hub.example>\nEnvoyé : lundi 3 juin 2024 10:12\nÀ : moi\nObjet : RE: x\n\nTexte", "Vu."},
		{"original message", "Vu.\n-----Message d'origine-----\nDe : x", "Vu."},
		{"sign-off kept", "Bien à vous,\nCamille", "Bien à vous,\nCamille"},
		{"only a quote", "Le 3 juin, X a écrit :\n> tout\n-- \nSig", ""},
	} {
		if got := Trim(c.in); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

func TestHTMLText(t *testing.T) {
	in := `<html><body><div dir="ltr">Merci&nbsp;!<br>À samedi.</div><br><div class="gmail_quote"><div class="gmail_attr">Le lun. 3 juin, X a écrit :</div><blockquote class="gmail_quote">old</blockquote></div></body></html>`
	if got := Trim(HTMLText(in)); got != "Merci !\nÀ samedi." {
		t.Errorf("gmail html: %q", got)
	}
	owa := `<div>Réponse.</div><div id="appendonsend"></div><hr><div id="divRplyFwdMsg"><b>De :</b> X</div><div>ancien</div>`
	if got := Trim(HTMLText(owa)); got != "Réponse." {
		t.Errorf("owa html: %q", got)
	}
}

func TestSubjects(t *testing.T) {
	for in, want := range map[string]string{
		"RE : [#12] Demande reçue : Salle": "Demande reçue : Salle",
		"TR: Fwd: AW: SV: question":        "question",
		"Re: Re:  RE :  vu":                "vu",
		"Réunion":                          "Réunion",
	} {
		if got := CleanSubject(in); got != want {
			t.Errorf("CleanSubject(%q) = %q, want %q", in, got, want)
		}
	}
	if n, ok := SubjectNumber("RE : [#12] x"); !ok || n != 12 {
		t.Errorf("SubjectNumber: %d %v", n, ok)
	}
	if _, ok := SubjectNumber("12 x #12"); ok {
		t.Errorf("a bare #12 is not a ticket number")
	}
}

func TestCommands(t *testing.T) {
	cmds, rest := Commands("#assigner paul@\n#fermer\n#fermé\nLa réponse.\n#pas une commande")
	if len(cmds) != 3 || cmds[0].Name != "assign" || cmds[0].Arg != "paul@" || cmds[1].Name != "close" || cmds[2].Name != "" {
		t.Fatalf("commands: %+v", cmds)
	}
	if rest != "La réponse.\n#pas une commande" {
		t.Errorf("rest %q", rest)
	}
	if cmds, rest := Commands("#12 est le bon numéro"); len(cmds) != 0 || rest != "#12 est le bon numéro" {
		t.Errorf("#12 taken as a command: %+v", cmds)
	}
	q := Queue{Operators: []string{"paul@ops.example", "paula@ops.example"}}
	if who, err := assignee(q, "paul@", "x@y"); err != nil || who != "paul@ops.example" {
		t.Errorf("assign paul@: %q %v", who, err)
	}
	if who, _ := assignee(q, "moi", "paula@ops.example"); who != "paula@ops.example" {
		t.Errorf("assign moi: %q", who)
	}
	if _, err := assignee(q, "inconnu@", "x@y"); err == nil {
		t.Errorf("unknown operator assigned")
	}
}

func TestKeys(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	k := ReplyKey{Ticket: 123456, Person: 7, Role: Operator, Expires: keyEpoch.AddDate(2, 0, 0)}
	s := k.Seal(secret, "Nadia@ops.example")
	if s != strings.ToLower(s) || len(s) > 40 {
		t.Fatalf("key %q: not lower case or too long for a local part", s)
	}
	got, raw, ok := OpenKey(s)
	if !ok || got != k || !Check(secret, raw, "nadia@ops.example") {
		t.Fatalf("round trip: %+v %v", got, ok)
	}
	if Check(secret, raw, "paul@ops.example") || Check([]byte("other"), raw, "nadia@ops.example") {
		t.Fatal("key accepted for another person or secret")
	}
	// Any one character changed breaks it.
	for i := range s {
		b := []byte(s)
		b[i] = "ab"[0] + (b[i]-'a'+1)%26
		if b[i] == s[i] {
			continue
		}
		if _, raw, ok := OpenKey(string(b)); ok && Check(secret, raw, "nadia@ops.example") {
			t.Fatalf("altered key %q accepted", b)
		}
	}
	if id, ok := MessageIDKey("<"+s+".00ff00ff00ff@mx.hub.example>", "mx.hub.example"); !ok || id != s {
		t.Errorf("MessageIDKey: %q %v", id, ok)
	}
	if _, ok := MessageIDKey("<"+s+".00ff@elsewhere.example>", "mx.hub.example"); ok {
		t.Errorf("a foreign Message-ID read as ours")
	}
}
