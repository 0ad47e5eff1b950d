package digest

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"codeberg.org/relais/relais/events"
	"codeberg.org/relais/relais/templates"
)

// View is a member's digest as its templates (text and HTML) and the
// member's page, for its preview, show it.
type View struct {
	Email, Place, PostCode string
	Radius                 int
	Count                  int
	Own, Near, Themes      []ViewEvent
	Cancelled              []ViewEvent
	Stop                   string // one-click link
	Request                string // agenda+request@
	ChangeRadius           string // mailto: links with the command ready
	ChangePlace            string
	StopMail               string
	Manage                 string // link to the member's page, "" for none
}

// ViewEvent is one event of a View.
type ViewEvent struct {
	Title, When, Place, Distance, Organisers, Calendar, Themes, Details, Attend string
	MembersOnly                                                                 bool
}

// render builds a member's digest message: text and HTML from templates,
// with the headers of bulk mail done right (RFC 8058 one-click, List-Id,
// Auto-Submitted). byID finds the events the digest names.
func (s *Service) render(m Member, d Digest, byID func(int64) (*events.Event, bool), week string) ([]byte, error) {
	v := s.view(m, d, byID)
	if s.cfg.Manage != nil {
		v.Manage = s.cfg.Manage(m.Link, m.Email)
	}
	compose := s.texts.Compose
	if s.memo != nil {
		compose = s.memo.Compose
	}
	return compose(m.Lang, "agenda-digest", v, templates.Envelope{
		From:          "Agenda <agenda@" + s.cfg.Domain + ">",
		To:            m.Email,
		Hostname:      s.cfg.Hostname,
		AutoSubmitted: "auto-generated",
		Date:          s.cfg.Now(),
		HTML:          "agenda-digest",
		Header: [][2]string{
			{"List-Id", "Agenda <agenda." + s.cfg.Domain + ">"},
			// RFC 8058 §3.1: the HTTPS link first, a POST to it stops.
			{"List-Unsubscribe", "<" + v.Stop + ">, <" + v.StopMail + ">"},
			{"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"},
			{"Precedence", "bulk"},
			{"X-Agenda-Week", week},
		},
	})
}

// view is what the templates of m's digest d show; byID finds the events
// it names.
func (s *Service) view(m Member, d Digest, byID func(int64) (*events.Event, bool)) View {
	loc := m.Location()
	lang := m.Lang
	conv := func(items []Item) []ViewEvent {
		if len(items) == 0 {
			return nil
		}
		out := make([]ViewEvent, 0, len(items))
		for _, it := range items {
			e, ok := byID(it.ID)
			if !ok {
				continue
			}
			v := s.eventView(e, lang, loc)
			v.Attend = s.cfg.WebURL + "/agenda/attend/" + s.AttendToken(m, e.ID)
			if it.Km >= 0 && e.Located {
				v.Distance = distance(lang, it.Km)
			}
			out = append(out, v)
		}
		return out
	}
	v := View{Email: m.Email, Place: m.Place, PostCode: m.PostCode, Radius: m.Radius,
		Own: conv(d.Own), Near: conv(d.Near), Themes: conv(d.Themes), Cancelled: conv(d.Cancelled),
		Stop: s.cfg.WebURL + "/agenda/stop/" + s.Token(m), Request: s.Request()}
	v.Count = len(v.Own) + len(v.Near) + len(v.Themes)
	mailto := func(subject string) string {
		return "mailto:" + s.Request() + "?subject=" + url.PathEscape(subject)
	}
	if lang == "en" {
		v.ChangeRadius, v.ChangePlace, v.StopMail = mailto("radius 40"), mailto("postcode "+m.PostCode), mailto("stop")
	} else {
		v.ChangeRadius, v.ChangePlace, v.StopMail = mailto("rayon 40"), mailto("code-postal "+m.PostCode), mailto("stop")
	}
	return v
}

// eventView is what a digest says of e that is the same for every member
// in lang and loc; the copies of a week's digests ask for each event
// thousands of times, so it is kept with the events (copies.views).
func (s *Service) eventView(e *events.Event, lang string, loc *time.Location) ViewEvent {
	key := viewKey{e, lang, loc}
	cs := &s.copies
	cs.viewsMu.RLock()
	v, ok := cs.views[key]
	cs.viewsMu.RUnlock()
	if ok {
		return v
	}
	at := e.Start.In(loc)
	if e.AllDay {
		at = e.Start.In(e.Location()) // a whole day is the day where it happens
	}
	v = ViewEvent{Title: e.Title, When: templates.When(lang, at, e.AllDay), Place: e.Place,
		Organisers: organisers(lang, e), Themes: strings.Join(e.Themes, ", "), MembersOnly: !e.Public,
		Details: short(e.Details)}
	if e.Public {
		// The web serves public events only: a members-only one has no
		// "add to my calendar" link (it would be a 404).
		v.Calendar = s.cfg.WebURL + "/agenda/event/" + url.PathEscape(e.UID) + ".ics"
	}
	cs.viewsMu.Lock()
	if cs.views == nil || len(cs.views) > maxViews {
		cs.views = make(map[viewKey]ViewEvent)
	}
	cs.views[key] = v
	cs.viewsMu.Unlock()
	return v
}

// viewKey: an event (as read at one events version: a change makes new
// *events.Event values), a language and a time zone.
type viewKey struct {
	e    *events.Event
	lang string
	loc  *time.Location
}

// maxViews bounds the views kept; past it they are made again.
const maxViews = 50000

// organisers says who organises an event: "organisé par Nantes Sud et
// Nantes Nord".
func organisers(lang string, e *events.Event) string {
	names := e.Names
	if len(names) == 0 {
		names = e.Groups
	}
	if len(names) == 0 {
		return ""
	}
	and, by := " et ", "organisé par "
	if lang == "en" {
		and, by = " and ", "organised by "
	}
	if len(names) == 1 {
		return by + names[0]
	}
	return by + strings.Join(names[:len(names)-1], ", ") + and + names[len(names)-1]
}

// distance is "à 12 km" ("12 km away"); under a kilometre, "à moins d'1 km".
func distance(lang string, km float64) string {
	switch {
	case km < 1 && lang == "en":
		return "less than 1 km away"
	case km < 1:
		return "à moins d'1 km"
	case lang == "en":
		return fmt.Sprintf("%.0f km away", km)
	}
	return fmt.Sprintf("à %.0f km", km)
}

// short is the beginning of a description, on one line.
func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len([]rune(s)) > 160 {
		r := []rune(s)[:157]
		return strings.TrimSpace(string(r)) + "…"
	}
	return s
}
