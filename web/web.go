// Package web is in charge of the few HTTP pages the hub serves where the
// standards want the web: the personal one-click unsubscribe link of list
// mail (RFC 8058), the links of the weekly agenda (stop, start, "je
// participe") and the groups' calendar feeds (RFC 5545). A GET shows a page
// with a button and changes nothing (link scanners follow GETs); a POST
// acts at once, with no login and no second step.
//
// One file per audience and page: unsubscribe.go (list members),
// agenda.go (the agenda's links), feeds.go (calendar clients); limit.go
// says who a client is (behind trusted proxies too) and how much it may
// ask (RFC 6585 429). Handlers parse the request, ask the domain through
// the interfaces below, and render; they hold no rule of their own.
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
	// Now is the clock of the limit (default time.Now).
	Now func() time.Time
}

// Server is the hub's HTTP server.
type Server struct {
	cfg     Config
	lists   Lists
	feeds   Feeds
	links   AgendaLinks
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
func New(cfg Config, lists Lists, feeds Feeds, links AgendaLinks, pages Pages, log *slog.Logger) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, lists: lists, feeds: feeds, links: links, pages: pages, log: log}
	if cfg.RequestsPerMinute > 0 {
		s.limiter = newLimiter(cfg.RequestsPerMinute, cfg.Now)
	}
	mux := http.NewServeMux()
	handle := func(pattern string, h http.HandlerFunc) {
		s.routes = append(s.routes, pattern)
		mux.HandleFunc(pattern, h)
	}
	handle("/u/{token}", s.unsubscribe)
	handle("GET /agenda/{kind}/{file}", s.feed)
	handle("GET /agenda/stop/{token}", s.stop)
	handle("POST /agenda/stop/{token}", s.stop)
	handle("GET /agenda/start/{token}", s.start)
	handle("POST /agenda/start/{token}", s.start)
	handle("GET /agenda/attend/{token}", s.attend)
	handle("POST /agenda/attend/{token}", s.attend)
	handle("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("relais\n"))
	})
	// Every answer counts against the client's rate, the 404s as much as
	// the feeds: guessing costs the guesser.
	s.srv = &http.Server{Handler: s.limit(mux), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
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

// render writes a page in a language with status code: personal pages,
// never cached nor referred.
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
