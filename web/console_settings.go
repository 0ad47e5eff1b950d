package web

import (
	"errors"
	"net/http"
	"strconv"
)

// consoleSettingsPage is a list's settings form.
type consoleSettingsPage struct {
	ListSettings
	Done    string
	Problem string
}

// consoleSettings shows a list's settings.
func (s *Server) consoleSettings(w http.ResponseWriter, r *http.Request) {
	who, ok := s.consoleWho(w, r, false)
	if !ok {
		return
	}
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	st, err := s.console.Settings(r.Context(), who, id)
	if s.consoleErr(w, r, err) {
		return
	}
	s.page(w, r, http.StatusOK, "web/console-settings", consoleSettingsPage{ListSettings: st, Done: doneWord(r)})
}

// consoleSetSettings stores a list's settings, or shows what to correct.
func (s *Server) consoleSetSettings(w http.ResponseWriter, r *http.Request) {
	who, ok := s.consoleWho(w, r, true)
	if !ok {
		return
	}
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	p := r.PostForm
	maxKB, _ := strconv.ParseInt(p.Get("max_kb"), 10, 64)
	rate, _ := strconv.Atoi(p.Get("rate"))
	f := ListSettings{ListID: id, Name: oneLineForm(p.Get("name")), Policy: p.Get("policy"), ReplyTo: p.Get("reply_to"),
		Prefix: p.Get("prefix") == "on", Auth: p.Get("auth"), Lang: p.Get("lang"), MaxKB: maxKB, Rate: rate,
		WelcomeFR: p.Get("welcome_fr"), WelcomeEN: p.Get("welcome_en"), FooterFR: p.Get("footer_fr"), FooterEN: p.Get("footer_en"),
		Daily: p.Get("daily") == "on", Weekly: p.Get("weekly") == "on"}
	err := s.console.SetSettings(r.Context(), who, id, f, s.client(r).String())
	var inv *Invalid
	if errors.As(err, &inv) {
		cur, cerr := s.console.Settings(r.Context(), who, id)
		if s.consoleErr(w, r, cerr) {
			return
		}
		f.Address = cur.Address
		s.page(w, r, http.StatusUnprocessableEntity, "web/console-settings", consoleSettingsPage{ListSettings: f, Problem: inv.Problem})
		return
	}
	if s.consoleErr(w, r, err) {
		return
	}
	http.Redirect(w, r, "/console/lists/"+strconv.FormatInt(id, 10)+"/settings?done=saved", http.StatusSeeOther)
}
