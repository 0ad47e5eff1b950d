package web

import (
	"errors"
	"net/http"
	"strconv"
)

// consoleGroupPage is a group's page for its animators.
type consoleGroupPage struct {
	ConsoleGroup
	Done string
}

// consoleGroup is a group's page: its animators, its events.
func (s *Server) consoleGroup(w http.ResponseWriter, r *http.Request) {
	who, ok := s.consoleWho(w, r, false)
	if !ok {
		return
	}
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	g, err := s.console.Group(r.Context(), who, id, language(r))
	if s.consoleErr(w, r, err) {
		return
	}
	s.page(w, r, http.StatusOK, "web/console-group", consoleGroupPage{ConsoleGroup: g, Done: doneWord(r)})
}

// consoleEventPage is an event's page, or the form of a new one.
type consoleEventPage struct {
	ConsoleEvent
	New     bool
	Done    string
	Problem string
	Sent    int
}

// consoleNewEvent is the form of a new event of a group.
func (s *Server) consoleNewEvent(w http.ResponseWriter, r *http.Request) {
	who, ok := s.consoleWho(w, r, false)
	if !ok {
		return
	}
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	g, err := s.console.Group(r.Context(), who, id, language(r))
	if s.consoleErr(w, r, err) {
		return
	}
	s.page(w, r, http.StatusOK, "web/console-event", consoleEventPage{New: true,
		ConsoleEvent: ConsoleEvent{GroupID: g.ID, Group: g.Address, Form: EventForm{Public: true}}})
}

func eventForm(r *http.Request) EventForm {
	p := r.PostForm
	return EventForm{Title: oneLineForm(p.Get("title")), Date: p.Get("date"), Time: p.Get("time"), End: p.Get("end"),
		Place: oneLineForm(p.Get("place")), Themes: oneLineForm(p.Get("themes")), Public: p.Get("public") == "on", Details: p.Get("details")}
}

// consoleCreateEvent publishes a new event of a group.
func (s *Server) consoleCreateEvent(w http.ResponseWriter, r *http.Request) {
	who, ok := s.consoleWho(w, r, true)
	if !ok {
		return
	}
	gid, ok := s.pathID(w, r)
	if !ok {
		return
	}
	f := eventForm(r)
	id, err := s.console.SaveEvent(r.Context(), who, gid, 0, f, s.client(r).String())
	var inv *Invalid
	if errors.As(err, &inv) {
		g, gerr := s.console.Group(r.Context(), who, gid, language(r))
		if s.consoleErr(w, r, gerr) {
			return
		}
		s.page(w, r, http.StatusUnprocessableEntity, "web/console-event", consoleEventPage{New: true, Problem: inv.Problem,
			ConsoleEvent: ConsoleEvent{GroupID: g.ID, Group: g.Address, Form: f}})
		return
	}
	if s.consoleErr(w, r, err) {
		return
	}
	http.Redirect(w, r, "/console/events/"+strconv.FormatInt(id, 10)+"?done=created", http.StatusSeeOther)
}

// consoleEvent is an event's page: its form, its attendees, a message
// to them.
func (s *Server) consoleEvent(w http.ResponseWriter, r *http.Request) {
	who, ok := s.consoleWho(w, r, false)
	if !ok {
		return
	}
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	e, err := s.console.Event(r.Context(), who, id, language(r))
	if s.consoleErr(w, r, err) {
		return
	}
	sent, _ := strconv.Atoi(r.URL.Query().Get("sent"))
	s.page(w, r, http.StatusOK, "web/console-event", consoleEventPage{ConsoleEvent: e, Done: doneWord(r), Sent: sent})
}

// consoleUpdateEvent changes an event; its attendees are told.
func (s *Server) consoleUpdateEvent(w http.ResponseWriter, r *http.Request) {
	who, ok := s.consoleWho(w, r, true)
	if !ok {
		return
	}
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	f := eventForm(r)
	_, err := s.console.SaveEvent(r.Context(), who, 0, id, f, s.client(r).String())
	var inv *Invalid
	if errors.As(err, &inv) {
		e, eerr := s.console.Event(r.Context(), who, id, language(r))
		if s.consoleErr(w, r, eerr) {
			return
		}
		e.Form = f
		s.page(w, r, http.StatusUnprocessableEntity, "web/console-event", consoleEventPage{ConsoleEvent: e, Problem: inv.Problem})
		return
	}
	if s.consoleErr(w, r, err) {
		return
	}
	http.Redirect(w, r, "/console/events/"+strconv.FormatInt(id, 10)+"?done=updated", http.StatusSeeOther)
}

// consoleCancelEvent cancels an event; its attendees are told.
func (s *Server) consoleCancelEvent(w http.ResponseWriter, r *http.Request) {
	who, ok := s.consoleWho(w, r, true)
	if !ok {
		return
	}
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	if s.consoleErr(w, r, s.console.CancelEvent(r.Context(), who, id, s.client(r).String())) {
		return
	}
	http.Redirect(w, r, "/console/events/"+strconv.FormatInt(id, 10)+"?done=cancelled", http.StatusSeeOther)
}

// consoleMessage writes to every attendee of an event through the hub.
func (s *Server) consoleMessage(w http.ResponseWriter, r *http.Request) {
	who, ok := s.consoleWho(w, r, true)
	if !ok {
		return
	}
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	n, err := s.console.MessageAttendees(r.Context(), who, id, oneLineForm(r.PostForm.Get("subject")), r.PostForm.Get("body"), s.client(r).String())
	var inv *Invalid
	if errors.As(err, &inv) {
		e, eerr := s.console.Event(r.Context(), who, id, language(r))
		if s.consoleErr(w, r, eerr) {
			return
		}
		s.page(w, r, http.StatusUnprocessableEntity, "web/console-event", consoleEventPage{ConsoleEvent: e, Problem: inv.Problem})
		return
	}
	if s.consoleErr(w, r, err) {
		return
	}
	http.Redirect(w, r, "/console/events/"+strconv.FormatInt(id, 10)+"?done=sent&sent="+strconv.Itoa(n)+"#attendees", http.StatusSeeOther)
}
