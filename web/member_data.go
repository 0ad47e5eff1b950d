package web

import (
	"bytes"
	"errors"
	"net/http"
	"time"
)

// memberLink mails a sign-in link to the member's own address: a session
// opened by a footer's link may not download or erase, one opened by a
// link asked for may.
func (s *Server) memberLink(w http.ResponseWriter, r *http.Request) {
	sess := s.signedIn(w, r)
	if sess == nil || !s.checkCSRF(w, r) {
		return
	}
	if err := s.signin.Request(r.Context(), sess.Email, language(r), clientKey(s.client(r))); err != nil {
		s.fail(w, r, "mail a link", err)
		return
	}
	http.Redirect(w, r, "/me?done=link#data", http.StatusSeeOther)
}

// memberExport downloads everything the hub holds about the member, as
// `relais member export` writes it: a zip of the JSON document and their
// posts (mbox).
func (s *Server) memberExport(w http.ResponseWriter, r *http.Request) {
	sess := s.signedIn(w, r)
	if sess == nil || !s.checkCSRF(w, r) {
		return
	}
	if !sess.Strong {
		s.page(w, r, http.StatusForbidden, "web/error", errorPage{Reason: "strong"})
		return
	}
	var b bytes.Buffer
	if err := s.members.Export(r.Context(), sess.Email, &b); err != nil {
		s.fail(w, r, "export", err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/zip")
	h.Set("Content-Disposition", `attachment; filename="relais-`+time.Now().Format("2006-01-02")+`.zip"`)
	h.Set("Cache-Control", "no-store")
	w.Write(b.Bytes())
}

// erasePage is the erasure's confirmation step, and its outcome.
type erasePage struct {
	State string // confirm, roles, done
	Roles []string
}

// memberEraseForm is the confirmation step of erasing everything.
func (s *Server) memberEraseForm(w http.ResponseWriter, r *http.Request) {
	sess := s.signedIn(w, r)
	if sess == nil {
		return
	}
	if !sess.Strong {
		s.page(w, r, http.StatusForbidden, "web/error", errorPage{Reason: "strong"})
		return
	}
	s.page(w, r, http.StatusOK, "web/erase", erasePage{State: "confirm"})
}

// memberErase erases the member from the hub, once they ticked the box.
func (s *Server) memberErase(w http.ResponseWriter, r *http.Request) {
	sess := s.signedIn(w, r)
	if sess == nil || !s.checkCSRF(w, r) {
		return
	}
	if !sess.Strong {
		s.page(w, r, http.StatusForbidden, "web/error", errorPage{Reason: "strong"})
		return
	}
	if r.PostForm.Get("really") != "yes" {
		s.page(w, r, http.StatusUnprocessableEntity, "web/erase", erasePage{State: "confirm"})
		return
	}
	err := s.members.Erase(r.Context(), sess.Email)
	if errors.Is(err, ErrHasRoles) {
		p, perr := s.members.Page(r.Context(), sess.Email)
		if perr != nil {
			s.fail(w, r, "erase", perr)
			return
		}
		s.page(w, r, http.StatusConflict, "web/erase", erasePage{State: "roles", Roles: p.Roles})
		return
	} else if err != nil {
		s.fail(w, r, "erase", err)
		return
	}
	s.clearCookie(w, sessionCookie)
	// The session is gone with the person: the page is an outsider's.
	s.page(w, r.WithContext(withoutSession(r)), http.StatusOK, "web/erase", erasePage{State: "done"})
}
