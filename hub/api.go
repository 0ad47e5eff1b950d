package hub

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"codeberg.org/relais/relais/access"
	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/audit"
	"codeberg.org/relais/relais/events"
	"codeberg.org/relais/relais/groups"
	"codeberg.org/relais/relais/lists"
	"codeberg.org/relais/relais/store"
	"codeberg.org/relais/relais/tickets"
	"codeberg.org/relais/relais/web"
)

// webAPI adapts groups, lists, events, tickets and access to the REST
// API. A token reaches everything of its scopes (the platform is the
// movement's own); each change is written to the audit log as the
// token's.
type webAPI struct{ h *Hub }

func tokActor(tok web.APIToken, client string) audit.Actor {
	return audit.Actor{Who: "token:" + tok.Name, Via: audit.ViaAPI, From: client}
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// invalid turns a refusal worded for a person into a 422.
func invalid(err error) error {
	if err == nil || isInternal(err) {
		return err
	}
	return &web.Invalid{Problem: err.Error()}
}

func (a webAPI) Token(ctx context.Context, secret, client string) (web.APIToken, error) {
	t, err := access.Check(ctx, a.h.DB, secret, client, a.h.now())
	if errors.Is(err, access.ErrBadToken) {
		return web.APIToken{}, web.ErrBadToken
	}
	return web.APIToken{Name: t.Name, Scopes: t.Scopes}, err
}

func apiGroup(g groups.Group) web.APIGroup {
	as := g.Animators
	if as == nil {
		as = []string{}
	}
	return web.APIGroup{Address: g.Local(), Name: g.DisplayName, Commune: g.Commune, Animators: as}
}

func (a webAPI) Groups(ctx context.Context) ([]web.APIGroup, error) {
	gs, err := groups.List(ctx, a.h.DB)
	out := make([]web.APIGroup, 0, len(gs))
	for _, g := range gs {
		out = append(out, apiGroup(g))
	}
	return out, err
}

func (a webAPI) Group(ctx context.Context, local string) (web.APIGroup, error) {
	g, err := groups.Get(ctx, a.h.DB, local)
	if err != nil {
		if isInternal(err) {
			return web.APIGroup{}, err
		}
		return web.APIGroup{}, web.ErrNotYours
	}
	return apiGroup(g), nil
}

func (a webAPI) SaveGroup(ctx context.Context, tok web.APIToken, in web.APIGroup, create bool, client string) (web.APIGroup, error) {
	code, name, err := address.GroupLocal(strings.TrimSpace(in.Address))
	if err != nil {
		return web.APIGroup{}, invalid(err)
	}
	g := groups.Group{Code: code, Name: name, DisplayName: strings.TrimSpace(in.Name), Commune: strings.TrimSpace(in.Commune), Animators: in.Animators}
	g, err = groups.Save(ctx, a.h.DB, g, create, tokActor(tok, client), a.h.now())
	switch {
	case errors.Is(err, groups.ErrExists):
		return web.APIGroup{}, web.ErrConflict
	case errors.Is(err, groups.ErrNotFound):
		return web.APIGroup{}, web.ErrNotYours
	case err != nil:
		return web.APIGroup{}, invalid(err)
	}
	return a.Group(ctx, g.Local())
}

func (a webAPI) RemoveGroup(ctx context.Context, tok web.APIToken, local, client string) error {
	err := groups.Delete(ctx, a.h.DB, local, tokActor(tok, client), a.h.now())
	if err != nil && !isInternal(err) {
		return web.ErrNotYours
	}
	return err
}

func (a webAPI) SyncGroups(ctx context.Context, tok web.APIToken, in []web.APIGroup, dryRun bool, allowRemovals int, client string) (web.APISyncReport, error) {
	es := make([]groups.Entry, len(in))
	for i, g := range in {
		es[i] = groups.Entry{Address: g.Address, Name: g.Name, Commune: g.Commune, Animators: g.Animators}
	}
	rep, err := groups.Sync(ctx, a.h.DB, es, dryRun, allowRemovals, tokActor(tok, client), a.h.now())
	var many *groups.RemovalsError
	if errors.As(err, &many) {
		return web.APISyncReport{}, &web.Invalid{Problem: fmt.Sprintf(
			"nothing was changed: this list would remove %d of the hub's %d groups (an empty or truncated export?); "+
				"if that is meant, send it again with ?allow_removals=%d", many.Removed, many.Have, many.Removed)}
	}
	if errors.Is(err, groups.ErrSync) {
		var lines []web.APILineError
		collect(err, func(le *groups.LineError) {
			lines = append(lines, web.APILineError{Line: le.Line, Address: le.Address, Detail: le.Err.Error()})
		})
		return web.APISyncReport{}, &web.LinesInvalid{Lines: lines}
	} else if err != nil {
		return web.APISyncReport{}, err
	}
	out := web.APISyncReport{DryRun: rep.DryRun, Created: rep.Created, Updated: rep.Updated, Removed: rep.Removed, Unchanged: rep.Unchanged,
		Changes: []web.APIChange{}, NeedsConfirmation: rep.NeedsConfirmation}
	for _, c := range rep.Changes {
		out.Changes = append(out.Changes, web.APIChange{Address: c.Address, Action: c.Action, Fields: c.Fields})
	}
	return out, nil
}

// collect calls f on each *groups.LineError inside err.
func collect(err error, f func(*groups.LineError)) {
	var le *groups.LineError
	if errors.As(err, &le) && err == error(le) {
		f(le)
		return
	}
	switch x := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range x.Unwrap() {
			collect(e, f)
		}
	case interface{ Unwrap() error }:
		collect(x.Unwrap(), f)
	}
}

func (a webAPI) apiList(ctx context.Context, l lists.List) (web.APIList, error) {
	_, st, err := lists.SettingsOf(ctx, a.h.DB, l.ID)
	if err != nil {
		return web.APIList{}, err
	}
	prefix := st.SubjectPrefix
	out := web.APIList{Address: l.Local(), Name: st.Name, Policy: st.Policy, ReplyTo: st.ReplyTo, SubjectPrefix: &prefix, Lang: st.Lang,
		Auth: st.Auth, MaxKB: st.MaxKB, RatePerHour: st.RatePerHour, Owners: []string{}, Moderators: []string{},
		Welcome: st.Welcome, Footer: st.Footer, DigestModes: st.DigestModes}
	for _, o := range l.Owners {
		if o.Role == "moderator" {
			out.Moderators = append(out.Moderators, o.Email)
		} else {
			out.Owners = append(out.Owners, o.Email)
		}
	}
	act, err := lists.ActivityOf(ctx, a.h.DB, l.ID, 1, a.h.now())
	out.Members = act.Members["active"] + act.Members["bouncing"]
	return out, err
}

func (a webAPI) Lists(ctx context.Context) ([]web.APIList, error) {
	ls, err := lists.All(ctx, a.h.DB)
	if err != nil {
		return nil, err
	}
	out := make([]web.APIList, 0, len(ls))
	for _, l := range ls {
		x, err := a.apiList(ctx, l)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

func (a webAPI) find(ctx context.Context, local string) (lists.List, error) {
	l, err := lists.Find(ctx, a.h.DB, local)
	if err != nil && !isInternal(err) {
		return l, web.ErrNotYours
	}
	return l, err
}

func (a webAPI) List(ctx context.Context, local string) (web.APIList, error) {
	l, err := a.find(ctx, local)
	if err != nil {
		return web.APIList{}, err
	}
	return a.apiList(ctx, l)
}

func (a webAPI) SaveList(ctx context.Context, tok web.APIToken, in web.APIList, create bool, client string) (web.APIList, error) {
	var owners []lists.Owner
	for _, o := range in.Owners {
		owners = append(owners, lists.Owner{Email: o, Role: "owner"})
	}
	for _, m := range in.Moderators {
		owners = append(owners, lists.Owner{Email: m, Role: "moderator"})
	}
	prefix := true
	if in.SubjectPrefix != nil {
		prefix = *in.SubjectPrefix
	}
	act := tokActor(tok, client)
	modes := in.DigestModes
	if modes == nil {
		modes = lists.DigestModes
	}
	st := lists.Settings{Name: in.Name, Policy: in.Policy, ReplyTo: in.ReplyTo, SubjectPrefix: prefix, Lang: in.Lang, Auth: in.Auth,
		MaxKB: in.MaxKB, RatePerHour: in.RatePerHour, Texts: lists.Texts{Welcome: in.Welcome, Footer: in.Footer, DigestModes: modes}}
	// The list and its settings (and, for a change, its owners) are
	// written in one transaction: a refused request changes nothing.
	var l lists.List
	if create {
		code, name, err := address.GroupLocal(strings.TrimSpace(in.Address))
		if err != nil {
			return web.APIList{}, invalid(err)
		}
		l, err = a.h.Lists.CreateConfigured(ctx, lists.List{Code: code, Name: name, DisplayName: in.Name, Policy: in.Policy, ReplyTo: in.ReplyTo,
			SubjectPrefix: prefix, Lang: in.Lang, Auth: in.Auth, MaxBytes: in.MaxKB * 1024, RatePerHour: in.RatePerHour, Archive: true, Owners: owners},
			st, act)
		if errors.Is(err, lists.ErrExists) {
			return web.APIList{}, web.ErrConflict
		} else if err != nil {
			return web.APIList{}, invalid(err)
		}
	} else {
		cur, err := a.find(ctx, in.Address)
		if err != nil {
			return web.APIList{}, err
		}
		if owners == nil {
			owners = []lists.Owner{} // none given: Validate says at least one
		}
		if l, err = a.h.Lists.Reconfigure(ctx, cur.ID, owners, st, act); err != nil {
			return web.APIList{}, invalid(err)
		}
	}
	full, err := lists.Find(ctx, a.h.DB, l.Local())
	if err != nil {
		return web.APIList{}, err
	}
	return a.apiList(ctx, full)
}

func apiMember(m lists.Member) web.APIMember {
	return web.APIMember{Email: m.Email, State: m.State, Mode: m.Mode, Paused: m.Paused, ConsentAt: rfc3339(m.ConsentAt), ConsentHow: m.ConsentHow}
}

func (a webAPI) Members(ctx context.Context, local string) ([]web.APIMember, error) {
	l, err := a.find(ctx, local)
	if err != nil {
		return nil, err
	}
	ms, err := lists.MemberList(ctx, a.h.DB, l.ID)
	out := make([]web.APIMember, 0, len(ms))
	for _, m := range ms {
		out = append(out, apiMember(m))
	}
	return out, err
}

func (a webAPI) Subscribe(ctx context.Context, tok web.APIToken, local string, s web.APISubscribe, client string) (web.APIMember, error) {
	l, err := a.find(ctx, local)
	if err != nil {
		return web.APIMember{}, err
	}
	res, err := a.h.Lists.AddMembers(ctx, l.ID, s.Consent, []string{s.Email}, tokActor(tok, client))
	if err != nil {
		return web.APIMember{}, invalid(err)
	}
	if res[0].Outcome != lists.AddAdded && res[0].Outcome != lists.AddAlready {
		return web.APIMember{}, &web.Invalid{Problem: "not subscribed: " + res[0].Outcome}
	}
	m, err := lists.MemberOf(ctx, a.h.DB, l.ID, res[0].Email)
	return apiMember(m), err
}

func (a webAPI) Unsubscribe(ctx context.Context, tok web.APIToken, local, email, client string) error {
	l, err := a.find(ctx, local)
	if err != nil {
		return err
	}
	err = a.h.Lists.Remove(ctx, l.ID, email, "the movement's platform", tokActor(tok, client))
	if errors.Is(err, lists.ErrNotMember) {
		return web.ErrNotYours
	}
	return err
}

func (a webAPI) SetMode(ctx context.Context, tok web.APIToken, local, email, mode, client string) (web.APIMember, error) {
	l, err := a.find(ctx, local)
	if err != nil {
		return web.APIMember{}, err
	}
	out, err := a.h.Lists.SetMode(ctx, l.ID, email, mode, tokActor(tok, client))
	if errors.Is(err, lists.ErrNotMember) {
		return web.APIMember{}, web.ErrNotYours
	} else if err != nil {
		return web.APIMember{}, invalid(err)
	}
	if out == lists.OutcomeDigestOff {
		return web.APIMember{}, &web.Invalid{Problem: "the list offers no such digest"}
	}
	m, err := lists.MemberOf(ctx, a.h.DB, l.ID, email)
	return apiMember(m), err
}

func apiEvent(e events.Event) web.APIEvent {
	pub := e.Public
	out := web.APIEvent{UID: e.UID, Groups: e.Groups, Title: e.Title, Start: rfc3339(e.Start), End: rfc3339(e.End), Place: e.Place,
		Themes: e.Themes, Public: &pub, Details: e.Details, Status: e.Status}
	if len(e.Groups) > 0 {
		out.Group = e.Groups[0]
	}
	return out
}

func (a webAPI) Events(ctx context.Context, group string) ([]web.APIEvent, error) {
	var evs []events.Event
	var err error
	if group != "" {
		g, gerr := groups.Get(ctx, a.h.DB, group)
		if gerr != nil {
			return nil, web.ErrNotYours
		}
		evs, err = events.Of(ctx, a.h.DB, "event.all-of-group", g.ID, a.h.now().Unix())
	} else {
		evs, err = events.Window(ctx, a.h.DB, a.h.now(), a.h.now().Add(365*24*time.Hour))
	}
	out := make([]web.APIEvent, 0, len(evs))
	for _, e := range evs {
		out = append(out, apiEvent(e))
	}
	return out, err
}

func (a webAPI) byUID(ctx context.Context, uid string) (events.Event, error) {
	var id int64
	if !events.ValidUID(uid) || a.h.DB.QueryRow(ctx, "event.by-uid", uid).Scan(&id, new(int), new(string)) != nil {
		return events.Event{}, web.ErrNotYours
	}
	return events.Get(ctx, a.h.DB, id)
}

func (a webAPI) Event(ctx context.Context, uid string) (web.APIEvent, error) {
	e, err := a.byUID(ctx, uid)
	return apiEvent(e), err
}

func (a webAPI) SaveEvent(ctx context.Context, tok web.APIToken, uid string, in web.APIEvent, client string) (web.APIEvent, error) {
	g, err := groups.Get(ctx, a.h.DB, in.Group)
	if err != nil {
		return web.APIEvent{}, &web.Invalid{Problem: "group: no such group " + in.Group}
	}
	start, err := time.Parse(time.RFC3339, in.Start)
	if err != nil {
		return web.APIEvent{}, &web.Invalid{Problem: "start: a time as 2026-12-12T14:30:00+01:00"}
	}
	e := events.Event{Title: strings.TrimSpace(in.Title), Start: start, Place: in.Place, PostCode: events.PostCode(in.Place), Themes: in.Themes,
		Details: in.Details, Public: in.Public == nil || *in.Public, Zone: events.DefaultZone, Status: events.Confirmed}
	if in.End != "" {
		if e.End, err = time.Parse(time.RFC3339, in.End); err != nil {
			return web.APIEvent{}, &web.Invalid{Problem: "end: a time as 2026-12-12T16:30:00+01:00"}
		}
	}
	action := "event.create"
	if uid == "" {
		e.UID = events.NewUID(a.h.Config.Hostname)
	} else {
		old, err := a.byUID(ctx, uid)
		if err != nil {
			return web.APIEvent{}, err
		}
		e.UID, e.Sequence, action = old.UID, old.Sequence+1, "event.update"
	}
	err = a.h.DB.Write(ctx, func(tx *store.Tx) error {
		out, err := a.h.saveEventAs(tx, &e, g, "")
		if err != nil {
			return err
		}
		if out == events.Refused || out == events.Stale {
			return &web.Invalid{Problem: "refused: only the event's organising groups change it"}
		}
		return audit.Record(tx, tokActor(tok, client), a.h.now(), action, g.Local(), e.UID+" "+e.Title)
	})
	var p *events.Problem
	if errors.As(err, &p) {
		return web.APIEvent{}, &web.Invalid{Problem: p.Error()}
	} else if err != nil {
		return web.APIEvent{}, err
	}
	a.h.Queue.Kick()
	return a.Event(ctx, e.UID)
}

func (a webAPI) CancelEvent(ctx context.Context, tok web.APIToken, uid, client string) (web.APIEvent, error) {
	e, err := a.byUID(ctx, uid)
	if err != nil {
		return web.APIEvent{}, err
	}
	if len(e.GroupIDs) == 0 {
		return web.APIEvent{}, web.ErrNotYours
	}
	g, err := groups.ByID(ctx, a.h.DB, e.GroupIDs[0])
	if err != nil {
		return web.APIEvent{}, err
	}
	if err := a.h.cancelEvent(ctx, e, g, tokActor(tok, client)); err != nil {
		return web.APIEvent{}, err
	}
	return a.Event(ctx, uid)
}

func apiHeld(h lists.Held) web.APIHeld {
	return web.APIHeld{ID: h.ID, List: h.List, Poster: h.Poster, Subject: h.Subject, Reason: h.Reason, State: h.State,
		HeldAt: rfc3339(h.HeldAt), ExpiresAt: rfc3339(h.Expires), DecidedBy: h.DecidedBy}
}

func (a webAPI) Held(ctx context.Context, local, state string) ([]web.APIHeld, error) {
	var id int64
	if local != "" {
		l, err := a.find(ctx, local)
		if err != nil {
			return nil, err
		}
		id = l.ID
	}
	switch state {
	case "", "held", "approved", "rejected", "expired":
	default:
		return nil, &web.Invalid{Problem: "state: held, approved, rejected or expired"}
	}
	hs, err := lists.HeldPosts(ctx, a.h.DB, id, state)
	out := make([]web.APIHeld, 0, len(hs))
	for _, h := range hs {
		out = append(out, apiHeld(h))
	}
	return out, err
}

func (a webAPI) Decide(ctx context.Context, tok web.APIToken, id int64, d web.APIDecision, client string) (web.APIHeld, error) {
	if d.Decision != "approve" && d.Decision != "reject" {
		return web.APIHeld{}, &web.Invalid{Problem: "decision: approve or reject"}
	}
	err := a.h.Lists.Moderate(ctx, id, lists.Decision{Approve: d.Decision == "approve", Why: d.Reason}, tokActor(tok, client))
	switch {
	case errors.Is(err, lists.ErrDecided):
		return web.APIHeld{}, web.ErrDecided
	case errors.Is(err, lists.ErrNotFound):
		return web.APIHeld{}, web.ErrNotYours
	case err != nil:
		return web.APIHeld{}, err
	}
	h, err := lists.HeldPost(ctx, a.h.DB, id)
	return apiHeld(h), err
}

func apiTicket(t tickets.Ticket) web.APITicket {
	return web.APITicket{ID: t.ID, Queue: t.Queue, Subject: t.Subject, State: t.State, Requester: t.Requester, CreatedAt: rfc3339(t.Created), UpdatedAt: rfc3339(t.Updated)}
}

func (a webAPI) Tickets(ctx context.Context, queue, state string) ([]web.APITicket, error) {
	ts, err := tickets.List(ctx, a.h.DB, queue, state)
	out := make([]web.APITicket, 0, len(ts))
	for _, t := range ts {
		if t.Queue == "" {
			t.Queue = queue
		}
		out = append(out, apiTicket(t))
	}
	return out, err
}

func (a webAPI) Ticket(ctx context.Context, id int64) (web.APITicket, error) {
	t, ms, err := tickets.Get(ctx, a.h.DB, id)
	if errors.Is(err, tickets.ErrNotFound) {
		return web.APITicket{}, web.ErrNotYours
	} else if err != nil {
		return web.APITicket{}, err
	}
	out := apiTicket(t)
	for _, m := range ms {
		out.Messages = append(out.Messages, web.APIMessage{Kind: m.Kind, Author: m.Author, At: rfc3339(m.At), Text: tickets.Trim(m.Text)})
	}
	return out, nil
}
