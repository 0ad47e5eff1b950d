package web

import (
	"net/http"
	"strconv"
)

// memberPageData is a member's page with what the last action did.
type memberPageData struct {
	MemberPage
	Strong  bool          // may download and erase
	Done    string        // what the last form did, for the notice at the top
	Outcome AgendaOutcome // of the agenda's form
	// NewPassword is an app password just made, shown once.
	NewPassword string
}

// memberPage is a member's own page: their lists, their weekly agenda,
// the events they attend, their data.
func (s *Server) memberPage(w http.ResponseWriter, r *http.Request) {
	sess := s.signedIn(w, r)
	if sess == nil {
		return
	}
	s.showMember(w, r, sess, http.StatusOK, r.URL.Query().Get("done"), AgendaOutcome{})
}

// doneWords are the notices a redirect may ask the page to show: only
// these, so a link cannot make the page say anything else.
var doneWords = map[string]bool{"each": true, "digest-daily": true, "digest-weekly": true, "paused": true,
	"paused-until": true, "resumed": true, "unsubscribed": true, "joined": true, "already": true, "not-member": true,
	"bad-date": true, "digest-off": true, "unattended": true, "agenda": true, "link": true, "lang": true, "revoked": true}

func (s *Server) showMember(w http.ResponseWriter, r *http.Request, sess *Session, code int, done string, ag AgendaOutcome) {
	p, err := s.members.Page(r.Context(), sess.Email)
	if err != nil {
		s.fail(w, r, "member page", err)
		return
	}
	if !doneWords[done] {
		done = ""
	}
	s.page(w, r, code, "web/member", memberPageData{MemberPage: p, Strong: sess.Strong, Done: done, Outcome: ag})
}

// formID reads the id in a POST's path.
func formID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return id, err == nil && id > 0
}
