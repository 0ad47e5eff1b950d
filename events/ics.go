package events

import (
	"bytes"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-ical"
	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset"
)

// iTIP methods (RFC 5546 §1.4) the hub acts on.
const (
	MethodPublish = "PUBLISH"
	MethodRequest = "REQUEST"
	MethodCancel  = "CANCEL"
)

// Invitation is what an iCalendar object says: its method and its events.
type Invitation struct {
	Method string
	Events []Event
	// Notes are things worth telling the sender: a time zone guessed, a
	// recurring event taken as its first occurrence.
	Notes []string
	// Form: the event came from the text form; FormUID: the form named an
	// existing event (Id :).
	Form, FormUID bool
}

// ParseICS reads an iCalendar object (RFC 5545). Only the events matter:
// each VEVENT without RECURRENCE-ID becomes an Event; times are read in
// their TZID, which may be an IANA name, a Windows name (Outlook's
// "Romance Standard Time") or a VTIMEZONE that names its IANA zone
// (X-LIC-LOCATION, as Thunderbird writes).
func ParseICS(r io.Reader) (inv Invitation, err error) {
	defer func() {
		// go-ical's decoder panics on some malformed lines ("0;0=").
		if p := recover(); p != nil {
			inv, err = Invitation{}, &Problem{Code: ProblemCalendarUnreadable, Err: fmt.Errorf("%v", p)}
		}
	}()
	cal, err := ical.NewDecoder(r).Decode()
	if err != nil {
		return inv, &Problem{Code: ProblemCalendarUnreadable, Err: err}
	}
	inv.Method = strings.ToUpper(strings.TrimSpace(propText(cal.Props.Get(ical.PropMethod))))
	zones := map[string]string{} // TZID → IANA, from the VTIMEZONEs
	for _, c := range cal.Children {
		if c.Name != ical.CompTimezone {
			continue
		}
		id := propText(c.Props.Get(ical.PropTimezoneID))
		if loc := propText(c.Props.Get("X-LIC-LOCATION")); loc != "" {
			zones[id] = loc
		}
	}
	recurring := false
	for _, c := range cal.Children {
		if c.Name != ical.CompEvent {
			continue
		}
		if c.Props.Get(ical.PropRecurrenceID) != nil {
			continue // an exception of a recurring event: the master is enough
		}
		if c.Props.Get(ical.PropRecurrenceRule) != nil {
			recurring = true
		}
		e, err := readEvent(c, zones, &inv)
		if err != nil {
			return inv, err
		}
		if inv.Method == MethodCancel {
			e.Status = Cancelled
		}
		inv.Events = append(inv.Events, e)
	}
	if len(inv.Events) == 0 {
		return inv, ErrNoEvent
	}
	if recurring {
		inv.Notes = append(inv.Notes, "recurring")
	}
	return inv, nil
}

func readEvent(c *ical.Component, zones map[string]string, inv *Invitation) (Event, error) {
	e := Event{
		UID:     strings.TrimSpace(propText(c.Props.Get(ical.PropUID))),
		Title:   propText(c.Props.Get(ical.PropSummary)),
		Details: strings.TrimSpace(propText(c.Props.Get(ical.PropDescription))),
		Place:   strings.TrimSpace(propText(c.Props.Get(ical.PropLocation))),
		URL:     strings.TrimSpace(propText(c.Props.Get(ical.PropURL))),
		Public:  true,
		Status:  Confirmed,
	}
	if p := c.Props.Get(ical.PropSequence); p != nil {
		e.Sequence, _ = strconv.Atoi(strings.TrimSpace(p.Value))
	}
	start := c.Props.Get(ical.PropDateTimeStart)
	if start == nil {
		return e, ErrNoStart
	}
	e.PostCode = PostCode(e.Place)
	tt := Territory(e.PostCode)
	var err error
	e.Start, e.AllDay, e.Zone, err = readTime(start, zones, tt, inv)
	if err != nil {
		return e, err
	}
	if end := c.Props.Get(ical.PropDateTimeEnd); end != nil {
		if e.End, _, _, err = readTime(end, zones, tt, inv); err != nil {
			return e, err
		}
	} else if d := c.Props.Get(ical.PropDuration); d != nil {
		dur, err := d.Duration()
		if err != nil {
			return e, problem(ProblemDurationUnreadable, d.Value, err)
		}
		e.End = e.Start.Add(dur)
	}
	for _, p := range c.Props.Values(ical.PropCategories) {
		vals, _ := p.TextList()
		e.Themes = append(e.Themes, vals...)
	}
	switch strings.ToUpper(strings.TrimSpace(propText(c.Props.Get(ical.PropClass)))) {
	case "PRIVATE", "CONFIDENTIAL":
		e.Public = false
	}
	if strings.EqualFold(strings.TrimSpace(propText(c.Props.Get(ical.PropStatus))), "CANCELLED") {
		e.Status = Cancelled
	}
	if g := c.Props.Get(ical.PropGeo); g != nil {
		// GEO:lat;lon (RFC 5545 §3.8.1.6).
		if la, lo, ok := strings.Cut(g.Value, ";"); ok {
			lat, err1 := strconv.ParseFloat(strings.TrimSpace(la), 64)
			lon, err2 := strconv.ParseFloat(strings.TrimSpace(lo), 64)
			if err1 == nil && err2 == nil && lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180 {
				e.Lat, e.Lon, e.Located = lat, lon, true
			}
		}
	}
	if e.UID == "" {
		return e, problem(ProblemNoUID, "", nil)
	}
	if !ValidUID(e.UID) {
		return e, problem(ProblemBadUID, e.UID, nil)
	}
	return e, e.Check()
}

// readTime reads DTSTART or DTEND: a date (all day), a UTC time, or a
// local time in its TZID.
func readTime(p *ical.Prop, zones map[string]string, territory string, inv *Invitation) (t time.Time, allDay bool, zone string, err error) {
	v := strings.TrimSpace(p.Value)
	tzid := strings.Trim(p.Params.Get(ical.PropTimezoneID), `"`)
	zone = DefaultZone
	if tzid != "" {
		if z, ok := Zone(tzid, zones, territory); ok {
			zone = z
		} else {
			inv.Notes = append(inv.Notes, "zone:"+tzid)
		}
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return t, false, "", problem(ProblemZoneUnknown, zone, err)
	}
	switch {
	case strings.EqualFold(p.Params.Get(ical.ParamValue), "DATE") || len(v) == len("20060102"):
		t, err = time.ParseInLocation("20060102", v, loc)
		allDay = true
	case strings.HasSuffix(v, "Z"):
		t, err = time.Parse("20060102T150405Z", v)
		if tzid == "" {
			zone = DefaultZone // shown in French time; the instant is exact
		}
	default:
		t, err = time.ParseInLocation("20060102T150405", v, loc)
	}
	if err != nil {
		return t, false, "", problem(ProblemDateUnreadable, v, err)
	}
	return t, allDay, zone, nil
}

// Zone maps a TZID to an IANA zone: an IANA name itself; a Windows name
// (Outlook's "Romance Standard Time"), through CLDR's windowsZones for the
// territory of the place (ISO 3166 code: "SA Western Standard Time" is
// America/Martinique in MQ), else its default; or a VTIMEZONE of the
// calendar naming its zone (X-LIC-LOCATION).
func Zone(tzid string, vtimezones map[string]string, territory string) (string, bool) {
	if _, err := time.LoadLocation(tzid); err == nil && tzid != "" && tzid != "Local" {
		return tzid, true
	}
	if z, ok := windowsZonesByTerritory[tzid+"|"+territory]; ok {
		return z, true
	}
	if z, ok := windowsZones[tzid]; ok {
		return z, true
	}
	if z, ok := vtimezones[tzid]; ok {
		if _, err := time.LoadLocation(z); err == nil {
			return z, true
		}
	}
	// Some clients write "/mozilla.org/20050126_1/Europe/Paris": the
	// longest tail that is an IANA name.
	parts := strings.Split(strings.Trim(tzid, "/"), "/")
	for k := 0; k+1 < len(parts); k++ {
		cand := strings.Join(parts[k:], "/")
		if _, err := time.LoadLocation(cand); err == nil {
			return cand, true
		}
	}
	// "(UTC+01:00) Brussels, Copenhagen, Madrid, Paris", Outlook's display
	// name of Romance Standard Time.
	if strings.Contains(tzid, "Paris") {
		return "Europe/Paris", true
	}
	return "", false
}

func propText(p *ical.Prop) string {
	if p == nil {
		return ""
	}
	s, err := p.Text()
	if err != nil {
		return p.Value
	}
	return s
}

var postCodeRE = regexp.MustCompile(`\b((?:0[1-9]|[1-8][0-9]|9[0-8])[0-9]{3})\b`)

// PostCode finds a French postal code in an address: the last group of
// five digits that can be one.
func PostCode(place string) string {
	m := postCodeRE.FindAllStringSubmatch(place, -1)
	if len(m) == 0 {
		return ""
	}
	return m[len(m)-1][1]
}

// WriteICS writes events as one calendar (RFC 5545), times in UTC so that
// no VTIMEZONE is needed: every client shows them in its own zone.
func WriteICS(w io.Writer, name, prodID string, evs []Event, now time.Time) error {
	cal := ical.NewCalendar()
	cal.Props.SetText(ical.PropVersion, "2.0")
	cal.Props.SetText(ical.PropProductID, prodID)
	cal.Props.SetText(ical.PropMethod, MethodPublish)
	cal.Props.SetText("X-WR-CALNAME", name)
	cal.Props.SetText("X-WR-TIMEZONE", DefaultZone)
	// Times are in UTC, but a calendar needs one component at least (RFC
	// 5545 §3.4), also when nothing is planned: the zone events are shown
	// in by default.
	cal.Children = append(cal.Children, parisZone())
	for _, e := range evs {
		ev := ical.NewEvent()
		ev.Props.SetText(ical.PropUID, e.UID)
		ev.Props.SetDateTime(ical.PropDateTimeStamp, now.UTC())
		if e.AllDay {
			loc := e.Location()
			ev.Props.SetDate(ical.PropDateTimeStart, e.Start.In(loc))
			ev.Props.SetDate(ical.PropDateTimeEnd, e.End.In(loc))
		} else {
			ev.Props.SetDateTime(ical.PropDateTimeStart, e.Start.UTC())
			ev.Props.SetDateTime(ical.PropDateTimeEnd, e.End.UTC())
		}
		ev.Props.SetText(ical.PropSummary, e.Title)
		if e.Details != "" {
			ev.Props.SetText(ical.PropDescription, e.Details)
		}
		if e.Place != "" {
			ev.Props.SetText(ical.PropLocation, e.Place)
		}
		if e.Located {
			p := ical.NewProp(ical.PropGeo)
			p.Value = strconv.FormatFloat(e.Lat, 'f', 6, 64) + ";" + strconv.FormatFloat(e.Lon, 'f', 6, 64)
			ev.Props.Set(p)
		}
		if len(e.Themes) > 0 {
			p := ical.NewProp(ical.PropCategories)
			p.SetTextList(e.Themes)
			ev.Props.Set(p)
		}
		if u, err := url.Parse(e.URL); err == nil && e.URL != "" {
			ev.Props.SetURI(ical.PropURL, u)
		}
		seq := ical.NewProp(ical.PropSequence)
		seq.Value = strconv.Itoa(e.Sequence)
		ev.Props.Set(seq)
		if e.Status == Cancelled {
			ev.Props.SetText(ical.PropStatus, "CANCELLED")
		} else {
			ev.Props.SetText(ical.PropStatus, "CONFIRMED")
		}
		if !e.Public {
			ev.Props.SetText(ical.PropClass, "PRIVATE")
		}
		if !e.Updated.IsZero() {
			ev.Props.SetDateTime(ical.PropLastModified, e.Updated.UTC())
		}
		cal.Children = append(cal.Children, ev.Component)
	}
	var b bytes.Buffer
	if err := ical.NewEncoder(&b).Encode(cal); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

// parisZone is Europe/Paris as a VTIMEZONE (RFC 5545 §3.6.5): CET, and
// CEST from the last Sunday of March to the last Sunday of October.
func parisZone() *ical.Component {
	tz := ical.NewComponent(ical.CompTimezone)
	tz.Props.SetText(ical.PropTimezoneID, DefaultZone)
	part := func(name, start, from, to, abbr, rule string) {
		c := ical.NewComponent(name)
		for _, kv := range [][2]string{{ical.PropDateTimeStart, start}, {ical.PropTimezoneOffsetFrom, from},
			{ical.PropTimezoneOffsetTo, to}, {ical.PropTimezoneName, abbr}, {ical.PropRecurrenceRule, rule}} {
			p := ical.NewProp(kv[0])
			p.Value = kv[1]
			c.Props.Set(p)
		}
		tz.Children = append(tz.Children, c)
	}
	part(ical.CompTimezoneDaylight, "19700329T020000", "+0100", "+0200", "CEST", "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU")
	part(ical.CompTimezoneStandard, "19701025T030000", "+0200", "+0100", "CET", "FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU")
	return tz
}

// FromMessage reads the events of a mail message: its iCalendar parts
// (text/calendar, as an alternative or an attachment; application/ics;
// a .ics file), the same invitation met twice counted once, or else the
// form in its first text part. now dates a form without a year.
func FromMessage(msg []byte, now time.Time) (Invitation, error) {
	ent, err := message.Read(bytes.NewReader(msg))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return Invitation{}, &Problem{Code: ProblemMessageUnreadable, Err: err}
	}
	var cals [][]byte
	var text string
	var walk func(e *message.Entity, depth int)
	walk = func(e *message.Entity, depth int) {
		if depth > 10 {
			return
		}
		if mr := e.MultipartReader(); mr != nil {
			for {
				p, err := mr.NextPart()
				if err != nil {
					return
				}
				walk(p, depth+1)
			}
		}
		t, _, _ := e.Header.ContentType()
		_, disp, _ := e.Header.ContentDisposition()
		name := strings.ToLower(disp["filename"])
		if name == "" {
			_, ct, _ := e.Header.ContentType()
			name = strings.ToLower(ct["name"])
		}
		b, err := io.ReadAll(io.LimitReader(e.Body, 1<<20))
		if err != nil {
			return
		}
		switch {
		case t == "text/calendar" || t == "application/ics" || strings.HasSuffix(name, ".ics"):
			cals = append(cals, b)
		case t == "text/plain" && text == "":
			text = string(b)
		}
	}
	walk(ent, 0)
	if len(cals) == 0 {
		f, err := ParseForm(text, now, DefaultZone)
		if err != nil {
			return Invitation{}, err
		}
		method := MethodPublish
		if f.Status == Cancelled {
			method = MethodCancel
		}
		return Invitation{Method: method, Events: []Event{f.Event}, Form: true, FormUID: f.HasUID}, nil
	}
	var inv Invitation
	seen := map[string]int{}
	var firstErr error
	for _, c := range cals {
		one, err := ParseICS(bytes.NewReader(c))
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if inv.Method == "" {
			inv.Method = one.Method
		}
		for _, n := range one.Notes {
			if !slices.Contains(inv.Notes, n) {
				inv.Notes = append(inv.Notes, n)
			}
		}
		for _, e := range one.Events {
			if i, ok := seen[e.UID]; ok {
				if e.Sequence > inv.Events[i].Sequence {
					inv.Events[i] = e
				}
				continue
			}
			seen[e.UID] = len(inv.Events)
			inv.Events = append(inv.Events, e)
		}
	}
	if len(inv.Events) == 0 {
		return inv, firstErr
	}
	return inv, nil
}

// Territory is the ISO 3166 code of the territory of a French postal code:
// FR, or an overseas one (971 Guadeloupe but 97133 Saint-Barthélemy and
// 97150 Saint-Martin, 972 Martinique, 973 Guyane, 974 La Réunion, 975
// Saint-Pierre-et-Miquelon, 976 Mayotte, 986 Wallis-et-Futuna, 987
// Polynésie, 988 Nouvelle-Calédonie). "" for no postal code.
func Territory(postcode string) string {
	switch {
	case postcode == "":
		return ""
	case postcode == "97133":
		return "BL"
	case postcode == "97150":
		return "MF"
	}
	switch postcode[:min(3, len(postcode))] {
	case "971":
		return "GP"
	case "972":
		return "MQ"
	case "973":
		return "GF"
	case "974":
		return "RE"
	case "975":
		return "PM"
	case "976":
		return "YT"
	case "986":
		return "WF"
	case "987":
		return "PF"
	case "988":
		return "NC"
	}
	return "FR"
}
