package events

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestParseTheme(t *testing.T) {
	for in, want := range map[string]string{
		"Climat": "climat", "#logement": "logement", " Énergie solaire ": "énergie solaire", "droits de l'homme": "droits de l'homme",
		"e\u0301cologie": "écologie", "santé & soins": "santé & soins", strings.Repeat("é", 40): strings.Repeat("é", 40),
	} {
		if got, err := ParseTheme(in); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "#", "a\r\nb", "a\x00b", "a/b", "a,b", "a;b", "\xff", strings.Repeat("é", 41), strings.Repeat("a", 100<<10)} {
		if got, err := ParseTheme(bad); !errors.Is(err, ErrBadTheme) {
			t.Errorf("%.40q accepted as %q", bad, got)
		}
	}
	// An event keeps only themes that can name a feed.
	e := Event{Title: "x", Start: time.Now(), Themes: []string{"Climat", "climat", "a\r\nb", "#Logement"}}
	if err := e.Check(); err != nil || strings.Join(e.Themes, ",") != "climat,logement" {
		t.Errorf("themes kept: %q %v", e.Themes, err)
	}
}

func TestUIDs(t *testing.T) {
	a, b := NewUID("mx.hub.example"), NewUID("mx.hub.example")
	if a == b || !regexp.MustCompile(`^[0-9a-f]{32}@mx\.hub\.example$`).MatchString(a) {
		t.Errorf("NewUID: %q %q", a, b)
	}
	for uid, ok := range map[string]bool{a: true, "040000008200E00074C5B7101A82E008": true, "": false, "a\r\nb": false,
		"\xff": false, strings.Repeat("a", MaxUIDLen): true, strings.Repeat("a", MaxUIDLen+1): false} {
		if ValidUID(uid) != ok {
			t.Errorf("ValidUID(%.40q) = %v", uid, !ok)
		}
	}
}

// The refusals of a form are codes with the person's words, bounded.
func TestFormProblems(t *testing.T) {
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	for text, want := range map[string]Problem{
		"Titre : x\nDate : 31/02/2027 14h30":            {Code: ProblemDateNonexistent, Value: "31/02/2027 14h30"},
		"Titre : x\nDate : bientôt":                     {Code: ProblemDateUnreadable, Value: "bientôt"},
		"Titre : x\nDate : 12/12/2026\nDurée : ?":       {Code: ProblemDurationUnreadable, Value: "?"},
		"Titre : x\nDate : 12/12/2026 14h\nFin : 10h":   {Code: ProblemEndsBeforeStart},
		"Titre : x\nFin : 10h":                          {Code: ProblemNoStart},
		"Date : 12/12/2026 14h":                         {Code: ProblemNoTitle},
		"Bonjour":                                       {Code: ProblemNoEvent},
		"Titre : x\nDate : " + strings.Repeat("x", 200): {Code: ProblemDateUnreadable, Value: strings.Repeat("x", 80) + "…"},
	} {
		_, err := ParseForm(text, now, "")
		var p *Problem
		if !errors.As(err, &p) || p.Code != want.Code || p.Value != want.Value {
			t.Errorf("%.40q: %v, want %s %q", text, err, want.Code, want.Value)
		}
	}
	if _, err := ParseForm("Titre : x\nFin : 10h", now, ""); !errors.Is(err, ErrNoStart) {
		t.Errorf("errors.Is(ErrNoStart): %v", err)
	}
	if _, err := ParseForm("Titre : x\nDate : bientôt", now, ""); errors.Is(err, ErrNoStart) {
		t.Error("a date problem is ErrNoStart")
	}
}
