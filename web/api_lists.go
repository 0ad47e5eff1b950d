package web

import (
	"net/http"
	"strconv"
)

func (s *Server) apiLists(w http.ResponseWriter, r *http.Request, tok APIToken) {
	ls, err := s.api.Lists(r.Context())
	if err != nil {
		s.apiFail(w, err)
		return
	}
	pageOf(w, r, ls)
}

func (s *Server) apiList(w http.ResponseWriter, r *http.Request, tok APIToken) {
	l, err := s.api.List(r.Context(), r.PathValue("address"))
	if err != nil {
		s.apiFail(w, err)
		return
	}
	reply(w, http.StatusOK, l)
}

func (s *Server) apiCreateList(w http.ResponseWriter, r *http.Request, tok APIToken) {
	var l APIList
	if !readJSON(w, r, 64<<10, &l) {
		return
	}
	if !mayName(w, tok, "owners", nil, l.Owners) || !mayName(w, tok, "moderators", nil, l.Moderators) {
		return
	}
	out, err := s.api.SaveList(r.Context(), tok, l, true, s.client(r).String())
	if err != nil {
		s.apiFail(w, err)
		return
	}
	w.Header().Set("Location", "/api/v1/lists/"+out.Address)
	reply(w, http.StatusCreated, out)
}

// apiUpdateList changes the settings given; the others stay.
func (s *Server) apiUpdateList(w http.ResponseWriter, r *http.Request, tok APIToken) {
	cur, err := s.api.List(r.Context(), r.PathValue("address"))
	if err != nil {
		s.apiFail(w, err)
		return
	}
	var p struct {
		Name          *string            `json:"name"`
		Policy        *string            `json:"policy"`
		ReplyTo       *string            `json:"reply_to"`
		SubjectPrefix *bool              `json:"subject_prefix"`
		Lang          *string            `json:"lang"`
		Auth          *string            `json:"auth"`
		MaxKB         *int64             `json:"max_kb"`
		RatePerHour   *int               `json:"rate_per_hour"`
		Owners        *[]string          `json:"owners"`
		Moderators    *[]string          `json:"moderators"`
		Welcome       *map[string]string `json:"welcome"`
		Footer        *map[string]string `json:"footer"`
		DigestModes   *[]string          `json:"digest_modes"`
	}
	if !readJSON(w, r, 64<<10, &p) {
		return
	}
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&cur.Name, p.Name)
	set(&cur.Policy, p.Policy)
	set(&cur.ReplyTo, p.ReplyTo)
	set(&cur.Lang, p.Lang)
	set(&cur.Auth, p.Auth)
	if p.SubjectPrefix != nil {
		cur.SubjectPrefix = p.SubjectPrefix
	}
	if p.MaxKB != nil {
		cur.MaxKB = *p.MaxKB
	}
	if p.RatePerHour != nil {
		cur.RatePerHour = *p.RatePerHour
	}
	if p.Owners != nil {
		if !mayName(w, tok, "owners", cur.Owners, *p.Owners) {
			return
		}
		cur.Owners = *p.Owners
	}
	if p.Moderators != nil {
		if !mayName(w, tok, "moderators", cur.Moderators, *p.Moderators) {
			return
		}
		cur.Moderators = *p.Moderators
	}
	if p.Welcome != nil {
		cur.Welcome = *p.Welcome
	}
	if p.Footer != nil {
		cur.Footer = *p.Footer
	}
	if p.DigestModes != nil {
		cur.DigestModes = *p.DigestModes
	}
	out, err := s.api.SaveList(r.Context(), tok, cur, false, s.client(r).String())
	if err != nil {
		s.apiFail(w, err)
		return
	}
	reply(w, http.StatusOK, out)
}

func (s *Server) apiMembers(w http.ResponseWriter, r *http.Request, tok APIToken) {
	ms, err := s.api.Members(r.Context(), r.PathValue("address"))
	if err != nil {
		s.apiFail(w, err)
		return
	}
	pageOf(w, r, ms)
}

// apiSubscribe subscribes an address whose consent the platform holds:
// the consent text is recorded as its proof.
func (s *Server) apiSubscribe(w http.ResponseWriter, r *http.Request, tok APIToken) {
	var b APISubscribe
	if !readJSON(w, r, 16<<10, &b) {
		return
	}
	m, err := s.api.Subscribe(r.Context(), tok, r.PathValue("address"), b, s.client(r).String())
	if err != nil {
		s.apiFail(w, err)
		return
	}
	reply(w, http.StatusCreated, m)
}

func (s *Server) apiSetMode(w http.ResponseWriter, r *http.Request, tok APIToken) {
	var b struct {
		Mode string `json:"mode"`
	}
	if !readJSON(w, r, 4<<10, &b) {
		return
	}
	m, err := s.api.SetMode(r.Context(), tok, r.PathValue("address"), r.PathValue("email"), b.Mode, s.client(r).String())
	if err != nil {
		s.apiFail(w, err)
		return
	}
	reply(w, http.StatusOK, m)
}

func (s *Server) apiUnsubscribe(w http.ResponseWriter, r *http.Request, tok APIToken) {
	if err := s.api.Unsubscribe(r.Context(), tok, r.PathValue("address"), r.PathValue("email"), s.client(r).String()); err != nil {
		s.apiFail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiHeld(w http.ResponseWriter, r *http.Request, tok APIToken) {
	hs, err := s.api.Held(r.Context(), r.URL.Query().Get("list"), r.URL.Query().Get("state"))
	if err != nil {
		s.apiFail(w, err)
		return
	}
	pageOf(w, r, hs)
}

func (s *Server) apiDecide(w http.ResponseWriter, r *http.Request, tok APIToken) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		problem(w, http.StatusNotFound, "not found", nil)
		return
	}
	var d APIDecision
	if !readJSON(w, r, 16<<10, &d) {
		return
	}
	h, err := s.api.Decide(r.Context(), tok, id, d, s.client(r).String())
	if err != nil {
		s.apiFail(w, err)
		return
	}
	reply(w, http.StatusOK, h)
}

func (s *Server) apiTickets(w http.ResponseWriter, r *http.Request, tok APIToken) {
	ts, err := s.api.Tickets(r.Context(), r.URL.Query().Get("queue"), r.URL.Query().Get("state"))
	if err != nil {
		s.apiFail(w, err)
		return
	}
	pageOf(w, r, ts)
}

func (s *Server) apiTicket(w http.ResponseWriter, r *http.Request, tok APIToken) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		problem(w, http.StatusNotFound, "not found", nil)
		return
	}
	t, err := s.api.Ticket(r.Context(), id)
	if err != nil {
		s.apiFail(w, err)
		return
	}
	reply(w, http.StatusOK, t)
}
