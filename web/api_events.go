package web

import (
	_ "embed"
	"net/http"
)

func (s *Server) apiEvents(w http.ResponseWriter, r *http.Request, tok APIToken) {
	es, err := s.api.Events(r.Context(), r.URL.Query().Get("group"))
	if err != nil {
		s.apiFail(w, err)
		return
	}
	pageOf(w, r, es)
}

func (s *Server) apiEvent(w http.ResponseWriter, r *http.Request, tok APIToken) {
	e, err := s.api.Event(r.Context(), r.PathValue("uid"))
	if err != nil {
		s.apiFail(w, err)
		return
	}
	reply(w, http.StatusOK, e)
}

func (s *Server) apiCreateEvent(w http.ResponseWriter, r *http.Request, tok APIToken) {
	var e APIEvent
	if !readJSON(w, r, 64<<10, &e) {
		return
	}
	out, err := s.api.SaveEvent(r.Context(), tok, "", e, s.client(r).String())
	if err != nil {
		s.apiFail(w, err)
		return
	}
	w.Header().Set("Location", "/api/v1/events/"+out.UID)
	reply(w, http.StatusCreated, out)
}

// apiUpdateEvent replaces an event's fields with those given; attendees
// are told, as when its group changes it by mail.
func (s *Server) apiUpdateEvent(w http.ResponseWriter, r *http.Request, tok APIToken) {
	cur, err := s.api.Event(r.Context(), r.PathValue("uid"))
	if err != nil {
		s.apiFail(w, err)
		return
	}
	var p struct {
		Title   *string   `json:"title"`
		Start   *string   `json:"start"`
		End     *string   `json:"end"`
		Place   *string   `json:"place"`
		Themes  *[]string `json:"themes"`
		Public  *bool     `json:"public"`
		Details *string   `json:"details"`
	}
	if !readJSON(w, r, 64<<10, &p) {
		return
	}
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&cur.Title, p.Title)
	set(&cur.Start, p.Start)
	set(&cur.End, p.End)
	set(&cur.Place, p.Place)
	set(&cur.Details, p.Details)
	if p.Themes != nil {
		cur.Themes = *p.Themes
	}
	if p.Public != nil {
		cur.Public = p.Public
	}
	out, err := s.api.SaveEvent(r.Context(), tok, cur.UID, cur, s.client(r).String())
	if err != nil {
		s.apiFail(w, err)
		return
	}
	reply(w, http.StatusOK, out)
}

func (s *Server) apiCancelEvent(w http.ResponseWriter, r *http.Request, tok APIToken) {
	e, err := s.api.CancelEvent(r.Context(), tok, r.PathValue("uid"), s.client(r).String())
	if err != nil {
		s.apiFail(w, err)
		return
	}
	reply(w, http.StatusOK, e)
}

//go:embed openapi.json
var openAPI []byte

// apiOpenAPI is the API's OpenAPI 3 document: public, like any
// documentation.
func (s *Server) apiOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(openAPI)
}
