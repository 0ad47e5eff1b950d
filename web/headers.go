package web

import (
	"bytes"
	_ "embed"
	"net/http"
	"strings"
)

// csp is the Content-Security-Policy of every answer: nothing runs,
// nothing loads from elsewhere, forms post only here, and no other site
// frames a page (the embeddable agenda of a group says otherwise).
const csp = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// cspEmbed is the policy of a group's embeddable agenda: any site may frame
// it; its links open outside the frame.
const cspEmbed = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors *"

// secure sets what every answer says about itself: its security policy,
// no referrer (the links of a member's page name nobody, and their
// addresses bar must not leak either), no framing, no sniffing.
func (s *Server) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if s.cfg.Secure {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// view is what the layout of every page gets: the page's own data in
// Data.
type view struct {
	Lang   string
	CSRF   string // the token of the page's forms
	Signed bool
	Email  string // who is signed in
	Path   string // of this page, for the language switch
	Embed  bool
	Data   any
}

// page renders web page name (templates' web/NAME) with the layout, in the
// request's language, with status code. Pages are personal or change: not
// cached.
func (s *Server) page(w http.ResponseWriter, r *http.Request, code int, name string, data any) {
	lang := language(r)
	t, err := s.pages.Page(lang, name)
	if err != nil {
		s.log.Error("page", "page", name, "err", err)
		status(w, http.StatusInternalServerError)
		return
	}
	v := view{Lang: lang, CSRF: s.csrf(w, r), Path: "/", Data: data}
	if code < 400 {
		v.Path = r.URL.Path // the language switch comes back here; an error page echoes nothing
	}
	if sess := session(r); sess != nil {
		v.Signed, v.Email = true, sess.Email
	}
	var b bytes.Buffer
	if err := t.Execute(&b, v); err != nil {
		s.log.Error("page", "page", name, "err", err)
		status(w, http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	h.Set("Content-Language", lang)
	h.Add("Vary", "Accept-Language, Cookie")
	w.WriteHeader(code)
	w.Write(b.Bytes())
}

// errorPage says what went wrong: Reason names the sentence of the
// template (csrf, link, notfound, badrequest, internal).
type errorPage struct{ Reason string }

// fail answers an internal failure: logged, and a page that says only that.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.log.Error("web: "+what, "err", err)
	s.page(w, r, http.StatusInternalServerError, "web/error", errorPage{Reason: "internal"})
}

//go:embed static/relais.css
var stylesheetCSS []byte

// stylesheet is the pages' only style: served from here, cached a day.
func (s *Server) stylesheet(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Write(stylesheetCSS)
}

// home is the front page: the agenda, and the way in.
func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	if strings.Contains(r.Header.Get("Accept"), "text/html") || r.Header.Get("Accept") == "" {
		s.page(w, r, http.StatusOK, "web/home", nil)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("relais\n"))
}
