package web

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

func (s *Server) apiGroups(w http.ResponseWriter, r *http.Request, tok APIToken) {
	gs, err := s.api.Groups(r.Context())
	if err != nil {
		s.apiFail(w, err)
		return
	}
	pageOf(w, r, gs)
}

func (s *Server) apiGroup(w http.ResponseWriter, r *http.Request, tok APIToken) {
	g, err := s.api.Group(r.Context(), r.PathValue("address"))
	if err != nil {
		s.apiFail(w, err)
		return
	}
	reply(w, http.StatusOK, g)
}

func (s *Server) apiCreateGroup(w http.ResponseWriter, r *http.Request, tok APIToken) {
	var g APIGroup
	if !readJSON(w, r, 64<<10, &g) {
		return
	}
	if !mayName(w, tok, "animators", nil, g.Animators) {
		return
	}
	out, err := s.api.SaveGroup(r.Context(), tok, g, true, s.client(r).String())
	if err != nil {
		s.apiFail(w, err)
		return
	}
	w.Header().Set("Location", "/api/v1/groups/"+out.Address)
	reply(w, http.StatusCreated, out)
}

// apiUpdateGroup changes the fields given (name, commune, animators).
func (s *Server) apiUpdateGroup(w http.ResponseWriter, r *http.Request, tok APIToken) {
	cur, err := s.api.Group(r.Context(), r.PathValue("address"))
	if err != nil {
		s.apiFail(w, err)
		return
	}
	var patch struct {
		Name      *string   `json:"name"`
		Commune   *string   `json:"commune"`
		Animators *[]string `json:"animators"`
	}
	if !readJSON(w, r, 64<<10, &patch) {
		return
	}
	if patch.Name != nil {
		cur.Name = *patch.Name
	}
	if patch.Commune != nil {
		cur.Commune = *patch.Commune
	}
	if patch.Animators != nil {
		if !mayName(w, tok, "animators", cur.Animators, *patch.Animators) {
			return
		}
		cur.Animators = *patch.Animators
	}
	out, err := s.api.SaveGroup(r.Context(), tok, cur, false, s.client(r).String())
	if err != nil {
		s.apiFail(w, err)
		return
	}
	reply(w, http.StatusOK, out)
}

func (s *Server) apiSetAnimators(w http.ResponseWriter, r *http.Request, tok APIToken) {
	cur, err := s.api.Group(r.Context(), r.PathValue("address"))
	if err != nil {
		s.apiFail(w, err)
		return
	}
	var body struct {
		Animators []string `json:"animators"`
	}
	if !readJSON(w, r, 64<<10, &body) {
		return
	}
	if !mayName(w, tok, "animators", cur.Animators, body.Animators) {
		return
	}
	cur.Animators = body.Animators
	out, err := s.api.SaveGroup(r.Context(), tok, cur, false, s.client(r).String())
	if err != nil {
		s.apiFail(w, err)
		return
	}
	reply(w, http.StatusOK, out)
}

func (s *Server) apiRemoveGroup(w http.ResponseWriter, r *http.Request, tok APIToken) {
	if err := s.api.RemoveGroup(r.Context(), tok, r.PathValue("address"), s.client(r).String()); err != nil {
		s.apiFail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// apiSyncGroups takes the platform's full list of groups and animators
// and applies the difference in one transaction (?dry_run=true: only
// says what would change). One bad line and nothing changes. A sync that
// removes every group, or more than ten and a tenth of them, needs
// ?allow_removals=N with N at least the number removed (a truncated
// export must not empty the hub).
func (s *Server) apiSyncGroups(w http.ResponseWriter, r *http.Request, tok APIToken) {
	var body struct {
		Groups []APIGroup `json:"groups"`
	}
	if !readJSON(w, r, 32<<20, &body) {
		return
	}
	dry := r.URL.Query().Get("dry_run")
	if dry != "" && dry != "true" && dry != "false" {
		problem(w, http.StatusBadRequest, "dry_run is true or false", nil)
		return
	}
	if !slices.Contains(tok.Scopes, roleScope["animators"].scope) {
		// Without the scope, a sync may not change who animates a group.
		have, err := s.api.Groups(r.Context())
		if err != nil {
			s.apiFail(w, err)
			return
		}
		cur := map[string][]string{}
		for _, g := range have {
			cur[strings.ToLower(g.Address)] = g.Animators
		}
		for _, g := range body.Groups {
			if !mayName(w, tok, "animators", cur[strings.ToLower(strings.TrimSpace(g.Address))], g.Animators) {
				return
			}
		}
	}
	allow := 0
	if v := r.URL.Query().Get("allow_removals"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			problem(w, http.StatusBadRequest, "allow_removals is a number of groups, 0 or more", nil)
			return
		}
		allow = n
	}
	rep, err := s.api.SyncGroups(r.Context(), tok, body.Groups, dry == "true", allow, s.client(r).String())
	if err != nil {
		s.apiFail(w, err)
		return
	}
	reply(w, http.StatusOK, rep)
}
