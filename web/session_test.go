package web

import "testing"

func TestAcceptLanguage(t *testing.T) {
	for h, want := range map[string]string{
		"":                        "fr",
		"en-US,en;q=0.9":          "en",
		"fr-FR,fr;q=0.9,en;q=0.8": "fr",
		"de-DE,en;q=0.5,fr;q=0.7": "fr",
		"de-DE,en;q=0.7,fr;q=0.5": "en",
		"es":                      "fr",
		"EN":                      "en",
		"en;q=nonsense, fr;q=0.1": "en",
		"*":                       "fr",
	} {
		if got := acceptLanguage(h); got != want {
			t.Errorf("%q: %s, want %s", h, got, want)
		}
	}
}

// A form's "back" field can only send the browser somewhere on this site.
func TestBackStaysHere(t *testing.T) {
	for in, want := range map[string]string{
		"/agenda":               "/agenda",
		"/agenda/event/x":       "/agenda/event/x",
		"//evil.example/":       "/",
		"https://evil.example/": "/",
		"/\\evil.example":       "/",
		"/a\r\nSet-Cookie: x=y": "/",
		"":                      "/",
		"javascript:alert(1)":   "/",
	} {
		if got := back(in); got != want {
			t.Errorf("back(%q) = %q, want %q", in, got, want)
		}
	}
}
