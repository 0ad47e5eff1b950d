package web

import (
	"errors"
	"net/http"
)

// memberList changes one of the member's subscriptions: a mode, a pause
// (until a date), its end, or leaving. The lists make the change by the
// rules of their mail commands.
func (s *Server) memberList(w http.ResponseWriter, r *http.Request) {
	sess := s.signedIn(w, r)
	if sess == nil || !s.checkCSRF(w, r) {
		return
	}
	id, ok := formID(r)
	action := r.PostForm.Get("action")
	switch action {
	case "each", "daily", "weekly", "pause", "resume", "leave":
	default:
		ok = false
	}
	if !ok {
		s.page(w, r, http.StatusBadRequest, "web/error", errorPage{Reason: "badrequest"})
		return
	}
	out, err := s.members.ChangeList(r.Context(), sess.Email, id, action, r.PostForm.Get("until"), s.client(r).String())
	if err != nil {
		s.fail(w, r, "change a subscription", err)
		return
	}
	if out == "bad-date" {
		s.showMember(w, r, sess, http.StatusUnprocessableEntity, out, AgendaOutcome{})
		return
	}
	http.Redirect(w, r, "/me?done="+out+"#lists", http.StatusSeeOther)
}

// memberJoin subscribes the member to a list at once: their address is
// proven by the link that signed them in.
func (s *Server) memberJoin(w http.ResponseWriter, r *http.Request) {
	sess := s.signedIn(w, r)
	if sess == nil || !s.checkCSRF(w, r) {
		return
	}
	id, ok := formID(r)
	if !ok {
		s.page(w, r, http.StatusBadRequest, "web/error", errorPage{Reason: "badrequest"})
		return
	}
	out, err := s.members.Join(r.Context(), sess.Email, language(r), id, s.client(r).String())
	if errors.Is(err, ErrNoFeed) {
		s.page(w, r, http.StatusNotFound, "web/error", errorPage{Reason: "notfound"})
		return
	} else if err != nil {
		s.fail(w, r, "join a list", err)
		return
	}
	http.Redirect(w, r, "/me?done="+out+"#lists", http.StatusSeeOther)
}
