package address

import (
	"errors"
	"testing"
)

var domains = []string{"hub.example", "autre.example"}

func TestParse(t *testing.T) {
	cases := []struct {
		in                string
		kind              Kind
		base, detail, str string
	}{
		{"4405.nantes-sud@hub.example", Group, "4405.nantes-sud@hub.example", "", "4405.nantes-sud@hub.example"},
		{"4405.Nantes-Sud@HUB.example", Group, "4405.nantes-sud@hub.example", "", "4405.nantes-sud@hub.example"},
		{"4405.nantes-sud+Subscribe@hub.example", Group, "4405.nantes-sud@hub.example", "subscribe", "4405.nantes-sud+subscribe@hub.example"},
		{"2a01.ajaccio+agenda@autre.example", Group, "2a01.ajaccio@autre.example", "agenda", "2a01.ajaccio+agenda@autre.example"},
		{"fr.jeunes@hub.example", Group, "fr.jeunes@hub.example", "", "fr.jeunes@hub.example"},
		{"44.groupes@hub.example", Territory, "44.groupes@hub.example", "", "44.groupes@hub.example"},
		{"bounces+12-abcd@hub.example", Bounce, "bounces@hub.example", "12-abcd", "bounces+12-abcd@hub.example"},
		{"Postmaster@hub.example", Role, "postmaster@hub.example", "", "postmaster@hub.example"},
		{"abuse@hub.example", Role, "abuse@hub.example", "", "abuse@hub.example"},
		{"support+k1x@hub.example", Service, "support@hub.example", "k1x", "support+k1x@hub.example"},
		{"4405.nantes-sud@hub.example.", Group, "4405.nantes-sud@hub.example", "", "4405.nantes-sud@hub.example"},
	}
	for _, tc := range cases {
		a, err := Parse(tc.in, domains)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if a.Kind != tc.kind || a.Base() != tc.base || a.Detail != tc.detail || a.String() != tc.str {
			t.Errorf("%s: got kind %v base %s detail %q string %s", tc.in, a.Kind, a.Base(), a.Detail, a)
		}
	}
}

func TestParseRefusals(t *testing.T) {
	if _, err := Parse("4405.nantes-sud@gmail.com", domains); !errors.Is(err, ErrNotOurDomain) {
		t.Errorf("other domain: %v", err)
	}
	if _, err := Parse("4405.nantes-sud@hub.example.org", domains); !errors.Is(err, ErrNotOurDomain) {
		t.Errorf("suffix domain: %v", err)
	}
	for _, in := range []string{"@hub.example", "4405.@hub.example", "4405.nantes_sud@hub.example", "bounces@hub.example",
		"+x@hub.example", "4405.nom-beaucoup-trop-long-pour-une-adresse-de-groupe@hub.example", "sup port@hub.example", "nodomain"} {
		if a, err := Parse(in, domains); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: got %+v, %v; want ErrMalformed", in, a, err)
		}
	}
	var ce *CodeError
	if _, err := Parse("4411.nantes@hub.example", domains); !errors.As(err, &ce) {
		t.Errorf("4411: %v, want a CodeError", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"4405.nantes-sud+x@hub.example", "2A01.a@hub.example", "bounces+1-a@hub.example", "fr.x@HUB.EXAMPLE", "@", "a@b@hub.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s, domains)
		if err != nil {
			return
		}
		// What Parse accepts, it accepts again in canonical form, identically.
		b, err := Parse(a.String(), domains)
		if err != nil || b != a {
			t.Fatalf("%q -> %q -> %+v, %v", s, a.String(), b, err)
		}
	})
}
