package web

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// consoleMembersPage is a list's members page and what the last form did.
type consoleMembersPage struct {
	ConsoleMembers
	Done     string
	Action   string
	Outcomes []Outcome
	Problem  string
}

func memberQuery(r *http.Request) MemberQuery {
	q := r.URL.Query()
	page, _ := strconv.Atoi(q.Get("page"))
	state := q.Get("state")
	switch state {
	case "active", "bouncing", "unsubscribed":
	default:
		state = ""
	}
	return MemberQuery{Text: oneLineForm(q.Get("q")), State: state, Page: max(page, 0), Member: memberID(q.Get("member"))}
}

func oneLineForm(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// consoleMembers searches a list's members; ?email= shows one with its
// consent record and bounces.
func (s *Server) consoleMembers(w http.ResponseWriter, r *http.Request) {
	who, ok := s.consoleWho(w, r, false)
	if !ok {
		return
	}
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	m, err := s.console.Members(r.Context(), who, id, memberQuery(r), language(r))
	if s.consoleErr(w, r, err) {
		return
	}
	s.page(w, r, http.StatusOK, "web/console-members", consoleMembersPage{ConsoleMembers: m, Done: doneWord(r)})
}

// addresses reads the addresses of a form's text: one a line, or
// separated by spaces, commas or semicolons.
func addresses(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == ' ' || r == ',' || r == ';' || r == '\t' })
}

// consoleChangeMembers adds (with a consent text), invites, removes or
// re-enables members.
func (s *Server) consoleChangeMembers(w http.ResponseWriter, r *http.Request) {
	who, ok := s.consoleWho(w, r, true)
	if !ok {
		return
	}
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	f := MemberForm{Action: r.PostForm.Get("action"), Emails: addresses(r.PostForm.Get("emails")),
		Consent: r.PostForm.Get("consent"), Note: r.PostForm.Get("note"), Reason: r.PostForm.Get("reason")}
	switch f.Action {
	case "add", "invite", "remove", "enable", "admit":
	default:
		s.page(w, r, http.StatusBadRequest, "web/error", errorPage{Reason: "badrequest"})
		return
	}
	out, err := s.console.ChangeMembers(r.Context(), who, id, f, s.client(r).String())
	var inv *Invalid
	code := http.StatusOK
	problem := ""
	if errors.As(err, &inv) {
		code, problem = http.StatusUnprocessableEntity, inv.Problem
	} else if s.consoleErr(w, r, err) {
		return
	}
	if problem == "" && (f.Action == "remove" || f.Action == "enable" || f.Action == "admit") {
		done := map[string]string{"remove": "removed", "enable": "enabled", "admit": "admitted"}[f.Action]
		http.Redirect(w, r, "/console/lists/"+strconv.FormatInt(id, 10)+"/members?done="+done, http.StatusSeeOther)
		return
	}
	m, err := s.console.Members(r.Context(), who, id, MemberQuery{}, language(r))
	if s.consoleErr(w, r, err) {
		return
	}
	s.page(w, r, code, "web/console-members", consoleMembersPage{ConsoleMembers: m, Action: f.Action, Outcomes: out, Problem: problem})
}

// consoleMembersCSV downloads a list's members as CSV.
func (s *Server) consoleMembersCSV(w http.ResponseWriter, r *http.Request) {
	who, ok := s.consoleWho(w, r, false)
	if !ok {
		return
	}
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	var b bytes.Buffer
	if s.consoleErr(w, r, s.console.MembersCSV(r.Context(), who, id, &b)) {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="members-`+strconv.FormatInt(id, 10)+`.csv"`)
	h.Set("Cache-Control", "no-store")
	w.Write(b.Bytes())
}

func memberID(s string) int64 {
	id, _ := strconv.ParseInt(s, 10, 64)
	return max(id, 0)
}
