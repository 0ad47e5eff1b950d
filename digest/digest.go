// Package digest is in charge of the weekly digest of nearby events: the
// agenda's members (a place, a radius, a language, themes), choosing for
// each member what to announce, when it is due, and recording each member's
// digest of the week before it is queued, so that none is ever sent twice.
//
// A digest lists, each event once: first the events of the member's own
// groups, then the other public events within their radius, nearest
// first within a day, with the distance, then the events of the themes
// they follow further away; and the events of last week's digest that
// have been cancelled since. Nothing is sent when there is nothing to
// announce.
package digest

import (
	"slices"
	"sort"
	"strings"
	"time"

	"codeberg.org/relais/relais/events"
	"codeberg.org/relais/relais/geo"
)

// Radius bounds, in km (the member says "rayon 30").
const (
	DefaultRadius = 25
	MinRadius     = 1
	MaxRadius     = 200
)

// Member is someone who receives the digest.
type Member struct {
	Email    string
	PostCode string
	INSEE    string
	Place    string // commune name
	Point    geo.Point
	Radius   int // km
	Lang     string
	Zone     string // IANA: the member's dates, and the day the digest comes
	Themes   []string
	Active   bool
	Groups   []int64 // the groups they belong to
	Created  time.Time
	Updated  time.Time
}

// Located says whether the member gave a place.
func (m Member) Located() bool { return m.INSEE != "" }

// Location is the member's time zone.
func (m Member) Location() *time.Location {
	if loc, err := time.LoadLocation(m.Zone); err == nil && m.Zone != "" {
		return loc
	}
	loc, _ := time.LoadLocation(events.DefaultZone)
	return loc
}

// Catalogue is the events of a run's window, indexed three ways: by
// place (a grid of located public events), by organising group, by theme.
type Catalogue struct {
	Events  []events.Event
	byID    map[int64]int32
	index   geo.Index
	byGroup map[int64][]int32
	byTheme map[string][]int32
}

// NewCatalogue indexes evs (in date order, as events.Window gives them).
func NewCatalogue(evs []events.Event) *Catalogue {
	c := &Catalogue{Events: evs, byID: make(map[int64]int32, len(evs)),
		byGroup: map[int64][]int32{}, byTheme: map[string][]int32{}}
	for i, e := range evs {
		id := int32(i)
		c.byID[e.ID] = id
		for _, g := range e.GroupIDs {
			c.byGroup[g] = append(c.byGroup[g], id)
		}
		if !e.Public || e.Status == events.Cancelled {
			continue
		}
		if e.Located {
			c.index.Add(id, geo.Point{Lat: e.Lat, Lon: e.Lon})
		}
		for _, t := range e.Themes {
			c.byTheme[t] = append(c.byTheme[t], id)
		}
	}
	return c
}

// ByID finds an event of the catalogue.
func (c *Catalogue) ByID(id int64) (*events.Event, bool) {
	i, ok := c.byID[id]
	if !ok {
		return nil, false
	}
	return &c.Events[i], true
}

// Item is one event in a digest.
type Item struct {
	ID int64
	Km float64 // distance from the member, when the event is placed
}

// Digest is what one member gets one week.
type Digest struct {
	Own       []Item `json:"own,omitempty"`
	Near      []Item `json:"near,omitempty"`
	Themes    []Item `json:"themes,omitempty"`
	Cancelled []Item `json:"cancelled,omitempty"`
}

// Empty says whether there is nothing to announce.
func (d Digest) Empty() bool {
	return len(d.Own)+len(d.Near)+len(d.Themes)+len(d.Cancelled) == 0
}

// IDs lists every event the digest announces (not the cancelled ones).
func (d Digest) IDs() []int64 {
	var out []int64
	for _, s := range [][]Item{d.Own, d.Near, d.Themes} {
		for _, it := range s {
			out = append(out, it.ID)
		}
	}
	return out
}

// Select chooses member m's digest among the events of c starting in
// [from, to); lastWeek lists what last week's digest announced.
func Select(m Member, c *Catalogue, from, to time.Time, lastWeek []int64) Digest {
	var d Digest
	seen := map[int32]bool{}
	in := func(i int32) bool {
		e := &c.Events[i]
		return e.Status != events.Cancelled && !e.Start.Before(from) && e.Start.Before(to)
	}
	distance := func(i int32) float64 {
		e := &c.Events[i]
		if !e.Located || !m.Located() {
			return -1
		}
		return geo.Distance(m.Point, geo.Point{Lat: e.Lat, Lon: e.Lon})
	}
	// 1. Their groups' events, members-only ones included.
	var own []int32
	for _, g := range m.Groups {
		for _, i := range c.byGroup[g] {
			if !seen[i] && in(i) {
				seen[i] = true
				own = append(own, i)
			}
		}
	}
	slices.Sort(own) // the catalogue is in date order
	for _, i := range own {
		d.Own = append(d.Own, Item{ID: c.Events[i].ID, Km: distance(i)})
	}
	// 2. Public events within the radius.
	if m.Located() {
		var near []geo.Hit
		c.index.Within(m.Point, float64(m.Radius), func(i int32, km float64) {
			if !seen[i] && in(i) {
				seen[i] = true
				near = append(near, geo.Hit{ID: i, Km: km})
			}
		})
		sort.Slice(near, func(a, b int) bool { return near[a].ID < near[b].ID })
		for _, h := range near {
			d.Near = append(d.Near, Item{ID: c.Events[h.ID].ID, Km: h.Km})
		}
	}
	// 3. Their themes, further away.
	var themed []int32
	for _, t := range m.Themes {
		for _, i := range c.byTheme[t] {
			if !seen[i] && in(i) {
				seen[i] = true
				themed = append(themed, i)
			}
		}
	}
	slices.Sort(themed)
	for _, i := range themed {
		d.Themes = append(d.Themes, Item{ID: c.Events[i].ID, Km: distance(i)})
	}
	// 4. Cancelled since last week's digest announced them.
	for _, id := range lastWeek {
		if e, ok := c.ByID(id); ok && e.Status == events.Cancelled {
			d.Cancelled = append(d.Cancelled, Item{ID: id})
		}
	}
	return d
}

// Week is the ISO week of t: "2026-W48".
func Week(t time.Time) string {
	y, w := t.ISOWeek()
	return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC).Format("2006") + "-W" + twoDigits(w)
}

func twoDigits(n int) string {
	if n < 10 {
		return "0" + string(rune('0'+n))
	}
	return string(rune('0'+n/10)) + string(rune('0'+n%10))
}

// Schedule is when digests go out: a day of the week and an hour, in each
// member's own time zone.
type Schedule struct {
	Weekday time.Weekday
	Hour    int
}

// Due says whether m's digest of the week of now is due at now: now, in
// the member's zone, is past the week's day and hour.
func (s Schedule) Due(m Member, now time.Time) bool {
	t := now.In(m.Location())
	// Monday of t's ISO week, then the scheduled day of that week.
	back := (int(t.Weekday()) + 6) % 7
	monday := time.Date(t.Year(), t.Month(), t.Day()-back, 0, 0, 0, 0, t.Location())
	day := (int(s.Weekday) + 6) % 7
	at := time.Date(monday.Year(), monday.Month(), monday.Day()+day, s.Hour, 0, 0, 0, t.Location())
	return !t.Before(at)
}

// ParseWeekday reads "monday", "lundi", …
func ParseWeekday(s string) (time.Weekday, bool) {
	names := map[string]time.Weekday{
		"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
		"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
		"dimanche": time.Sunday, "lundi": time.Monday, "mardi": time.Tuesday, "mercredi": time.Wednesday,
		"jeudi": time.Thursday, "vendredi": time.Friday, "samedi": time.Saturday,
	}
	d, ok := names[strings.ToLower(strings.TrimSpace(s))]
	return d, ok
}
