package hub

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"codeberg.org/relais/relais/events"
	"codeberg.org/relais/relais/groups"
	"codeberg.org/relais/relais/queue"
	"codeberg.org/relais/relais/store"
	"codeberg.org/relais/relais/templates"
)

// Events written on the console or through the API: the same rules and
// notices as mail to +agenda (events.SaveAs, attendees told of a change or
// a cancellation).

// saveEventAs stores e as organised by g, published by who (an animator
// of g, or an operator), and tells the attendees of a change.
func (h *Hub) saveEventAs(tx *store.Tx, e *events.Event, g groups.Group, who string) (events.Outcome, error) {
	h.locate(e, g)
	if err := e.Check(); err != nil {
		return "", err
	}
	outcome, err := events.SaveAs(tx, e, g.ID, who, h.now())
	if err != nil {
		return "", err
	}
	if outcome == events.Updated || outcome == events.Withdrawn {
		if full, err := events.GetTx(tx, e.ID); err == nil {
			if err := h.tellAttendees(tx, full, outcome); err != nil {
				return "", err
			}
		}
	}
	return outcome, nil
}

// formEvent reads an event as an animator typed it: a day, a start and an
// end time of day on the wall clock of its place (or of its group's
// commune), a comma-separated list of themes.
func (h *Hub) formEvent(g groups.Group, title, date, at, end, place, themes, details string, public bool) (events.Event, error) {
	paris := parisZone()
	e := events.Event{Title: strings.TrimSpace(title), Place: strings.TrimSpace(place), Details: strings.TrimSpace(details),
		Public: public, Zone: events.DefaultZone, Status: events.Confirmed, PostCode: events.PostCode(place)}
	day, err := time.ParseInLocation("2006-01-02", strings.TrimSpace(date), paris)
	if err != nil {
		return e, errors.New("date: a day as 2026-12-12")
	}
	if strings.TrimSpace(at) == "" {
		e.Start, e.AllDay = day, true
	} else {
		t, err := time.Parse("15:04", strings.TrimSpace(at))
		if err != nil {
			return e, errors.New("time: as 14:30")
		}
		e.Start = time.Date(day.Year(), day.Month(), day.Day(), t.Hour(), t.Minute(), 0, 0, paris)
		if strings.TrimSpace(end) != "" {
			u, err := time.Parse("15:04", strings.TrimSpace(end))
			if err != nil {
				return e, errors.New("end: as 16:30")
			}
			e.End = time.Date(day.Year(), day.Month(), day.Day(), u.Hour(), u.Minute(), 0, 0, paris)
			if !e.End.After(e.Start) {
				return e, errors.New("the end comes before the start")
			}
		}
	}
	for _, t := range strings.Split(themes, ",") {
		if t = strings.TrimSpace(t); t != "" {
			e.Themes = append(e.Themes, t)
		}
	}
	if e.Title == "" {
		return e, errors.New("a title is needed")
	}
	h.formZone(&e, g)
	return e, nil
}

// messageAttendees writes subject and body to every attendee of event e,
// from group g's address: one copy each, so nobody sees anyone else's
// address; replies go to the group's animators.
func (h *Hub) messageAttendees(tx *store.Tx, e events.Event, g groups.Group, subject, body string) (int, error) {
	rows, err := tx.Query("attendee.of-event", e.ID)
	if err != nil {
		return 0, err
	}
	type who struct{ email, lang string }
	var list []who
	for rows.Next() {
		var w who
		if err := rows.Scan(&w.email, &w.lang); err != nil {
			rows.Close()
			return 0, err
		}
		list = append(list, w)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, err
	}
	domain := h.Config.Domains[0]
	name := strings.NewReplacer(`"`, `'`, "\r", "", "\n", "").Replace(g.DisplayName)
	for _, w := range list {
		msg, err := h.Texts.Compose(w.lang, "event-message", map[string]any{"Sender": g.DisplayName, "Subject": subject,
			"Body": body, "Event": h.describe(e, w.lang)}, templates.Envelope{
			From:          fmt.Sprintf(`"%s" <liste-%s@%s>`, name, g.Local(), domain),
			To:            w.email,
			Hostname:      h.Config.Hostname,
			AutoSubmitted: "auto-generated",
			Date:          h.now(),
			Header:        [][2]string{{"Reply-To", g.Address(domain)}},
		})
		if err != nil {
			return 0, err
		}
		id := store.NewID()
		utf8, eight := queue.Needs(msg)
		if _, err := tx.Exec("message.insert", id, h.now().Unix(), "", "", "", utf8, eight, len(msg), msg); err != nil {
			return 0, err
		}
		if _, err := h.Queue.Enqueue(tx, queue.Message{MessageID: id, To: []string{w.email}, Kind: "agenda"}); err != nil {
			return 0, err
		}
	}
	return len(list), nil
}
