package web

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Browsers drop tabs and line breaks from a URL before reading it (URL
// Standard, "remove all ASCII tab or newline"): a "back" of "/\t/evil"
// is "//evil" to them, another site. back lets it through, and
// http.Redirect, which cannot parse it, writes it as it is.
func TestReview2BackRefusesTabs(t *testing.T) {
	for _, in := range []string{"/\t/evil.example/", "/\x0b/evil.example/", "/\x00x", "/\x7f"} {
		if got := back(in); got != "/" {
			t.Errorf("back(%q) = %q", in, got)
		}
		w := httptest.NewRecorder()
		http.Redirect(w, httptest.NewRequest("POST", "/lang", nil), back(in), http.StatusSeeOther)
		if loc := w.Header().Get("Location"); loc != "/" {
			t.Errorf("back(%q) redirects to %q", in, loc)
		}
	}
}
