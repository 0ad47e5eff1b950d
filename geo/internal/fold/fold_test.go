package fold

import "testing"

func TestKey(t *testing.T) {
	for in, want := range map[string]string{
		"Saint-Nazaire":            "saintnazaire",
		"ST NAZAIRE":               "saintnazaire",
		"  saint   nazaire ":       "saintnazaire",
		"Ste-Foy-lès-Lyon":         "saintefoyleslyon",
		"L'Haÿ-les-Roses":          "lhaylesroses",
		"Œuilly":                   "oeuilly",
		"Faa'a":                    "faaa",
		"Saint-E\u0301tienne":      "saintetienne", // decomposed accent
		"Paris 11e Arrondissement": "paris11earrondissement",
		"Stains":                   "stains", // st only as a whole word
		"":                         "",
	} {
		if got := Key(in); got != want {
			t.Errorf("Key(%q) = %q, want %q", in, got, want)
		}
	}
}
