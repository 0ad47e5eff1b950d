package web

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// Feeds are the calendar feeds. Feed returns the iCalendar object (RFC
// 5545) of a feed: kind is "group" (key CODE.NAME), "zone" (a territory
// code), "theme" or "event" (key a UID). Three things might happen:
//   - the key does not follow the grammar of its kind (too long, control
//     characters, not a group address, territory code, theme or UID):
//     ErrBadFeedName, and nothing is looked up;
//   - it follows it but names nothing public (no such group, territory or
//     theme; an event that does not exist or is for members only):
//     ErrNoFeed, the same whatever the reason;
//   - otherwise the calendar, public events only, named from public data.
type Feeds interface {
	Feed(ctx context.Context, kind, key string) ([]byte, error)
}

var (
	// ErrNoFeed: nothing is published under that name.
	ErrNoFeed = errors.New("web: no such feed")
	// ErrBadFeedName: that cannot be a feed's name.
	ErrBadFeedName = errors.New("web: not a feed name")
)

// feed serves a calendar feed: /agenda/group/4405.nantes-sud.ics,
// /agenda/zone/44.ics, /agenda/theme/climat.ics, /agenda/event/UID.ics.
// Calendar clients poll it (webcal); only public events are in it. What
// the client sent is never echoed: not in the answer, not in the log.
//
// The same URL without .ics, or with .html, is the page of the same
// events (agenda_pages.go): a calendar client asking for text/calendar
// gets the feed there too.
func (s *Server) feed(w http.ResponseWriter, r *http.Request) {
	file, kind := r.PathValue("file"), r.PathValue("kind")
	if kind != "group" && kind != "zone" && kind != "theme" && kind != "event" {
		status(w, http.StatusNotFound)
		return
	}
	key, ok := strings.CutSuffix(file, ".ics")
	if !ok {
		html := true
		key, html = strings.CutSuffix(file, ".html")
		if !html {
			// One URL, two representations: a cache must keep them apart.
			w.Header().Add("Vary", "Accept")
		}
		if !html && wantsCalendar(r) {
			ok = true
		} else {
			s.listing(w, r, kind, key)
			return
		}
	}
	if s.feeds == nil {
		status(w, http.StatusNotFound)
		return
	}
	b, err := s.feeds.Feed(r.Context(), kind, key)
	switch {
	case errors.Is(err, ErrBadFeedName):
		status(w, http.StatusBadRequest)
		return
	case errors.Is(err, ErrNoFeed):
		status(w, http.StatusNotFound)
		return
	case err != nil:
		s.log.Error("feed", "kind", kind, "key_bytes", len(key), "err", err)
		status(w, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/calendar; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=900")
	w.Write(b)
}

// wantsCalendar says whether a request for an agenda's URL without an
// extension prefers the iCalendar feed to the page (RFC 9110 §12.5.1): a
// calendar client says text/calendar and not text/html.
func wantsCalendar(r *http.Request) bool {
	a := r.Header.Get("Accept")
	return strings.Contains(a, "text/calendar") && !strings.Contains(a, "text/html")
}

// status answers code with its standard reason phrase (RFC 9110 §15) and
// nothing else: the same bytes whatever led to it.
func status(w http.ResponseWriter, code int) {
	h := w.Header()
	h.Del("Vary") // the same answer whatever the request said
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write([]byte(http.StatusText(code) + "\n"))
}
