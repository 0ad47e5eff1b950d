// Package web is in charge of the hub's HTTP pages: the links of mail
// (the one-click unsubscribe of list mail, RFC 8058; the weekly agenda's
// stop, start and "je participe"), the calendar feeds (RFC 5545), the
// public agenda's pages, and a member's own page reached by a link mailed
// to them. Pages are rendered on the server from the templates (package
// templates, fr and en), work without JavaScript, load nothing from
// elsewhere, and go out under a strict Content-Security-Policy. A GET
// never changes anything (link scanners follow GETs); a POST acts, with
// the link alone for the links of mail, with a session and a CSRF token
// for the member's page.
//
// One file per audience and page: unsubscribe.go (list members),
// agenda.go (the agenda's links), feeds.go (calendar clients),
// agenda_pages.go and agenda_event.go (the public agenda), signin.go,
// member.go and member_*.go (a member's page), session.go (who is signed
// in, CSRF, language), headers.go (what every answer says about itself);
// limit.go says who a client is (behind trusted proxies too) and how much
// it may ask (RFC 6585 429). Handlers parse the request, ask the domain
// through the interfaces in domain.go, and render; they hold no rule of
// their own.
package web

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// Pages renders a page in a language: fr or en.
type Pages interface {
	Page(lang, name string) (*template.Template, error)
}

// Config is how the server treats its clients.
type Config struct {
	// RequestsPerMinute is what one client may ask in a minute, given
	// back evenly; beyond, 429 with Retry-After. A client is an IPv4
	// address or an IPv6 /64. 0: no limit.
	RequestsPerMinute int
	// TrustedProxies are the reverse proxies in front of the server: for
	// their requests the client is read from X-Forwarded-For (see
	// Server.client); from anyone else that field is ignored.
	TrustedProxies []netip.Prefix
	// Secure: members reach the pages over https (web.base_url), so
	// cookies are sent only there.
	Secure bool
	// Secret keys the forms' CSRF tokens.
	Secret []byte
	// Now is the clock of the limit (default time.Now).
	Now func() time.Time
}

// Domain is what the pages ask of the rest of the hub, one interface per
// audience.
type Domain struct {
	Lists   Lists       // one-click unsubscribe
	Feeds   Feeds       // calendar feeds
	Links   AgendaLinks // the weekly agenda's links
	SignIn  SignIn      // sign-in by mail, sessions
	Members Members     // a member's own page
	Agenda  Agenda      // the public agenda's pages
	Console Console     // the console of owners, moderators, animators, operators
	API     API         // the REST API of the movement's platform
	Archive Archives    // list archives (nil: none)
}

// Server is the hub's HTTP server.
type Server struct {
	cfg     Config
	lists   Lists
	feeds   Feeds
	links   AgendaLinks
	signin  SignIn
	members Members
	agenda  Agenda
	console Console
	api     API
	archive Archives
	pages   Pages
	log     *slog.Logger
	srv     *http.Server
	limiter *limiter // nil: no limit
	routes  []string // the patterns served, for Routes
}

// Routes returns the patterns the server answers ("GET /agenda/stop/{token}"):
// what a reverse proxy in front must forward.
func (s *Server) Routes() []string { return s.routes }

// New returns the server; Serve starts it.
func New(cfg Config, d Domain, pages Pages, log *slog.Logger) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, lists: d.Lists, feeds: d.Feeds, links: d.Links, signin: d.SignIn, members: d.Members, agenda: d.Agenda,
		console: d.Console, api: d.API, archive: d.Archive, pages: pages, log: log}
	if cfg.RequestsPerMinute > 0 {
		s.limiter = newLimiter(cfg.RequestsPerMinute, cfg.Now)
	}
	mux := http.NewServeMux()
	handle := func(pattern string, h http.HandlerFunc) {
		s.routes = append(s.routes, pattern)
		mux.HandleFunc(pattern, h)
	}
	// The links of mail (RFC 8058 and the agenda's): a GET shows a button,
	// a POST acts, with the link alone.
	handle("/u/{token}", s.unsubscribe)
	handle("GET /agenda/stop/{token}", s.stop)
	handle("POST /agenda/stop/{token}", s.stop)
	handle("GET /agenda/start/{token}", s.start)
	handle("POST /agenda/start/{token}", s.start)
	handle("GET /agenda/attend/{token}", s.attend)
	handle("POST /agenda/attend/{token}", s.attend)
	// The public agenda: pages and feeds.
	handle("GET /agenda", s.agendaSearch)
	handle("GET /agenda/{kind}/{file}", s.feed)
	handle("GET /agenda/group/{file}/embed", s.embed)
	handle("POST /agenda/event/{file}/attend", s.eventAttend)
	handle("GET /agenda/confirm/{token}", s.attendConfirm)
	handle("POST /agenda/confirm/{token}", s.attendConfirm)
	// Signing in, and the member's page. Every POST carries a CSRF token.
	handle("GET /signin", s.signinForm)
	handle("POST /signin", s.signinRequest)
	handle("GET /signin/{token}", s.signinLink)
	handle("POST /signin/{token}", s.signinOpen)
	handle("POST /signout", s.signout)
	handle("POST /lang", s.setLang)
	handle("GET /me", s.memberPage)
	handle("POST /me/lists/{id}", s.memberList)
	handle("POST /me/join/{id}", s.memberJoin)
	handle("POST /me/agenda", s.memberAgenda)
	handle("GET /me/preview", s.memberPreview)
	handle("POST /me/attend/{id}/cancel", s.memberUnattend)
	handle("POST /me/link", s.memberLink)
	handle("POST /me/export", s.memberExport)
	handle("GET /me/erase", s.memberEraseForm)
	handle("POST /me/erase", s.memberErase)
	handle("POST /me/signout-everywhere", s.signoutEverywhere)
	// The console (console_*.go) and the REST API (api*.go).
	if s.console != nil {
		s.consoleRoutes(handle)
	}
	if s.api != nil {
		s.apiRoutes(handle)
	}
	handle("POST /me/app-passwords", s.memberAppPassword)
	handle("POST /me/app-passwords/{id}/revoke", s.memberRevoke)
	if s.archive != nil {
		s.archiveRoutes(handle)
	}
	handle("GET /static/relais.css", s.stylesheet)
	handle("GET /{$}", s.home)
	// Every answer counts against the client's rate, the 404s as much as
	// the feeds: guessing costs the guesser.
	s.srv = &http.Server{Handler: s.limit(s.secure(s.person(mux))), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
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

// render writes a page of the mail links in a language with status code:
// personal pages, never cached nor referred.
func (s *Server) render(w http.ResponseWriter, lang, page string, code int, data any) {
	t, err := s.pages.Page(lang, page)
	if err != nil {
		s.log.Error("page", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(code)
	if err := t.Execute(w, data); err != nil {
		s.log.Error("page", "page", page, "err", err)
	}
}
