// Package events is in charge of the groups' events: what an event is,
// reading it from an iCalendar invitation (RFC 5545, RFC 5546 iTIP methods,
// as Thunderbird, Outlook and Google Calendar send them) or from a short
// plain-text form, and writing events out as iCalendar feeds.
package events

//go:generate go run ./gen/windowszones -in /tmp/cldr/node_modules/cldr-core/supplemental/windowsZones.json -out windowszones.go

import (
	"strings"
	"sync"
	"time"
)

// Status of an event (RFC 5545 §3.8.1.11).
const (
	Confirmed = "confirmed"
	Cancelled = "cancelled"
)

// DefaultZone is the time zone of an event that names none.
const DefaultZone = "Europe/Paris"

// Event is one event as the hub keeps it.
type Event struct {
	ID       int64
	UID      string // stable: the invitation's, or one the hub made
	Sequence int    // RFC 5545 §3.8.7.4: a higher one replaces
	Title    string
	Details  string // description
	Start    time.Time
	End      time.Time
	AllDay   bool
	Zone     string // IANA time zone the times are shown in
	Place    string // address text, as written
	PostCode string // French postal code found in the place, if any
	INSEE    string // commune, when the place was located
	Lat, Lon float64
	Located  bool     // Lat/Lon are known
	Themes   []string // tags, lower case
	Groups   []string // organising groups, CODE.NAME; several for a joint event
	GroupIDs []int64  // their ids, in the same order
	Names    []string // their display names, in the same order
	Public   bool     // false: members of the organising groups only
	Status   string   // Confirmed or Cancelled
	URL      string
	Created  time.Time
	Updated  time.Time
}

// Errors of reading an event: each a *Problem, which the templates put
// in words for the person who sent it.
var (
	ErrNoEvent  error = &Problem{Code: ProblemNoEvent}
	ErrNoStart  error = &Problem{Code: ProblemNoStart}
	ErrNoTitle  error = &Problem{Code: ProblemNoTitle}
	ErrBadTimes error = &Problem{Code: ProblemEndsBeforeStart}
)

// Location is the event's time zone, Europe/Paris when unknown.
func (e Event) Location() *time.Location {
	if e.Zone != "" {
		if loc, ok := zones.Load(e.Zone); ok {
			return loc.(*time.Location)
		}
		if loc, err := time.LoadLocation(e.Zone); err == nil {
			zones.Store(e.Zone, loc)
			return loc
		}
	}
	if loc, ok := zones.Load(DefaultZone); ok {
		return loc.(*time.Location)
	}
	loc, err := time.LoadLocation(DefaultZone)
	if err != nil {
		return time.UTC
	}
	zones.Store(DefaultZone, loc)
	return loc
}

// zones caches the time zones of events: loading one reads and parses a
// file, and a page of the agenda shows a hundred events.
var zones sync.Map

// Check completes and checks an event before it is stored.
func (e *Event) Check() error {
	e.Title = strings.TrimSpace(e.Title)
	if e.Title == "" {
		return ErrNoTitle
	}
	if e.Start.IsZero() {
		return ErrNoStart
	}
	if e.End.IsZero() {
		if e.AllDay {
			e.End = e.Start.AddDate(0, 0, 1)
		} else {
			e.End = e.Start.Add(2 * time.Hour)
		}
	}
	if e.End.Before(e.Start) {
		return ErrBadTimes
	}
	if e.Zone == "" {
		e.Zone = DefaultZone
	}
	if _, err := time.LoadLocation(e.Zone); err != nil {
		return problem(ProblemZoneUnknown, e.Zone, err)
	}
	if e.Status == "" {
		e.Status = Confirmed
	}
	seen := map[string]bool{}
	themes := e.Themes[:0:0]
	for _, t := range e.Themes {
		// A theme is a feed's name: one that cannot be is not kept.
		t, err := ParseTheme(t)
		if err == nil && !seen[t] {
			seen[t] = true
			themes = append(themes, t)
		}
	}
	e.Themes = themes
	return nil
}
