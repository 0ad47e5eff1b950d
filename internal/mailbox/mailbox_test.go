package mailbox

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		utf8 bool
		want string // the address, "" when refused
	}{
		{"Camille <camille@exemple.fr>", false, "camille@exemple.fr"},
		{`"Dupont, Camille" <camille@exemple.fr>`, false, "camille@exemple.fr"},
		{"camille@exemple.fr (Camille)", false, "camille@exemple.fr"},
		{"=?utf-8?q?Am=C3=A9lie?= <a@exemple.fr>", false, "a@exemple.fr"},
		{"Amélie <a@exemple.fr>", false, "a@exemple.fr"}, // 8-bit display name: lax, as mail clients write it
		{"Camille\r\n <camille@exemple.fr>", false, "camille@exemple.fr"},
		{"amélie@exemple.fr", true, "amélie@exemple.fr"},
		{"a@exémple.fr", true, "a@exémple.fr"},
		{"amélie@exemple.fr", false, ""},
		{"a@exémple.fr", false, ""},
		{"support@HUB.EXAMPLE.", false, ""},
		{"support@hub.example;", false, ""},
		{"<support@hub.example", false, ""},
		{"Support <support@hub.example>>", false, ""},
		{"supp\x00ort@hub.example", false, ""},
		{"support@hub.example\x00@evil.example", false, ""},
		{"Support\x01 <support@evil.example>", false, ""},
		{"=?utf-8?q?support=40hub=2Eexample?=", false, ""},
		{"support@hub.example, attacker@evil.example", false, ""},
		{"support@hub.example attacker@evil.example", false, ""},
		{"Support <support@hub.example> <attacker@evil.example>", false, ""},
		{"Group: support@hub.example;", false, ""},
		{"<@route.example:support@hub.example>", false, ""},
		{"support@hub..example", false, ""},
		{"support@[127.0.0.1]", false, ""},
		{"support@hub.example?=", false, ""},
		{"support@-hub.example", false, ""},
		{"support@localhost", false, ""},
		{"@hub.example", false, ""},
		{"", false, ""},
		{"\xff <a@exemple.fr>", false, ""},
	} {
		a, err := Parse(c.in, c.utf8)
		switch {
		case c.want == "" && err == nil:
			t.Errorf("%q accepted as %q", c.in, a.Address)
		case c.want == "" && !errors.Is(err, ErrMalformed):
			t.Errorf("%q: %v, not ErrMalformed", c.in, err)
		case c.want != "" && err != nil:
			t.Errorf("%q refused: %v", c.in, err)
		case c.want != "" && a.Address != c.want:
			t.Errorf("%q read as %q, want %q", c.in, a.Address, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("Camille <camille@exemple.fr>")
	f.Add("Group: a@b.example;")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s, true)
		if err != nil {
			return
		}
		// What is accepted reads back the same from its own rendering.
		b, err := Parse(a.String(), true)
		if err != nil || b.Address != a.Address {
			t.Fatalf("%q → %q → %v %v", s, a.String(), b, err)
		}
	})
}
