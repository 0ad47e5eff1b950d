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
	"strings"
	"sync"
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

// How much a digest holds at most, per section: a weekly mail people read,
// not a directory. The nearest events are kept, then shown by date; the
// feeds have the rest.
const (
	MaxOwn    = 30
	MaxNear   = 25
	MaxThemes = 10
)

// Member is someone who receives the digest.
type Member struct {
	Email    string
	Link     string // the random id the member's links name (stop, start, attend), never the address
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
	// Admitted are the groups of Groups whose members-only events they
	// see: those they animate, and those of lists where an owner, the
	// platform or an operator admitted them (lists.Admit); subscribing
	// oneself to a list of the code is not enough.
	Admitted []int64
	Created  time.Time
	Updated  time.Time
}

// Located says whether the member gave a place.
func (m Member) Located() bool { return m.INSEE != "" }

// Location is the member's time zone.
func (m Member) Location() *time.Location {
	if m.Zone == "" {
		m.Zone = events.DefaultZone
	}
	if loc, ok := zones.Load(m.Zone); ok {
		return loc.(*time.Location)
	}
	loc, err := time.LoadLocation(m.Zone)
	if err != nil {
		loc, _ = time.LoadLocation(events.DefaultZone)
	}
	zones.Store(m.Zone, loc)
	return loc
}

// zones caches the members' time zones: loading one reads a file.
var zones sync.Map

// Catalogue is the events of a run's window, indexed three ways: by
// place (a grid of located public events), by organising group, by theme.
// What selection looks at for every candidate is kept in flat arrays (a
// run looks at millions of candidates).
type Catalogue struct {
	Events  []events.Event
	byID    map[int64]int32
	index   geo.Index
	byGroup map[int64][]int32
	byTheme map[string][]int32
	start   []int64 // Unix seconds
	live    []bool  // not cancelled
	mark    []uint32
	gen     uint32
	hits    []geo.Hit
}

// NewCatalogue indexes evs (in date order, as events.Window gives them).
func NewCatalogue(evs []events.Event) *Catalogue {
	c := &Catalogue{Events: evs, byID: make(map[int64]int32, len(evs)),
		byGroup: map[int64][]int32{}, byTheme: map[string][]int32{},
		start: make([]int64, len(evs)), live: make([]bool, len(evs)), mark: make([]uint32, len(evs))}
	for i, e := range evs {
		id := int32(i)
		c.byID[e.ID] = id
		c.start[i], c.live[i] = e.Start.Unix(), e.Status != events.Cancelled
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
// [from, to); lastWeek lists what last week's digest announced. A
// catalogue serves one Select at a time.
func Select(m Member, c *Catalogue, from, to time.Time, lastWeek []int64) Digest {
	var d Digest
	c.gen++
	if c.gen == 0 { // wrapped: start the marks again
		clear(c.mark)
		c.gen = 1
	}
	gen := c.gen
	f, t := from.Unix(), to.Unix()
	take := func(i int32) bool {
		if c.mark[i] == gen || !c.live[i] || c.start[i] < f || c.start[i] >= t {
			return false
		}
		c.mark[i] = gen
		return true
	}
	distance := func(i int32) float64 {
		e := &c.Events[i]
		if !e.Located || !m.Located() {
			return -1
		}
		return geo.Distance(m.Point, geo.Point{Lat: e.Lat, Lon: e.Lon})
	}
	// 1. Their groups' events, members-only ones of the groups that
	// admitted them included.
	var own []int32
	for _, g := range m.Groups {
		admitted := slices.Contains(m.Admitted, g)
		for _, i := range c.byGroup[g] {
			if !admitted && !c.Events[i].Public {
				continue // another of its groups may have admitted them
			}
			if take(i) {
				own = append(own, i)
			}
		}
	}
	slices.Sort(own) // the catalogue is in date order
	for _, i := range own[:min(len(own), MaxOwn)] {
		d.Own = append(d.Own, Item{ID: c.Events[i].ID, Km: distance(i)})
	}
	// 2. Public events within the radius: the nearest MaxNear, by date.
	if m.Located() {
		// The nearest MaxNear, kept in order of distance as they come:
		// a city member may have thousands of events within reach.
		near := c.hits[:0]
		closer := func(a, b geo.Hit) bool { return a.Km < b.Km || a.Km == b.Km && a.ID < b.ID }
		c.index.Within(m.Point, float64(m.Radius), func(i int32, km float64) {
			h := geo.Hit{ID: i, Km: km}
			if len(near) == MaxNear && !closer(h, near[MaxNear-1]) {
				return
			}
			if !take(i) {
				return
			}
			if len(near) == MaxNear {
				c.mark[near[MaxNear-1].ID] = gen - 1 // pushed out: a theme may still bring it
				near = near[:MaxNear-1]
			}
			at, _ := slices.BinarySearchFunc(near, h, func(a, b geo.Hit) int {
				if closer(a, b) {
					return -1
				}
				return 1
			})
			near = slices.Insert(near, at, h)
		})
		slices.SortFunc(near, func(a, b geo.Hit) int { return int(a.ID - b.ID) })
		for _, h := range near {
			d.Near = append(d.Near, Item{ID: c.Events[h.ID].ID, Km: h.Km})
		}
		c.hits = near[:0]
	}
	// 3. Their themes, further away.
	var themed []int32
	for _, th := range m.Themes {
		for _, i := range c.byTheme[th] {
			if take(i) {
				themed = append(themed, i)
			}
		}
	}
	slices.Sort(themed)
	for _, i := range themed[:min(len(themed), MaxThemes)] {
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
