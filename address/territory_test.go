package address

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// The table must hold what the law says: 107 départements and collectivities
// (101 départements with 2A/2B, 9 overseas collectivities, the French abroad)
// sharing 577 circonscriptions.
func TestTableTotals(t *testing.T) {
	deps := Departements()
	if len(deps) != 107 {
		t.Fatalf("got %d départements, want 107", len(deps))
	}
	total := 0
	for _, d := range deps {
		total += d.Circonscriptions
	}
	if total != 577 {
		t.Fatalf("got %d circonscriptions, want 577", total)
	}
	for code, want := range map[string]int{"44": 10, "59": 21, "99": 11, "2A": 2, "974": 7, "75": 18, "975": 1} {
		d, ok := LookupDepartement(code)
		if !ok || d.Circonscriptions != want {
			t.Errorf("%s: got %+v, want %d circonscriptions", code, d, want)
		}
	}
}

func TestEveryValidCodeAccepted(t *testing.T) {
	n := 0
	for _, d := range Departements() {
		c, err := ParseCode(d.Code)
		if err != nil {
			t.Fatalf("département %s refused: %v", d.Code, err)
		}
		if c.Level != DepartementLvl || c.String() != d.Code {
			t.Errorf("%s parsed as %+v (%s)", d.Code, c, c)
		}
		for i := 1; i <= d.Circonscriptions; i++ {
			s := fmt.Sprintf("%s%02d", d.Code, i)
			for _, in := range []string{s, strings.ToLower(s)} {
				c, err := ParseCode(in)
				if err != nil {
					t.Fatalf("circonscription %s refused: %v", in, err)
				}
				if c.Level != Circonscription || c.Departement != d.Code || c.Circonscription != i || c.String() != s {
					t.Errorf("%s parsed as %+v (%s)", in, c, c)
				}
			}
			n++
		}
	}
	if n != 577 {
		t.Fatalf("checked %d circonscriptions, want 577", n)
	}
	if c, err := ParseCode("FR"); err != nil || c.Level != National || c.String() != "fr" {
		t.Fatalf("fr: %+v %v", c, err)
	}
}

func TestNearMissesRefusedWithReason(t *testing.T) {
	cases := []struct {
		in, reason string
		problem    CodeProblem
	}{
		{"4411", "Loire-Atlantique (44) has 10 circonscriptions, numbered 01 to 10; 11 does not exist", CodeNoCirconscription},
		{"4400", "00 does not exist", CodeNoCirconscription},
		{"2C01", "2C is not a département: Corsica is 2A or 2B", CodeCorsicaLetter},
		{"9912", "Français établis hors de France (99) has 11 circonscriptions", CodeNoCirconscription},
		{"20", "20 is no longer a département: Corsica is 2A (Corse-du-Sud) and 2B (Haute-Corse)", CodeCorsica20},
		{"2001", "20 is no longer a département", CodeCorsica20},
		{"4405x", "a territory code is fr, a département", CodeSyntax},
		{"9741", "97 is not a département: overseas départements and collectivities have three digits", CodeOverseasTwoDigits},
		{"97408", "La Réunion (974) has 7 circonscriptions", CodeNoCirconscription},
		{"96", "96 is not a département", CodeNoDepartement},
		{"978", "978 is not a département", CodeNoDepartement},
		{"00", "00 is not a département", CodeNoDepartement},
		{"440501", "too long", CodeTooLong},
		{"", "empty code", CodeEmpty},
		{"4", "a département has two characters", CodeTooShort},
		{"2a03", "Corse-du-Sud (2A) has 2 circonscriptions", CodeNoCirconscription},
		{" 44", "a territory code is fr", CodeSyntax},
		{"44\r\n", "a territory code is fr", CodeSyntax},
		{"4405\r\n", "too long", CodeTooLong},
		{"4\r\n", "a territory code is fr", CodeSyntax},
	}
	for _, tc := range cases {
		c, err := ParseCode(tc.in)
		var ce *CodeError
		if !errors.As(err, &ce) {
			t.Errorf("%q: accepted as %v (err %v), want refusal", tc.in, c, err)
			continue
		}
		if !strings.Contains(ce.Reason, tc.reason) || ce.Problem != tc.problem {
			t.Errorf("%q: %s %q, want %s and a reason containing %q", tc.in, ce.Problem, ce.Reason, tc.problem, tc.reason)
		}
		if unknown := tc.problem != CodeSyntax && tc.problem != CodeTooLong && tc.problem != CodeEmpty && tc.problem != CodeTooShort; ce.Unknown() != unknown {
			t.Errorf("%q: Unknown() %v", tc.in, ce.Unknown())
		}
	}
	// The facts the templates need to say it.
	_, err := ParseCode("4411")
	if ce := err.(*CodeError); ce.Departement != "44" || ce.Name != "Loire-Atlantique" || ce.Count != 10 || ce.Number != "11" {
		t.Errorf("4411: %+v", ce)
	}
}

func TestContains(t *testing.T) {
	p := func(s string) Code {
		c, err := ParseCode(s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cases := []struct {
		a, b string
		want bool
	}{
		{"fr", "4405", true}, {"fr", "44", true}, {"44", "4405", true}, {"44", "44", true},
		{"44", "4505", false}, {"4405", "4405", true}, {"4405", "4406", false}, {"4405", "44", false},
		{"44", "fr", false}, {"2A", "2A01", true}, {"2A", "2B01", false}, {"974", "97402", true},
	}
	for _, tc := range cases {
		if got := p(tc.a).Contains(p(tc.b)); got != tc.want {
			t.Errorf("%s contains %s: got %v", tc.a, tc.b, got)
		}
	}
}
