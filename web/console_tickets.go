package web

import (
	"net/http"
	"strings"
)

// consoleQueue lists a support queue's tickets, for its operators (read
// only: they answer by mail).
func (s *Server) consoleQueue(w http.ResponseWriter, r *http.Request) {
	who, ok := s.consoleWho(w, r, false)
	if !ok {
		return
	}
	name := strings.ToLower(r.PathValue("name"))
	if len(name) > 64 {
		s.page(w, r, http.StatusNotFound, "web/error", errorPage{Reason: "console-notfound"})
		return
	}
	q, err := s.console.Queue(r.Context(), who, name, language(r))
	if s.consoleErr(w, r, err) {
		return
	}
	s.page(w, r, http.StatusOK, "web/console-queue", q)
}

// consoleTicket is one ticket's thread, trimmed, read only.
func (s *Server) consoleTicket(w http.ResponseWriter, r *http.Request) {
	who, ok := s.consoleWho(w, r, false)
	if !ok {
		return
	}
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	t, err := s.console.Ticket(r.Context(), who, id, language(r))
	if s.consoleErr(w, r, err) {
		return
	}
	s.page(w, r, http.StatusOK, "web/console-ticket", t)
}
