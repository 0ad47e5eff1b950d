package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// eventPageData is a public event's page.
type eventPageData struct {
	Event EventRow
	State string // "", asked (a confirmation was mailed), done, invalid, confirm
}

// eventPage is one public event: when, where (with a map), who organises
// it, "add to my calendar", and "je participe" for anyone.
func (s *Server) eventPage(w http.ResponseWriter, r *http.Request, uid string) {
	e, err := s.agenda.Event(r.Context(), uid, language(r))
	if s.agendaError(w, r, err) {
		return
	}
	state := ""
	if d := r.URL.Query().Get("done"); d == "asked" || d == "done" {
		state = d
	}
	w.Header().Set("Cache-Control", "no-cache")
	s.page(w, r, http.StatusOK, "web/event", eventPageData{Event: e, State: state})
}

// eventAttend: "je participe". A signed-in member is recorded at once
// (their address is proven); anyone else leaves an address, which gets a
// link to confirm. The page says the same whatever the address.
func (s *Server) eventAttend(w http.ResponseWriter, r *http.Request) {
	if !s.checkCSRF(w, r) {
		return
	}
	uid, _ := strings.CutSuffix(r.PathValue("file"), ".html")
	if _, err := s.agenda.Event(r.Context(), uid, language(r)); s.agendaError(w, r, err) {
		return
	}
	done := "asked"
	if sess := session(r); sess != nil {
		if err := s.agenda.AttendNow(r.Context(), uid, sess.Email, language(r)); err != nil {
			s.fail(w, r, "attend", err)
			return
		}
		done = "done"
	} else if email := strings.TrimSpace(r.PostForm.Get("email")); email != "" {
		if err := s.agenda.RequestAttend(r.Context(), uid, email, language(r), clientKey(s.client(r))); err != nil {
			s.fail(w, r, "attend request", err)
			return
		}
	}
	http.Redirect(w, r, "/agenda/event/"+url.PathEscape(uid)+"?done="+done, http.StatusSeeOther)
}

// attendConfirm is the link of the confirmation mail: a GET shows the
// event and a button, a POST records the attendance.
func (s *Server) attendConfirm(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	var e EventRow
	var err error
	state := "confirm"
	if r.Method == http.MethodPost {
		if !s.checkCSRF(w, r) {
			return
		}
		e, err = s.agenda.ConfirmAttend(r.Context(), tok, language(r))
		state = "done"
	} else {
		e, err = s.agenda.PeekAttend(r.Context(), tok, language(r))
	}
	if errors.Is(err, ErrBadToken) {
		s.page(w, r, http.StatusNotFound, "web/event", eventPageData{State: "invalid"})
		return
	} else if err != nil {
		s.fail(w, r, "attend confirmation", err)
		return
	}
	s.page(w, r, http.StatusOK, "web/event", eventPageData{Event: e, State: state})
}
