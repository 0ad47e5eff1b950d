package web

import (
	"errors"
	"net/http"
	"strings"
	"time"
)

// signinPage is the sign-in page: the form, or what happened.
type signinPage struct {
	State string // form, sent, link (a link's button), invalid
}

// signinForm asks for an address.
func (s *Server) signinForm(w http.ResponseWriter, r *http.Request) {
	if session(r) != nil {
		http.Redirect(w, r, "/me", http.StatusSeeOther)
		return
	}
	s.page(w, r, http.StatusOK, "web/signin", signinPage{State: "form"})
}

// signinRequest mails a link to the address typed, if the hub knows it;
// the page says the same in every case.
func (s *Server) signinRequest(w http.ResponseWriter, r *http.Request) {
	if !s.checkCSRF(w, r) {
		return
	}
	email := strings.TrimSpace(r.PostForm.Get("email"))
	if email != "" {
		if err := s.signin.Request(r.Context(), email, language(r), clientKey(s.client(r))); err != nil {
			s.fail(w, r, "sign-in request", err)
			return
		}
	}
	s.page(w, r, http.StatusOK, "web/signin", signinPage{State: "sent"})
}

// signinLink is where a mailed link, or a footer's, leads: a button, since
// link scanners follow links and a link works once.
func (s *Server) signinLink(w http.ResponseWriter, r *http.Request) {
	if err := s.signin.Peek(r.Context(), r.PathValue("token")); errors.Is(err, ErrBadToken) {
		s.page(w, r, http.StatusNotFound, "web/signin", signinPage{State: "invalid"})
		return
	} else if err != nil {
		s.fail(w, r, "sign-in link", err)
		return
	}
	s.page(w, r, http.StatusOK, "web/signin", signinPage{State: "link"})
}

// signinOpen uses the link and opens the session.
func (s *Server) signinOpen(w http.ResponseWriter, r *http.Request) {
	if !s.checkCSRF(w, r) {
		return
	}
	sess, cookie, err := s.signin.Open(r.Context(), r.PathValue("token"))
	if errors.Is(err, ErrBadToken) {
		s.page(w, r, http.StatusNotFound, "web/signin", signinPage{State: "invalid"})
		return
	} else if err != nil {
		s.fail(w, r, "sign in", err)
		return
	}
	if old, err := s.cookie(r, sessionCookie); err == nil && old.Value != "" {
		s.signin.SignOut(r.Context(), old.Value) // one session per browser
	}
	s.setCookie(w, sessionCookie, cookie, time.Until(sess.Expires), http.SameSiteLaxMode)
	http.Redirect(w, r, "/me", http.StatusSeeOther)
}

// signout ends this browser's session.
func (s *Server) signout(w http.ResponseWriter, r *http.Request) {
	if !s.checkCSRF(w, r) {
		return
	}
	if c, err := s.cookie(r, sessionCookie); err == nil && c.Value != "" {
		if err := s.signin.SignOut(r.Context(), c.Value); err != nil {
			s.fail(w, r, "sign out", err)
			return
		}
	}
	s.clearCookie(w, sessionCookie)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// signoutEverywhere ends every session of the member, this one too.
func (s *Server) signoutEverywhere(w http.ResponseWriter, r *http.Request) {
	sess := s.signedIn(w, r)
	if sess == nil || !s.checkCSRF(w, r) {
		return
	}
	if err := s.signin.SignOutEverywhere(r.Context(), sess.Email); err != nil {
		s.fail(w, r, "sign out everywhere", err)
		return
	}
	s.clearCookie(w, sessionCookie)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
