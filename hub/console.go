package hub

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"codeberg.org/relais/relais/access"
	"codeberg.org/relais/relais/audit"
	"codeberg.org/relais/relais/events"
	"codeberg.org/relais/relais/groups"
	"codeberg.org/relais/relais/internal/mailview"
	"codeberg.org/relais/relais/lists"
	"codeberg.org/relais/relais/store"
	"codeberg.org/relais/relais/templates"
	"codeberg.org/relais/relais/tickets"
	"codeberg.org/relais/relais/web"
)

// webConsole adapts access, lists, groups, events, tickets and audit to
// the console's pages: each method reads the person's roles (package
// access) and asks the package that holds the rule.
type webConsole struct{ h *Hub }

func (c webConsole) roles(ctx context.Context, who string) (access.Roles, error) {
	return access.Of(ctx, c.h.DB, who, c.h.Config.Operators)
}

func actor(who, via, client string) audit.Actor { return audit.Actor{Who: who, Via: via, From: client} }

func when(lang string, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return templates.Day(lang, t.In(parisZone())) + " " + t.In(parisZone()).Format("15:04")
}

func ageWords(lang string, t time.Time, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	h := int(d.Hours())
	switch {
	case h < 1 && lang == "en":
		return strconv.Itoa(int(d.Minutes())) + " min"
	case h < 1:
		return strconv.Itoa(int(d.Minutes())) + " min"
	case h < 48 && lang == "en":
		return strconv.Itoa(h) + " h"
	case h < 48:
		return strconv.Itoa(h) + " h"
	case lang == "en":
		return strconv.Itoa(h/24) + " days"
	}
	return strconv.Itoa(h/24) + " jours"
}

func (c webConsole) Home(ctx context.Context, who string) (web.ConsoleHome, error) {
	r, err := c.roles(ctx, who)
	if err != nil {
		return web.ConsoleHome{}, err
	}
	if !r.Any() {
		return web.ConsoleHome{}, web.ErrNoRole
	}
	out := web.ConsoleHome{Operator: r.Operator}
	all, err := lists.All(ctx, c.h.DB)
	if err != nil {
		return out, err
	}
	for _, l := range all {
		if !r.Moderates(l.ID) {
			continue
		}
		role := r.Lists[l.ID]
		if role == "" {
			role = "operator"
		}
		var n int
		if err := c.h.DB.QueryRow(ctx, "held.waiting-of-list", l.ID).Scan(&n); err != nil {
			return out, err
		}
		out.Lists = append(out.Lists, web.ConsoleListRow{ID: l.ID, Address: c.h.Lists.Address(l, ""), Name: l.DisplayName, Role: role, Held: n})
	}
	gs, err := groups.List(ctx, c.h.DB)
	if err != nil {
		return out, err
	}
	for _, g := range gs {
		if r.Animates(g.ID) {
			out.Groups = append(out.Groups, web.ConsoleGroupRow{ID: g.ID, Address: g.Local(), Name: g.DisplayName})
		}
	}
	qs, err := tickets.Queues(ctx, c.h.DB)
	if err != nil {
		return out, err
	}
	for _, q := range qs {
		if r.ReadsQueue(q.Name) {
			out.Queues = append(out.Queues, q.Name)
		}
	}
	return out, nil
}

// list reads list id when who moderates it (owner: when who owns it).
func (c webConsole) list(ctx context.Context, who string, id int64, owner bool) (lists.List, access.Roles, error) {
	r, err := c.roles(ctx, who)
	if err != nil {
		return lists.List{}, r, err
	}
	if !r.Any() {
		return lists.List{}, r, web.ErrNoRole
	}
	if (owner && !r.Owns(id)) || !r.Moderates(id) {
		return lists.List{}, r, web.ErrNotYours
	}
	l, _, err := lists.SettingsOf(ctx, c.h.DB, id)
	if errors.Is(err, lists.ErrNotFound) {
		return l, r, web.ErrNotYours
	}
	return l, r, err
}

func heldRow(h lists.Held, lang string, now time.Time) web.HeldRow {
	return web.HeldRow{ID: h.ID, Poster: h.Poster, Subject: h.Subject, Reason: h.Reason, State: h.State, DecidedBy: h.DecidedBy,
		HeldAt: when(lang, h.HeldAt), Age: ageWords(lang, h.HeldAt, now), Expires: when(lang, h.Expires)}
}

func (c webConsole) List(ctx context.Context, who string, id int64, lang string) (web.ConsoleList, error) {
	l, r, err := c.list(ctx, who, id, false)
	if err != nil {
		return web.ConsoleList{}, err
	}
	now := c.h.now()
	out := web.ConsoleList{ID: l.ID, Address: c.h.Lists.Address(l, ""), Name: l.DisplayName, Owner: r.Owns(id)}
	hs, err := lists.HeldPosts(ctx, c.h.DB, id, "")
	if err != nil {
		return out, err
	}
	for _, h := range hs {
		if h.State == "held" {
			out.Held = append(out.Held, heldRow(h, lang, now))
		}
	}
	for i := len(hs) - 1; i >= 0 && len(out.Decided) < 20; i-- {
		if hs[i].State != "held" {
			out.Decided = append(out.Decided, heldRow(hs[i], lang, now))
		}
	}
	if !out.Owner {
		return out, nil
	}
	act, err := lists.ActivityOf(ctx, c.h.DB, id, 8, now)
	if err != nil {
		return out, err
	}
	out.Activity = web.ActivityView{Active: act.Members["active"], Bouncing: act.Members["bouncing"], Left: act.Members["unsubscribed"],
		Held: act.Held, OldestHeld: ageWords(lang, act.OldestHeld, now)}
	for _, w := range act.Weeks {
		out.Activity.Weeks = append(out.Activity.Weeks, web.WeekRow{Week: templates.Day(lang, w.Start.In(parisZone())),
			Posts: w.Posts, Joins: w.Joins, Leaves: w.Leaves, Bounces: w.Bounces})
	}
	ss, err := lists.Senders(ctx, c.h.DB, id)
	if err != nil {
		return out, err
	}
	for _, s := range ss {
		out.Senders = append(out.Senders, web.SenderRow{Email: s.Email, Rule: s.Rule, Since: templates.Day(lang, s.Since.In(parisZone())), By: s.By})
	}
	return out, nil
}

// heldPost reads held post id when who moderates its list.
func (c webConsole) heldPost(ctx context.Context, who string, id int64) (lists.Held, int64, error) {
	h, err := lists.HeldPost(ctx, c.h.DB, id)
	if errors.Is(err, lists.ErrNotFound) {
		return h, 0, web.ErrNotYours
	} else if err != nil {
		return h, 0, err
	}
	l, err := lists.Find(ctx, c.h.DB, h.List)
	if err != nil {
		return h, 0, err
	}
	if _, _, err := c.list(ctx, who, l.ID, false); err != nil {
		return h, 0, err
	}
	return h, l.ID, nil
}

func (c webConsole) Held(ctx context.Context, who string, id int64, lang string) (web.HeldView, error) {
	h, listID, err := c.heldPost(ctx, who, id)
	if err != nil {
		return web.HeldView{}, err
	}
	v := mailview.View(h.Raw)
	out := web.HeldView{HeldRow: heldRow(h, lang, c.h.now()), ListID: listID, List: h.List, Fields: v.Fields, Text: v.Text,
		HTML: template.HTML(v.HTML)} // sanitised by mailview (bluemonday)
	for _, a := range v.Attachments {
		out.Attachments = append(out.Attachments, web.AttachmentRow{Name: a.Name, Type: a.Type, Size: a.Size})
	}
	return out, nil
}

func (c webConsole) Decide(ctx context.Context, who string, id int64, action, reason, client string) error {
	if _, _, err := c.heldPost(ctx, who, id); err != nil {
		return err
	}
	d := lists.Decision{Approve: action == "approve" || action == "accept", Why: reason}
	switch action {
	case "accept":
		d.Sender = lists.SenderAccept
	case "ban":
		d.Sender = lists.SenderBan
	}
	err := c.h.Lists.Moderate(ctx, id, d, actor(who, audit.ViaWeb, client))
	if errors.Is(err, lists.ErrDecided) {
		return web.ErrDecided
	}
	return err
}

func (c webConsole) SetSender(ctx context.Context, who string, id int64, email, rule, client string) error {
	if _, _, err := c.list(ctx, who, id, true); err != nil {
		return err
	}
	err := c.h.Lists.SetSender(ctx, id, email, rule, actor(who, audit.ViaWeb, client))
	if err != nil && !errors.Is(err, lists.ErrNotFound) && strings.Contains(err.Error(), "not an email address") {
		return &web.Invalid{Problem: err.Error()}
	}
	return err
}

func memberRow(m lists.Member, lang string) web.MemberRow {
	return web.MemberRow{ID: m.ID, Email: m.Email, State: m.State, Mode: m.Mode, Paused: m.Paused, Since: templates.Day(lang, m.ConsentAt.In(parisZone())), Bounce: m.Bounce,
		Admitted: m.Admitted}
}

// membersPage is how many members a page shows.
const membersPage = 50

func (c webConsole) Members(ctx context.Context, who string, id int64, q web.MemberQuery, lang string) (web.ConsoleMembers, error) {
	l, _, err := c.list(ctx, who, id, true)
	if err != nil {
		return web.ConsoleMembers{}, err
	}
	out := web.ConsoleMembers{ListID: id, Address: c.h.Lists.Address(l, ""), Name: l.DisplayName, Query: q}
	ms, err := lists.Search(ctx, c.h.DB, id, q.Text, q.State, membersPage+1, q.Page*membersPage)
	if err != nil {
		return out, err
	}
	if len(ms) > membersPage {
		out.More, ms = true, ms[:membersPage]
	}
	for _, m := range ms {
		out.Members = append(out.Members, memberRow(m, lang))
	}
	if q.Member != 0 {
		m, err := lists.MemberByID(ctx, c.h.DB, id, q.Member)
		if errors.Is(err, lists.ErrNotMember) {
			return out, web.ErrNotYours
		} else if err != nil {
			return out, err
		}
		d := &web.MemberDetail{MemberRow: memberRow(m, lang), ConsentHow: m.ConsentHow, LeftHow: m.LeftHow}
		if !m.LeftAt.IsZero() {
			d.Left = templates.Day(lang, m.LeftAt.In(parisZone()))
		}
		bs, err := lists.Bounces(ctx, c.h.DB, id, m.Email)
		if err != nil {
			return out, err
		}
		for _, b := range bs {
			d.Bounces = append(d.Bounces, web.BounceRow{At: when(lang, b.At), Action: b.Action, Status: b.Status, Detail: b.Detail})
		}
		out.Member = d
	}
	return out, nil
}

func (c webConsole) ChangeMembers(ctx context.Context, who string, id int64, f web.MemberForm, client string) ([]web.Outcome, error) {
	if _, _, err := c.list(ctx, who, id, true); err != nil {
		return nil, err
	}
	a := actor(who, audit.ViaWeb, client)
	if len(f.Emails) == 0 {
		return nil, &web.Invalid{Problem: "no-address"}
	}
	var res []lists.AddOutcome
	var err error
	switch f.Action {
	case "add":
		if strings.TrimSpace(f.Consent) == "" {
			return nil, &web.Invalid{Problem: "no-consent"}
		}
		res, err = c.h.Lists.AddMembers(ctx, id, f.Consent, f.Emails, a)
	case "invite":
		if len(f.Emails) > lists.MaxInvite {
			return nil, &web.Invalid{Problem: "too-many"}
		}
		res, err = c.h.Lists.Invite(ctx, id, f.Emails, f.Note, a)
	case "remove":
		err = c.h.Lists.Remove(ctx, id, f.Emails[0], f.Reason, a)
	case "enable":
		err = c.h.Lists.Enable(ctx, id, f.Emails[0], a)
	case "admit":
		err = c.h.Lists.Admit(ctx, id, f.Emails[0], a)
	}
	switch {
	case errors.Is(err, lists.ErrNotMember):
		return nil, &web.Invalid{Problem: "not-member"}
	case errors.Is(err, lists.ErrNotBouncing):
		return nil, &web.Invalid{Problem: "not-bouncing"}
	case err != nil:
		return nil, err
	}
	var out []web.Outcome
	for _, r := range res {
		out = append(out, web.Outcome{Email: r.Email, Outcome: r.Outcome})
	}
	return out, nil
}

func (c webConsole) MembersCSV(ctx context.Context, who string, id int64, w io.Writer) error {
	if _, _, err := c.list(ctx, who, id, true); err != nil {
		return err
	}
	ms, err := lists.MemberList(ctx, c.h.DB, id)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	cw.Write([]string{"email", "state", "mode", "paused", "consent_at", "consent_how", "left_at", "left_how", "bounce_score", "admitted"})
	iso := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, m := range ms {
		cw.Write([]string{m.Email, m.State, m.Mode, strconv.FormatBool(m.Paused), iso(m.ConsentAt), m.ConsentHow, iso(m.LeftAt), m.LeftHow,
			strconv.FormatFloat(m.Bounce, 'f', -1, 64), strconv.FormatBool(m.Admitted)})
	}
	cw.Flush()
	return cw.Error()
}

func (c webConsole) Settings(ctx context.Context, who string, id int64) (web.ListSettings, error) {
	if _, _, err := c.list(ctx, who, id, true); err != nil {
		return web.ListSettings{}, err
	}
	l, st, err := lists.SettingsOf(ctx, c.h.DB, id)
	if err != nil {
		return web.ListSettings{}, err
	}
	return web.ListSettings{ListID: id, Address: c.h.Lists.Address(l, ""), Name: st.Name, Policy: st.Policy, ReplyTo: st.ReplyTo,
		Prefix: st.SubjectPrefix, Auth: st.Auth, Lang: st.Lang, MaxKB: st.MaxKB, Rate: st.RatePerHour,
		WelcomeFR: st.Welcome["fr"], WelcomeEN: st.Welcome["en"], FooterFR: st.Footer["fr"], FooterEN: st.Footer["en"],
		Daily: slices.Contains(st.DigestModes, "daily"), Weekly: slices.Contains(st.DigestModes, "weekly")}, nil
}

func (c webConsole) SetSettings(ctx context.Context, who string, id int64, f web.ListSettings, client string) error {
	if _, _, err := c.list(ctx, who, id, true); err != nil {
		return err
	}
	st := lists.Settings{Name: f.Name, Policy: f.Policy, ReplyTo: f.ReplyTo, SubjectPrefix: f.Prefix, Lang: f.Lang, Auth: f.Auth,
		MaxKB: f.MaxKB, RatePerHour: f.Rate, Texts: lists.Texts{Welcome: map[string]string{"fr": f.WelcomeFR, "en": f.WelcomeEN},
			Footer: map[string]string{"fr": f.FooterFR, "en": f.FooterEN}, DigestModes: []string{}}}
	if f.Daily {
		st.DigestModes = append(st.DigestModes, "daily")
	}
	if f.Weekly {
		st.DigestModes = append(st.DigestModes, "weekly")
	}
	_, err := c.h.Lists.Configure(ctx, id, st, actor(who, audit.ViaWeb, client))
	if err != nil && !errors.Is(err, lists.ErrNotFound) && !isInternal(err) {
		return &web.Invalid{Problem: err.Error()}
	}
	return err
}

// isInternal tells a store's failure from a refusal worded for a person.
func isInternal(err error) bool {
	s := err.Error()
	return strings.Contains(s, "sqlite") || strings.Contains(s, "store:") || errors.Is(err, context.Canceled)
}

// group reads group id when who animates it.
func (c webConsole) group(ctx context.Context, who string, id int64) (groups.Group, error) {
	r, err := c.roles(ctx, who)
	if err != nil {
		return groups.Group{}, err
	}
	if !r.Any() {
		return groups.Group{}, web.ErrNoRole
	}
	if !r.Animates(id) {
		return groups.Group{}, web.ErrNotYours
	}
	g, err := groups.ByID(ctx, c.h.DB, id)
	if errors.Is(err, groups.ErrNotFound) {
		return g, web.ErrNotYours
	}
	return g, err
}

func (c webConsole) Group(ctx context.Context, who string, id int64, lang string) (web.ConsoleGroup, error) {
	g, err := c.group(ctx, who, id)
	if err != nil {
		return web.ConsoleGroup{}, err
	}
	out := web.ConsoleGroup{ID: g.ID, Address: g.Address(c.h.Config.Domains[0]), Name: g.DisplayName, Commune: g.Commune, Animators: g.Animators}
	evs, err := events.Of(ctx, c.h.DB, "event.all-of-group", g.ID, c.h.now().Add(-30*24*time.Hour).Unix())
	if err != nil {
		return out, err
	}
	for _, e := range evs {
		var n int
		if err := c.h.DB.QueryRow(ctx, "attendee.count", e.ID).Scan(&n); err != nil {
			return out, err
		}
		out.Events = append(out.Events, web.ConsoleEventRow{ID: e.ID, Title: e.Title, When: templates.When(lang, e.Start.In(e.Location()), e.AllDay),
			Place: e.Place, Cancelled: e.Status == events.Cancelled, Attendees: n})
	}
	return out, nil
}

// event reads event id when who animates one of its organising groups;
// the group returned is the first of those.
func (c webConsole) event(ctx context.Context, who string, id int64) (events.Event, groups.Group, error) {
	r, err := c.roles(ctx, who)
	if err != nil {
		return events.Event{}, groups.Group{}, err
	}
	if !r.Any() {
		return events.Event{}, groups.Group{}, web.ErrNoRole
	}
	e, err := events.Get(ctx, c.h.DB, id)
	if errors.Is(err, events.ErrNotFound) {
		return e, groups.Group{}, web.ErrNotYours
	} else if err != nil {
		return e, groups.Group{}, err
	}
	for _, gid := range e.GroupIDs {
		if r.Animates(gid) {
			g, err := groups.ByID(ctx, c.h.DB, gid)
			return e, g, err
		}
	}
	return e, groups.Group{}, web.ErrNotYours
}

func (c webConsole) Event(ctx context.Context, who string, id int64, lang string) (web.ConsoleEvent, error) {
	e, g, err := c.event(ctx, who, id)
	if err != nil {
		return web.ConsoleEvent{}, err
	}
	loc := e.Location()
	f := web.EventForm{Title: e.Title, Date: e.Start.In(loc).Format("2006-01-02"), Place: e.Place, Themes: strings.Join(e.Themes, ", "),
		Public: e.Public, Details: e.Details}
	if !e.AllDay {
		f.Time, f.End = e.Start.In(loc).Format("15:04"), e.End.In(loc).Format("15:04")
	}
	out := web.ConsoleEvent{ID: e.ID, GroupID: g.ID, Group: g.Local(), When: templates.When(lang, e.Start.In(loc), e.AllDay),
		Cancelled: e.Status == events.Cancelled, Past: e.End.Before(c.h.now()), Form: f}
	rows, err := c.h.DB.Query(ctx, "attendee.list", e.ID)
	if err != nil {
		return out, err
	}
	defer rows.Close()
	for rows.Next() {
		var a web.AttendeeRow
		var l string
		var at int64
		if err := rows.Scan(&a.Email, &l, &at); err != nil {
			return out, err
		}
		a.Since = templates.Day(lang, time.Unix(at, 0).In(parisZone()))
		out.Attendees = append(out.Attendees, a)
	}
	return out, rows.Err()
}

func (c webConsole) SaveEvent(ctx context.Context, who string, groupID, eventID int64, f web.EventForm, client string) (int64, error) {
	var g groups.Group
	var old events.Event
	var err error
	if eventID == 0 {
		g, err = c.group(ctx, who, groupID)
	} else {
		old, g, err = c.event(ctx, who, eventID)
	}
	if err != nil {
		return 0, err
	}
	e, err := c.h.formEvent(g, f.Title, f.Date, f.Time, f.End, f.Place, f.Themes, f.Details, f.Public)
	if err != nil {
		return 0, &web.Invalid{Problem: err.Error()}
	}
	action := "event.create"
	if eventID == 0 {
		e.UID = events.NewUID(c.h.Config.Hostname)
	} else {
		e.UID, e.Sequence, action = old.UID, old.Sequence+1, "event.update"
	}
	err = c.h.DB.Write(ctx, func(tx *store.Tx) error {
		out, err := c.h.saveEventAs(tx, &e, g, who)
		if err != nil {
			return err
		}
		if out == events.Refused || out == events.Stale {
			return &web.Invalid{Problem: "refused: " + string(out)}
		}
		return audit.Record(tx, actor(who, audit.ViaWeb, client), c.h.now(), action, g.Local(), e.UID+" "+e.Title)
	})
	var p *events.Problem
	if errors.As(err, &p) {
		return 0, &web.Invalid{Problem: p.Code}
	}
	if err == nil {
		c.h.Queue.Kick()
	}
	return e.ID, err
}

func (c webConsole) CancelEvent(ctx context.Context, who string, id int64, client string) error {
	e, g, err := c.event(ctx, who, id)
	if err != nil {
		return err
	}
	return c.h.cancelEvent(ctx, e, g, actor(who, audit.ViaWeb, client))
}

// cancelEvent cancels e as its group's animator would by mail.
func (h *Hub) cancelEvent(ctx context.Context, e events.Event, g groups.Group, a audit.Actor) error {
	if e.Status == events.Cancelled {
		return nil
	}
	err := h.DB.Write(ctx, func(tx *store.Tx) error {
		x := e
		x.Status, x.Sequence = events.Cancelled, e.Sequence+1
		if _, err := h.saveEventAs(tx, &x, g, a.Who); err != nil {
			return err
		}
		return audit.Record(tx, a, h.now(), "event.cancel", g.Local(), e.UID+" "+e.Title)
	})
	if err == nil {
		h.Queue.Kick()
	}
	return err
}

// maxMessage bounds a message to attendees.
const maxMessage = 20000

func (c webConsole) MessageAttendees(ctx context.Context, who string, id int64, subject, body, client string) (int, error) {
	e, g, err := c.event(ctx, who, id)
	if err != nil {
		return 0, err
	}
	if strings.TrimSpace(subject) == "" || strings.TrimSpace(body) == "" {
		return 0, &web.Invalid{Problem: "empty-message"}
	}
	if len(body) > maxMessage {
		return 0, &web.Invalid{Problem: "too-long"}
	}
	n := 0
	err = c.h.DB.Write(ctx, func(tx *store.Tx) error {
		var err error
		if n, err = c.h.messageAttendees(tx, e, g, subject, strings.ReplaceAll(body, "\r\n", "\n")); err != nil {
			return err
		}
		return audit.Record(tx, actor(who, audit.ViaWeb, client), c.h.now(), "event.message", g.Local(),
			fmt.Sprintf("%s: %d attendees: %s", e.UID, n, subject))
	})
	if err == nil {
		c.h.Queue.Kick()
	}
	return n, err
}

func (c webConsole) Queue(ctx context.Context, who, name, lang string) (web.ConsoleQueue, error) {
	r, err := c.roles(ctx, who)
	if err != nil {
		return web.ConsoleQueue{}, err
	}
	if !r.Any() {
		return web.ConsoleQueue{}, web.ErrNoRole
	}
	if !r.ReadsQueue(name) {
		return web.ConsoleQueue{}, web.ErrNotYours
	}
	if _, err := tickets.FindQueue(ctx, c.h.DB, name); err != nil {
		return web.ConsoleQueue{}, web.ErrNotYours
	}
	ts, err := tickets.List(ctx, c.h.DB, name, "")
	if err != nil {
		return web.ConsoleQueue{}, err
	}
	out := web.ConsoleQueue{Name: name + "@" + c.h.Config.Domains[0]}
	for _, t := range ts {
		out.Tickets = append(out.Tickets, web.TicketRow{ID: t.ID, Subject: t.Subject, State: t.State, Requester: t.Requester, Update: when(lang, t.Updated)})
	}
	return out, nil
}

func (c webConsole) Ticket(ctx context.Context, who string, id int64, lang string) (web.ConsoleTicket, error) {
	r, err := c.roles(ctx, who)
	if err != nil {
		return web.ConsoleTicket{}, err
	}
	if !r.Any() {
		return web.ConsoleTicket{}, web.ErrNoRole
	}
	t, ms, err := tickets.Get(ctx, c.h.DB, id)
	if errors.Is(err, tickets.ErrNotFound) {
		return web.ConsoleTicket{}, web.ErrNotYours
	} else if err != nil {
		return web.ConsoleTicket{}, err
	}
	if !r.ReadsQueue(t.Queue) {
		return web.ConsoleTicket{}, web.ErrNotYours
	}
	out := web.ConsoleTicket{TicketRow: web.TicketRow{ID: t.ID, Subject: t.Subject, State: t.State, Requester: t.Requester, Update: when(lang, t.Updated)},
		Queue: t.Queue}
	for _, m := range ms {
		out.Messages = append(out.Messages, web.TicketMessage{Kind: m.Kind, From: m.Author, At: when(lang, m.At), Text: tickets.Trim(m.Text)})
	}
	return out, nil
}

func (c webConsole) Audit(ctx context.Context, who string, q web.AuditQuery) ([]web.AuditRow, error) {
	r, err := c.roles(ctx, who)
	if err != nil {
		return nil, err
	}
	if !r.Operator {
		return nil, web.ErrNoRole
	}
	es, err := audit.List(ctx, c.h.DB, audit.Query{Actor: q.Actor, Target: q.Target, Limit: q.Limit})
	if err != nil {
		return nil, err
	}
	out := make([]web.AuditRow, 0, len(es))
	for _, e := range es {
		out = append(out, web.AuditRow{At: e.At.Format(time.RFC3339), Actor: e.Actor, Via: e.Via, From: e.From, Action: e.Action, Target: e.Target, Detail: e.Detail})
	}
	return out, nil
}
