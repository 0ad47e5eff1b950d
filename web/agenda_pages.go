package web

import (
	"errors"
	"net/http"
)

// agendaSearch is the public agenda: events near a postal code or a
// commune within a radius, of a theme, in date order. A search changes
// nothing, so it is a GET, and its URL can be shared.
func (s *Server) agendaSearch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	aq := AgendaQuery{Place: bounded(q.Get("place"), 100), Radius: bounded(q.Get("radius"), 5), Theme: bounded(q.Get("theme"), 40)}
	p, err := s.agenda.Search(r.Context(), aq, language(r))
	if err != nil {
		s.fail(w, r, "agenda search", err)
		return
	}
	code := http.StatusOK
	if p.Problem != "" {
		code = http.StatusUnprocessableEntity
	}
	w.Header().Set("Cache-Control", "no-cache")
	s.page(w, r, code, "web/agenda", p)
}

// listing is the page of a feed: a group's, a territory's, a theme's
// events, or one event.
func (s *Server) listing(w http.ResponseWriter, r *http.Request, kind, key string) {
	if kind == "event" {
		s.eventPage(w, r, key)
		return
	}
	p, err := s.agenda.Listing(r.Context(), kind, key, language(r))
	if s.agendaError(w, r, err) {
		return
	}
	s.page(w, r, http.StatusOK, "web/agenda", p)
}

// embed is a group's agenda for its own website: the only page another
// site may frame. It holds no form and its links open outside the frame.
func (s *Server) embed(w http.ResponseWriter, r *http.Request) {
	p, err := s.agenda.Listing(r.Context(), "group", r.PathValue("file"), language(r))
	if s.agendaError(w, r, err) {
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", cspEmbed)
	h.Del("X-Frame-Options")
	h.Set("Cache-Control", "max-age=300")
	lang := language(r)
	t, err := s.pages.Page(lang, "web/embed")
	if err != nil {
		s.fail(w, r, "embed", err)
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", lang)
	if err := t.Execute(w, view{Lang: lang, Embed: true, Data: p}); err != nil {
		s.log.Error("page", "page", "embed", "err", err)
	}
}

// agendaError answers a name that cannot be a feed's (400) or names
// nothing public (404), as the feeds do; it says whether it answered.
func (s *Server) agendaError(w http.ResponseWriter, r *http.Request, err error) bool {
	switch {
	case err == nil:
		return false
	// As the feeds answer: the status line's reason phrase only, nothing
	// the client sent echoed.
	case errors.Is(err, ErrBadFeedName):
		status(w, http.StatusBadRequest)
	case errors.Is(err, ErrNoFeed):
		status(w, http.StatusNotFound)
	default:
		s.fail(w, r, "agenda", err)
	}
	return true
}

// bounded cuts what a client typed to n bytes before anything reads it.
func bounded(v string, n int) string {
	if len(v) > n {
		return v[:n]
	}
	return v
}
