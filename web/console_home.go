package web

import (
	"net/http"
	"strconv"
)

// consoleHome lists what is the person's: lists, groups, queues, and for
// operators the audit log.
func (s *Server) consoleHome(w http.ResponseWriter, r *http.Request) {
	who, ok := s.consoleWho(w, r, false)
	if !ok {
		return
	}
	h, err := s.console.Home(r.Context(), who)
	if s.consoleErr(w, r, err) {
		return
	}
	s.page(w, r, http.StatusOK, "web/console", h)
}

// pathID reads the id in a path, answering 404 when it cannot be one.
func (s *Server) pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.page(w, r, http.StatusNotFound, "web/error", errorPage{Reason: "console-notfound"})
		return 0, false
	}
	return id, true
}
