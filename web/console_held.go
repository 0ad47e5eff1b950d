package web

import (
	"errors"
	"net/http"
	"strconv"
)

// consoleListPage is a list's page with the notice of the last action.
type consoleListPage struct {
	ConsoleList
	Done string
}

// consoleList is a list's page: posts waiting, the last decided, and for
// owners the list's activity and its rules for senders.
func (s *Server) consoleList(w http.ResponseWriter, r *http.Request) {
	who, ok := s.consoleWho(w, r, false)
	if !ok {
		return
	}
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	l, err := s.console.List(r.Context(), who, id, language(r))
	if s.consoleErr(w, r, err) {
		return
	}
	s.page(w, r, http.StatusOK, "web/console-list", consoleListPage{ConsoleList: l, Done: doneWord(r)})
}

// consoleHeldPage is a held post's page.
type consoleHeldPage struct {
	HeldView
	Done    string
	Problem string
}

// consoleHeld shows one held post, read safely, with the decisions.
func (s *Server) consoleHeld(w http.ResponseWriter, r *http.Request) {
	who, ok := s.consoleWho(w, r, false)
	if !ok {
		return
	}
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	v, err := s.console.Held(r.Context(), who, id, language(r))
	if s.consoleErr(w, r, err) {
		return
	}
	s.page(w, r, http.StatusOK, "web/console-held", consoleHeldPage{HeldView: v, Done: doneWord(r)})
}

// consoleDecide approves or rejects a held post (and may accept or ban
// its sender from now on).
func (s *Server) consoleDecide(w http.ResponseWriter, r *http.Request) {
	who, ok := s.consoleWho(w, r, true)
	if !ok {
		return
	}
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	action := r.PostForm.Get("action")
	switch action {
	case "approve", "reject", "accept", "ban":
	default:
		s.page(w, r, http.StatusBadRequest, "web/error", errorPage{Reason: "badrequest"})
		return
	}
	err := s.console.Decide(r.Context(), who, id, action, r.PostForm.Get("reason"), s.client(r).String())
	if errors.Is(err, ErrDecided) {
		v, verr := s.console.Held(r.Context(), who, id, language(r))
		if s.consoleErr(w, r, verr) {
			return
		}
		s.page(w, r, http.StatusConflict, "web/console-held", consoleHeldPage{HeldView: v, Problem: "decided"})
		return
	}
	if s.consoleErr(w, r, err) {
		return
	}
	done := map[string]string{"approve": "approved", "reject": "rejected", "accept": "accepted", "ban": "banned"}[action]
	http.Redirect(w, r, "/console/held/"+strconv.FormatInt(id, 10)+"?done="+done, http.StatusSeeOther)
}

// consoleSenders removes a list's rule for a sender.
func (s *Server) consoleSenders(w http.ResponseWriter, r *http.Request) {
	who, ok := s.consoleWho(w, r, true)
	if !ok {
		return
	}
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	err := s.console.SetSender(r.Context(), who, id, r.PostForm.Get("email"), "", s.client(r).String())
	var inv *Invalid
	if errors.As(err, &inv) {
		s.page(w, r, http.StatusBadRequest, "web/error", errorPage{Reason: "badrequest"})
		return
	}
	if s.consoleErr(w, r, err) {
		return
	}
	http.Redirect(w, r, "/console/lists/"+strconv.FormatInt(id, 10)+"?done=sender#senders", http.StatusSeeOther)
}
