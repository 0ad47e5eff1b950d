package web

import (
	"encoding/csv"
	"net/http"
	"strconv"
)

// consoleAuditPage is the audit log's page.
type consoleAuditPage struct {
	Query AuditQuery
	Rows  []AuditRow
}

func auditQuery(r *http.Request) AuditQuery {
	q := r.URL.Query()
	n, _ := strconv.Atoi(q.Get("limit"))
	if n <= 0 || n > 5000 {
		n = 200
	}
	return AuditQuery{Actor: oneLineForm(q.Get("actor")), Target: oneLineForm(q.Get("target")), Limit: n}
}

// consoleAudit is the audit log, for operators: who changed what, when,
// from where.
func (s *Server) consoleAudit(w http.ResponseWriter, r *http.Request) {
	who, ok := s.consoleWho(w, r, false)
	if !ok {
		return
	}
	q := auditQuery(r)
	rows, err := s.console.Audit(r.Context(), who, q)
	if s.consoleErr(w, r, err) {
		return
	}
	s.page(w, r, http.StatusOK, "web/console-audit", consoleAuditPage{Query: q, Rows: rows})
}

// consoleAuditCSV downloads the audit log as CSV.
func (s *Server) consoleAuditCSV(w http.ResponseWriter, r *http.Request) {
	who, ok := s.consoleWho(w, r, false)
	if !ok {
		return
	}
	q := auditQuery(r)
	q.Limit = 100000
	rows, err := s.console.Audit(r.Context(), who, q)
	if s.consoleErr(w, r, err) {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="relais-audit.csv"`)
	h.Set("Cache-Control", "no-store")
	c := csv.NewWriter(w)
	c.Write([]string{"at", "actor", "via", "from", "action", "target", "detail"})
	for _, a := range rows {
		c.Write([]string{a.At, a.Actor, a.Via, a.From, a.Action, a.Target, a.Detail})
	}
	c.Flush()
}
