// Package web is in charge of the few HTTP pages the hub serves where the
// standards want the web: the personal one-click unsubscribe link of list
// mail (RFC 8058), and the groups' calendar feeds (RFC 5545). A GET shows a page with a button and changes nothing
// (link scanners follow GETs); a POST unsubscribes at once, with no login
// and no second step.
package web

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

// Subscription is what an unsubscribe token names.
type Subscription struct {
	List    string // address
	Name    string // display name
	Email   string
	Lang    string
	Already bool // already unsubscribed
}

// Lists is what the pages need from the mailing lists. ErrBadToken is
// returned for a token that names nobody.
type Lists interface {
	Unsubscription(ctx context.Context, token string) (Subscription, error)
	Unsubscribe(ctx context.Context, token, from string) (Subscription, error)
}

// ErrBadToken: the link is not one the hub made.
var ErrBadToken = errors.New("web: unknown link")

// Feeds are the calendar feeds. Feed returns the iCalendar object (RFC
// 5545) of a feed: kind is "group" (key CODE.NAME), "zone" (a territory
// code) or "theme"; ErrNoFeed when there is no such group, territory or
// theme.
type Feeds interface {
	Feed(ctx context.Context, kind, key string) ([]byte, error)
	// Stop ends the weekly digest of the member a stop link names (when
	// really), and says who it is. ErrBadToken for a link the hub did
	// not make; the same for Start and Attend.
	Stop(ctx context.Context, token string, really bool) (Link, error)
	// Start confirms an address for the weekly digest (when really).
	Start(ctx context.Context, token string, really bool) (Link, error)
	// Attend reads a "je participe" link and, when really, records the
	// attendance; the Link names the event too.
	Attend(ctx context.Context, token string, really bool) (Link, error)
}

// Link is what an agenda link names: a member, and an event for some.
type Link struct {
	Email, Lang string
	Title, When string // the event of an attend link
}

// ErrNoFeed: nothing is published under that name.
var ErrNoFeed = errors.New("web: no such feed")

// Pages renders a page in a language: fr or en.
type Pages interface {
	Page(lang, name string) (*template.Template, error)
}

// Server is the hub's HTTP server.
type Server struct {
	lists Lists
	feeds Feeds
	pages Pages
	log   *slog.Logger
	srv   *http.Server
}

// New returns the server; Serve starts it.
func New(lists Lists, feeds Feeds, pages Pages, log *slog.Logger) *Server {
	s := &Server{lists: lists, feeds: feeds, pages: pages, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("/u/{token}", s.unsubscribe)
	mux.HandleFunc("GET /agenda/{kind}/{file}", s.feed)
	mux.HandleFunc("GET /agenda/stop/{token}", s.stop)
	mux.HandleFunc("POST /agenda/stop/{token}", s.stop)
	mux.HandleFunc("GET /agenda/start/{token}", s.start)
	mux.HandleFunc("POST /agenda/start/{token}", s.start)
	mux.HandleFunc("GET /agenda/attend/{token}", s.attend)
	mux.HandleFunc("POST /agenda/attend/{token}", s.attend)
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("relais\n"))
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	return s
}

// Handler returns the HTTP handler, for tests.
func (s *Server) Handler() http.Handler { return s.srv.Handler }

// Serve answers on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops the server, letting requests under way finish within ctx.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

type pageData struct {
	Sub   Subscription
	State string // confirm, done, already, invalid, error
}

func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	var sub Subscription
	var err error
	state := "confirm"
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		sub, err = s.lists.Unsubscription(r.Context(), tok)
		if sub.Already {
			state = "already"
		}
	case http.MethodPost:
		// RFC 8058 §3.2: the body is List-Unsubscribe=One-Click; a POST
		// to the personal URL is the whole request, whatever its body.
		r.Body = http.MaxBytesReader(w, r.Body, 4096)
		r.ParseForm()
		sub, err = s.lists.Unsubscribe(r.Context(), tok, "HTTP POST from "+clientIP(r))
		state = "done"
		if err == nil && sub.Already {
			state = "already"
		}
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	code := http.StatusOK
	switch {
	case errors.Is(err, ErrBadToken):
		state, code = "invalid", http.StatusNotFound
	case err != nil:
		s.log.Error("unsubscribe", "err", err)
		state, code = "error", http.StatusInternalServerError
	}
	lang := sub.Lang
	if lang == "" {
		lang = "fr"
		if strings.HasPrefix(strings.ToLower(r.Header.Get("Accept-Language")), "en") {
			lang = "en"
		}
	}
	t, terr := s.pages.Page(lang, "unsubscribe")
	if terr != nil {
		s.log.Error("page", "err", terr)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(code)
	if err := t.Execute(w, pageData{Sub: sub, State: state}); err != nil {
		s.log.Error("page", "err", err)
	}
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// feed serves a calendar feed: /agenda/group/4405.nantes-sud.ics,
// /agenda/zone/44.ics, /agenda/theme/climat.ics. Calendar clients poll it
// (webcal); only public events are in it.
func (s *Server) feed(w http.ResponseWriter, r *http.Request) {
	key, ok := strings.CutSuffix(r.PathValue("file"), ".ics")
	kind := r.PathValue("kind")
	if !ok || s.feeds == nil || (kind != "group" && kind != "zone" && kind != "theme" && kind != "event") {
		http.NotFound(w, r)
		return
	}
	b, err := s.feeds.Feed(r.Context(), kind, key)
	switch {
	case errors.Is(err, ErrNoFeed):
		http.NotFound(w, r)
		return
	case err != nil:
		s.log.Error("feed", "kind", kind, "key", key, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/calendar; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=900")
	w.Write(b)
}

// stop is the one-click link of the weekly digest (RFC 8058): a GET shows
// a button, a POST stops the digest at once.
func (s *Server) stop(w http.ResponseWriter, r *http.Request) {
	s.agendaPage(w, r, "agenda-stop", s.feeds.Stop)
}

// start is the link that confirms an address for the weekly digest: a GET
// shows a button, a POST starts it.
func (s *Server) start(w http.ResponseWriter, r *http.Request) {
	s.agendaPage(w, r, "agenda-start", s.feeds.Start)
}

// attend is the "je participe" link of an event in the digest: a GET shows
// the event and a button (link scanners only GET), a POST records it.
func (s *Server) attend(w http.ResponseWriter, r *http.Request) {
	s.agendaPage(w, r, "agenda-attend", s.feeds.Attend)
}

// agendaPage serves a link of the agenda: a GET shows what it would do and
// a button, a POST does it.
func (s *Server) agendaPage(w http.ResponseWriter, r *http.Request, page string, act func(context.Context, string, bool) (Link, error)) {
	post := r.Method == http.MethodPost
	if post {
		r.Body = http.MaxBytesReader(w, r.Body, 4096)
		r.ParseForm()
	}
	l, err := act(r.Context(), r.PathValue("token"), post)
	state, code := "confirm", http.StatusOK
	switch {
	case errors.Is(err, ErrBadToken):
		state, code = "invalid", http.StatusNotFound
	case err != nil:
		s.log.Error(page, "err", err)
		state, code = "error", http.StatusInternalServerError
	case post:
		state = "done"
	}
	if l.Lang == "" {
		l.Lang = "fr"
	}
	t, terr := s.pages.Page(l.Lang, page)
	if terr != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(code)
	t.Execute(w, map[string]string{"Email": l.Email, "Title": l.Title, "When": l.When, "State": state})
}
