package web

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// Feeds are the calendar feeds. Feed returns the iCalendar object (RFC
// 5545) of a feed: kind is "group" (key CODE.NAME), "zone" (a territory
// code), "theme" or "event" (key a UID); ErrNoFeed when there is no such
// group, territory, theme or public event.
type Feeds interface {
	Feed(ctx context.Context, kind, key string) ([]byte, error)
}

// ErrNoFeed: nothing is published under that name.
var ErrNoFeed = errors.New("web: no such feed")

// feed serves a calendar feed: /agenda/group/4405.nantes-sud.ics,
// /agenda/zone/44.ics, /agenda/theme/climat.ics, /agenda/event/UID.ics.
// Calendar clients poll it (webcal); only public events are in it.
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
