package web

import (
	"net/http"
	"strconv"
)

// memberAgenda changes the weekly agenda's settings: place, radius,
// themes, on or off. The page shows what each became, and the communes a
// place may mean.
func (s *Server) memberAgenda(w http.ResponseWriter, r *http.Request) {
	sess := s.signedIn(w, r)
	if sess == nil || !s.checkCSRF(w, r) {
		return
	}
	f := AgendaForm{Place: r.PostForm.Get("place"), Radius: r.PostForm.Get("radius"), Themes: r.PostForm.Get("themes"),
		Active: r.PostForm.Get("active")}
	out, err := s.members.SetAgenda(r.Context(), sess.Email, language(r), f)
	if err != nil {
		s.fail(w, r, "agenda settings", err)
		return
	}
	code := http.StatusOK
	for _, res := range out.Results {
		if res.Outcome == "bad-place" || res.Outcome == "bad-radius" {
			code = http.StatusUnprocessableEntity
		}
	}
	s.showMember(w, r, sess, code, "agenda", out)
}

// memberPreview shows next week's digest as it would be now.
func (s *Server) memberPreview(w http.ResponseWriter, r *http.Request) {
	sess := s.signedIn(w, r)
	if sess == nil {
		return
	}
	p, err := s.members.Preview(r.Context(), sess.Email)
	if err != nil {
		s.fail(w, r, "digest preview", err)
		return
	}
	s.page(w, r, http.StatusOK, "web/preview", p)
}

// memberUnattend: "je ne viens plus".
func (s *Server) memberUnattend(w http.ResponseWriter, r *http.Request) {
	sess := s.signedIn(w, r)
	if sess == nil || !s.checkCSRF(w, r) {
		return
	}
	id, ok := formID(r)
	if !ok {
		s.page(w, r, http.StatusBadRequest, "web/error", errorPage{Reason: "badrequest"})
		return
	}
	if err := s.members.Unattend(r.Context(), sess.Email, id); err != nil {
		s.fail(w, r, "unattend", err)
		return
	}
	http.Redirect(w, r, "/me?done=unattended#attending", http.StatusSeeOther)
}

// radiusOf is a radius as a form field shows it.
func radiusOf(n int) string { return strconv.Itoa(n) }
