package web

import (
	"bytes"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The list archives' pages (issue 19): a list's months, a month's
// threads, a thread, a post, its attachments, a search, mbox downloads,
// an Atom feed for public archives; writing to a list from the web, and
// an owner's removal of a post. Who may read what is the hub's answer
// (Archives); these handlers parse, ask and render.

// archiveRoutes serves the archives: reading is GET (a permalink is
// /archives/CODE.NAME/m/ID, what Archived-At says), writing is POST with
// a session and its CSRF token.
func (s *Server) archiveRoutes(handle func(string, http.HandlerFunc)) {
	handle("GET /archives", s.archives)
	handle("GET /archives/{list}", s.archiveIndex)
	handle("GET /archives/{list}/{ym}", s.archiveMonth)
	handle("GET /archives/{list}/mbox/{ym}", s.archiveMbox)
	handle("GET /archives/{list}/t/{id}", s.archiveThread)
	handle("GET /archives/{list}/t/{id}/mbox", s.archiveMbox)
	handle("GET /archives/{list}/m/{id}", s.archiveMessage)
	handle("GET /archives/{list}/m/{id}/part/{n}", s.archivePart)
	handle("GET /archives/{list}/search", s.archiveSearch)
	handle("GET /archives/{list}/atom", s.archiveAtom)
	handle("GET /archives/{list}/new", s.archiveComposeForm)
	handle("POST /archives/{list}/new", s.archiveComposeSend)
	handle("GET /archives/{list}/m/{id}/reply", s.archiveComposeForm)
	handle("POST /archives/{list}/m/{id}/reply", s.archiveComposeSend)
	handle("POST /archives/{list}/m/{id}/remove", s.archiveRemove)
}

// who is the address whose archives a request reads: a session opened
// by a link asked for. A footer's session reads as a visitor (public
// archives): its link travels with every copy of list mail, forwarded to
// anyone, and a members' archive holds years of the list.
func who(r *http.Request) string {
	if sess := session(r); sess != nil && sess.Strong {
		return sess.Email
	}
	return ""
}

// archiveError answers what an archive's method refused; it says whether
// it answered.
func (s *Server) archiveError(w http.ResponseWriter, r *http.Request, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrSignIn) && who(r) == "":
		s.page(w, r, http.StatusUnauthorized, "web/archive-closed", nil)
	case errors.Is(err, ErrNoFeed), errors.Is(err, ErrSignIn):
		s.page(w, r, http.StatusNotFound, "web/error", errorPage{Reason: "notfound"})
	case errors.Is(err, ErrBadFeedName):
		s.page(w, r, http.StatusBadRequest, "web/error", errorPage{Reason: "badrequest"})
	default:
		s.fail(w, r, "archive", err)
	}
	return true
}

// pathID reads a post or thread id in the path.
func pathID(r *http.Request, name string) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	return id, err == nil && id > 0
}

func (s *Server) archives(w http.ResponseWriter, r *http.Request) {
	rows, err := s.archive.Readable(r.Context(), who(r))
	if err != nil {
		s.fail(w, r, "archives", err)
		return
	}
	s.page(w, r, http.StatusOK, "web/archives", rows)
}

func (s *Server) archiveIndex(w http.ResponseWriter, r *http.Request) {
	p, err := s.archive.Index(r.Context(), r.PathValue("list"), who(r))
	if s.archiveError(w, r, err) {
		return
	}
	s.page(w, r, http.StatusOK, "web/archive", p)
}

func (s *Server) archiveMonth(w http.ResponseWriter, r *http.Request) {
	p, err := s.archive.Month(r.Context(), r.PathValue("list"), who(r), r.PathValue("ym"))
	if s.archiveError(w, r, err) {
		return
	}
	s.page(w, r, http.StatusOK, "web/archive-month", p)
}

// archiveDone are the notices a thread's page may show after a post.
var archiveDone = map[string]bool{"sent": true, "held": true, "refused": true, "failed": true, "removed": true}

type archiveThreadPage struct {
	ArchiveThread
	Done    string
	Message bool // one post's page, not the thread's
}

func (s *Server) archiveThread(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r, "id")
	if !ok {
		s.page(w, r, http.StatusNotFound, "web/error", errorPage{Reason: "notfound"})
		return
	}
	p, err := s.archive.Thread(r.Context(), r.PathValue("list"), who(r), id)
	if s.archiveError(w, r, err) {
		return
	}
	done := r.URL.Query().Get("done")
	if !archiveDone[done] {
		done = ""
	}
	s.page(w, r, http.StatusOK, "web/archive-thread", archiveThreadPage{ArchiveThread: p, Done: done})
}

func (s *Server) archiveMessage(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r, "id")
	if !ok {
		s.page(w, r, http.StatusNotFound, "web/error", errorPage{Reason: "notfound"})
		return
	}
	p, err := s.archive.Message(r.Context(), r.PathValue("list"), who(r), id)
	if s.archiveError(w, r, err) {
		return
	}
	s.page(w, r, http.StatusOK, "web/archive-thread", archiveThreadPage{ArchiveThread: p, Message: true})
}

// archivePart serves an attachment: a type a browser shows without
// running anything, or bytes to save; always as a download, sandboxed.
func (s *Server) archivePart(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r, "id")
	n, ok2 := pathID(r, "n")
	if !ok || !ok2 {
		s.page(w, r, http.StatusNotFound, "web/error", errorPage{Reason: "notfound"})
		return
	}
	f, err := s.archive.Attachment(r.Context(), r.PathValue("list"), who(r), id, int(n))
	if s.archiveError(w, r, err) {
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.Type)
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	disp := "attachment"
	if strings.HasPrefix(f.Type, "image/") {
		disp = "inline" // inline images of an HTML post
	}
	h.Set("Content-Disposition", mime.FormatMediaType(disp, map[string]string{"filename": f.Name}))
	h.Set("Cache-Control", "private, max-age=3600")
	w.Write(f.Data)
}

func (s *Server) archiveSearch(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q := ArchiveQuery{Words: bounded(v.Get("q"), 200), Author: bounded(v.Get("author"), 100), From: bounded(v.Get("from"), 10),
		To: bounded(v.Get("to"), 10)}
	q.Before, _ = strconv.ParseInt(v.Get("before"), 10, 64)
	p, err := s.archive.Search(r.Context(), r.PathValue("list"), who(r), q)
	if s.archiveError(w, r, err) {
		return
	}
	s.page(w, r, http.StatusOK, "web/archive-search", p)
}

// archiveMbox downloads a month or a thread as mbox.
func (s *Server) archiveMbox(w http.ResponseWriter, r *http.Request) {
	list, ym := r.PathValue("list"), r.PathValue("ym")
	var thread int64
	name := list + "-" + ym + ".mbox"
	if ym == "" {
		var ok bool
		if thread, ok = pathID(r, "id"); !ok {
			s.page(w, r, http.StatusNotFound, "web/error", errorPage{Reason: "notfound"})
			return
		}
		name = list + "-thread-" + strconv.FormatInt(thread, 10) + ".mbox"
	}
	var b bytes.Buffer
	err := s.archive.Mbox(r.Context(), list, who(r), ym, thread, &b)
	if s.archiveError(w, r, err) {
		return
	}
	w.Header().Set("Content-Type", "application/mbox")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	w.Write(b.Bytes())
}

func (s *Server) archiveAtom(w http.ResponseWriter, r *http.Request) {
	var b bytes.Buffer
	if err := s.archive.Atom(r.Context(), r.PathValue("list"), &b); err != nil {
		if errors.Is(err, ErrNoFeed) || errors.Is(err, ErrSignIn) {
			status(w, http.StatusNotFound)
			return
		}
		s.fail(w, r, "atom", err)
		return
	}
	w.Header().Set("Content-Type", "application/atom+xml; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(b.Bytes())
}

// archiveCompose is the form to write to a list: a new thread, or an
// answer to a post (id).
type archiveCompose struct {
	ArchiveList
	ReplyTo  int64
	Subject  string
	Text     string
	Quote    string // the post answered, in a few words
	Action   string
	Problem  string // empty: subject and text are needed
	Outcome  string // after posting: held, refused, failed
	Back     string
	Thread   string
	Previous *ArchiveMessage
}

func (s *Server) archiveComposeForm(w http.ResponseWriter, r *http.Request) {
	sess := s.signedIn(w, r)
	if sess == nil || !s.strongWrite(w, r, sess) {
		return
	}
	c, err := s.compose(r)
	if s.archiveError(w, r, err) {
		return
	}
	s.page(w, r, http.StatusOK, "web/archive-compose", c)
}

// compose prepares the form from the path: the list, and the post
// answered.
func (s *Server) compose(r *http.Request) (archiveCompose, error) {
	list := r.PathValue("list")
	if id, ok := pathID(r, "id"); ok {
		t, err := s.archive.Message(r.Context(), list, who(r), id)
		if err != nil {
			return archiveCompose{}, err
		}
		m := t.Posts[0]
		subject := m.Subject
		if !strings.HasPrefix(strings.ToLower(subject), "re:") {
			subject = "Re: " + subject
		}
		return archiveCompose{ArchiveList: t.ArchiveList, ReplyTo: id, Subject: subject, Previous: &m,
			Action: t.Path + "/m/" + strconv.FormatInt(id, 10) + "/reply", Back: m.Thread}, nil
	}
	p, err := s.archive.Index(r.Context(), list, who(r))
	if err != nil {
		return archiveCompose{}, err
	}
	return archiveCompose{ArchiveList: p.ArchiveList, Action: p.Path + "/new", Back: p.Path}, nil
}

// archiveComposeSend posts what the member wrote through the list's
// policy, as mail from their proven address would go.
func (s *Server) archiveComposeSend(w http.ResponseWriter, r *http.Request) {
	sess := s.signedIn(w, r)
	if sess == nil {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 256<<10)
	if err := r.ParseForm(); err != nil {
		status(w, http.StatusRequestEntityTooLarge)
		return
	}
	if !s.checkCSRF(w, r) || !s.strongWrite(w, r, sess) {
		return
	}
	c, err := s.compose(r)
	if s.archiveError(w, r, err) {
		return
	}
	c.Subject = strings.TrimSpace(bounded(r.PostForm.Get("subject"), 300))
	c.Text = bounded(r.PostForm.Get("text"), 200<<10)
	if c.Subject == "" || strings.TrimSpace(c.Text) == "" {
		c.Problem = "empty"
		s.page(w, r, http.StatusUnprocessableEntity, "web/archive-compose", c)
		return
	}
	out, err := s.archive.Post(r.Context(), r.PathValue("list"), sess.Email, ArchivePost{Subject: c.Subject, Text: c.Text,
		ReplyTo: c.ReplyTo, Lang: language(r), Client: s.client(r).String()})
	if s.archiveError(w, r, err) {
		return
	}
	if out.Outcome == "sent" && out.Path != "" {
		http.Redirect(w, r, out.Path+"?done=sent", http.StatusSeeOther)
		return
	}
	c.Outcome = out.Outcome
	s.page(w, r, http.StatusOK, "web/archive-compose", c)
}

// strongWrite says whether sess may write to a list or remove a post: a
// session opened by a link asked for. A footer's link travels with every
// copy of a list's mail, forwarded or quoted outside the hub; the session
// it opens reads, and changes the member's own subscriptions, but does
// not speak in their name (the console refuses it for the same reason).
func (s *Server) strongWrite(w http.ResponseWriter, r *http.Request, sess *Session) bool {
	if !sess.Strong {
		s.page(w, r, http.StatusForbidden, "web/error", errorPage{Reason: "strong-write"})
		return false
	}
	return true
}

// archiveRemove takes a post out of the archive, for its owners.
func (s *Server) archiveRemove(w http.ResponseWriter, r *http.Request) {
	sess := s.signedIn(w, r)
	if sess == nil || !s.checkCSRF(w, r) || !s.strongWrite(w, r, sess) {
		return
	}
	id, ok := pathID(r, "id")
	reason := strings.TrimSpace(bounded(r.PostForm.Get("reason"), 500))
	if !ok || reason == "" {
		s.page(w, r, http.StatusBadRequest, "web/error", errorPage{Reason: "badrequest"})
		return
	}
	list := r.PathValue("list")
	t, err := s.archive.Message(r.Context(), list, sess.Email, id)
	if s.archiveError(w, r, err) {
		return
	}
	if err := s.archive.Remove(r.Context(), list, sess.Email, id, reason, s.client(r).String()); s.archiveError(w, r, err) {
		return
	}
	back := t.Posts[0].Thread
	if u, err := url.Parse(back); err != nil || u.IsAbs() {
		back = "/archives"
	}
	http.Redirect(w, r, back+"?done=removed", http.StatusSeeOther)
}
