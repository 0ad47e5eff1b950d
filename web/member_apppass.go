package web

import (
	"net/http"
	"strings"
)

// memberAppPassword makes an app password for the archives over IMAP and
// shows it on the member's page, this once (it is never in a URL). Only a
// session opened by a link asked for may: a password outlives the session
// and reads every archive of the member, and a footer's link travels with
// every copy someone forwards.
func (s *Server) memberAppPassword(w http.ResponseWriter, r *http.Request) {
	sess := s.signedIn(w, r)
	if sess == nil || !s.checkCSRF(w, r) {
		return
	}
	if !sess.Strong {
		s.page(w, r, http.StatusForbidden, "web/error", errorPage{Reason: "strong-write"})
		return
	}
	name := strings.TrimSpace(bounded(r.PostForm.Get("name"), 200))
	if name == "" {
		name = "IMAP"
	}
	pw, err := s.members.NewAppPassword(r.Context(), sess.Email, name)
	if err != nil {
		s.fail(w, r, "app password", err)
		return
	}
	p, err := s.members.Page(r.Context(), sess.Email)
	if err != nil {
		s.fail(w, r, "member page", err)
		return
	}
	s.page(w, r, http.StatusOK, "web/member", memberPageData{MemberPage: p, Strong: sess.Strong, NewPassword: pw})
}

// memberRevoke deletes one of the member's app passwords.
func (s *Server) memberRevoke(w http.ResponseWriter, r *http.Request) {
	sess := s.signedIn(w, r)
	if sess == nil || !s.checkCSRF(w, r) {
		return
	}
	id, ok := formID(r)
	if !ok {
		s.page(w, r, http.StatusBadRequest, "web/error", errorPage{Reason: "badrequest"})
		return
	}
	if err := s.members.RevokeAppPassword(r.Context(), sess.Email, id); err != nil {
		s.fail(w, r, "revoke an app password", err)
		return
	}
	http.Redirect(w, r, "/me?done=revoked#imap", http.StatusSeeOther)
}
