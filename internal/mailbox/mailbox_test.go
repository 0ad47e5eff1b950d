package mailbox

import (
	"errors"
	"strings"
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
		// Review of issue 12: what members' clients write, and what IDNA
		// maps onto another domain.
		{"\xff <a@exemple.fr>", false, "a@exemple.fr"},                          // windows-1252, as clients show it
		{"J\xe9r\xf4me Dupont <a@exemple.fr>", true, "a@exemple.fr"},            // an old client's Latin-1
		{"J\xe9r\xf4me <j\xe9r\xf4me@exemple.fr>", true, ""},                    // 8-bit address: not UTF-8, not SMTPUTF8
		{"=?windows-1252?Q?J=E9r=F4me?= <a@exemple.fr>", false, "a@exemple.fr"}, // Outlook
		{"=?iso-8859-15?Q?J=E9r=F4me_=A4?= <a@exemple.fr>", false, "a@exemple.fr"},
		{"=?koi8-r?B?8NLJ18XU?= <a@exemple.fr>", false, "a@exemple.fr"},
		{"a@EXÉMPLE.fr", true, "a@EXÉMPLE.fr"},
		{"support@ｈｕｂ.example", true, ""},                  // fullwidth letters: hub.example to IDNA
		{"support@hu\u00adb.example", true, ""},            // soft hyphen, invisible
		{"support@h\u200bub.example", true, ""},            // zero-width space
		{"support@hu\ufeffb.example", true, ""},            // byte order mark
		{"support@hub\u3002example", true, ""},             // ideographic full stop
		{"support@ℌub.example", true, ""},                  // black-letter capital H
		{"a@exe\u0301mple.fr", true, "a@exe\u0301mple.fr"}, // decomposed (macOS): the same domain to IDNA
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

// TestShown: what a lax reader shows of a From, where the hub looks for
// its own address.
func TestShown(t *testing.T) {
	for in, want := range map[string]string{
		"=?utf-8?Q?support=40hub.example?= <a@evil.example> (=?x-unknown?Q?x?=)":                 "support@hub.example",
		"=?utf-8?B?c3VwcG9ydEBodWIuZXhhbXBsZQ?= <a@evil.example>":                                "support@hub.example", // no padding
		`"=?utf-8*fr?Q?support=40hub.example?=" <a@evil.example>`:                                "support@hub.example", // RFC 2231 language
		`"=?windows-1252?Q?support=40hub.example?=" <a@evil.example>`:                            "support@hub.example",
		`"=?utf-16be?B?AHMAdQBwAHAAbwByAHQAQABoAHUAYgAuAGUAeABhAG0AcABsAGU=?=" <a@evil.example>`: "support@hub.example",
		"SUPPORT\uff20ＨＵＢ.example <a@evil.example>":                                              "support@hub.example",
		"support@hu\u00adb\u3002example <a@evil.example>":                                        "support@hub.example",
		"\"\u202eelpmaxe.buh@troppus\" <a@evil.example>":                                         "support@hub.example", // right-to-left override
	} {
		if got := Shown(in); !strings.Contains(got, want) {
			t.Errorf("%q shown as %q, without %q", in, got, want)
		}
	}
	if got := Shown("=?iso-8859-1?Q?J=E9r=F4me?= <j@exemple.fr>"); !strings.Contains(got, "jérôme") {
		t.Errorf("shown as %q", got)
	}
}
