package web

import (
	"context"
	"errors"
	"net/http"
)

// AgendaLinks are the links of the weekly agenda's mail. Each returns
// ErrBadToken for a link the hub did not make.
type AgendaLinks interface {
	// Stop ends the weekly digest of the member a stop link names (when
	// really), and says who it is.
	Stop(ctx context.Context, token string, really bool) (Link, error)
	// Start confirms an address for the weekly digest (when really).
	Start(ctx context.Context, token string, really bool) (Link, error)
	// Attend reads a "je participe" link and, when really, records the
	// attendance; the Link names the event too.
	Attend(ctx context.Context, token string, really bool) (Link, error)
}

// Link is what an agenda link names: a member, and an event for some.
type Link struct {
	Email, Lang string
	Title, When string // the event of an attend link
}

// stop is the one-click link of the weekly digest (RFC 8058): a GET shows
// a button, a POST stops the digest at once.
func (s *Server) stop(w http.ResponseWriter, r *http.Request) {
	s.agendaPage(w, r, "agenda-stop", s.links.Stop)
}

// start is the link that confirms an address for the weekly digest: a GET
// shows a button, a POST starts it.
func (s *Server) start(w http.ResponseWriter, r *http.Request) {
	s.agendaPage(w, r, "agenda-start", s.links.Start)
}

// attend is the "je participe" link of an event in the digest: a GET shows
// the event and a button (link scanners only GET), a POST records it.
func (s *Server) attend(w http.ResponseWriter, r *http.Request) {
	s.agendaPage(w, r, "agenda-attend", s.links.Attend)
}

// agendaPage serves a link of the agenda: a GET shows what it would do and
// a button, a POST does it.
func (s *Server) agendaPage(w http.ResponseWriter, r *http.Request, page string, act func(context.Context, string, bool) (Link, error)) {
	post := r.Method == http.MethodPost
	if post {
		r.Body = http.MaxBytesReader(w, r.Body, 4096)
		r.ParseForm()
	}
	l, err := act(r.Context(), r.PathValue("token"), post)
	state, code := "confirm", http.StatusOK
	switch {
	case errors.Is(err, ErrBadToken):
		state, code = "invalid", http.StatusNotFound
	case err != nil:
		s.log.Error(page, "err", err)
		state, code = "error", http.StatusInternalServerError
	case post:
		state = "done"
	}
	if l.Lang == "" {
		l.Lang = "fr"
	}
	s.render(w, l.Lang, page, code, map[string]string{"Email": l.Email, "Title": l.Title, "When": l.When, "State": state})
}
