// Package web is in charge of the few HTTP pages the hub serves where the
// standards want the web: the personal one-click unsubscribe link of list
// mail (RFC 8058), the links of the weekly agenda (stop, start, "je
// participe") and the groups' calendar feeds (RFC 5545). A GET shows a page
// with a button and changes nothing (link scanners follow GETs); a POST
// acts at once, with no login and no second step.
//
// One file per audience and page: unsubscribe.go (list members),
// agenda.go (the agenda's links), feeds.go (calendar clients). Handlers
// parse the request, ask the domain through the interfaces below, and
// render; they hold no rule of their own.
package web

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Pages renders a page in a language: fr or en.
type Pages interface {
	Page(lang, name string) (*template.Template, error)
}

// Server is the hub's HTTP server.
type Server struct {
	lists Lists
	feeds Feeds
	links AgendaLinks
	pages Pages
	log   *slog.Logger
	srv   *http.Server
}

// New returns the server; Serve starts it.
func New(lists Lists, feeds Feeds, links AgendaLinks, pages Pages, log *slog.Logger) *Server {
	s := &Server{lists: lists, feeds: feeds, links: links, pages: pages, log: log}
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

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
