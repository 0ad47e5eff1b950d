package hub

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/backup"
	"codeberg.org/relais/relais/digest"
	"codeberg.org/relais/relais/events"
	"codeberg.org/relais/relais/geo"
	"codeberg.org/relais/relais/lists"
	"codeberg.org/relais/relais/privacy"
	"codeberg.org/relais/relais/signin"
	"codeberg.org/relais/relais/store"
	"codeberg.org/relais/relais/templates"
	"codeberg.org/relais/relais/web"
)

// The web pages' adapters: what package web asks (web.SignIn,
// web.Members, web.Agenda), answered by signin, lists, digest, events and
// privacy. They translate; the rules stay where mail follows them too.

// webSignIn adapts package signin to the pages.
type webSignIn struct{ h *Hub }

func (w webSignIn) Request(ctx context.Context, email, lang, client string) error {
	return w.h.SignIn.Request(ctx, signin.PurposeSignIn, email, lang, client, 0, nil)
}

func (w webSignIn) Peek(ctx context.Context, token string) error {
	l, err := w.h.SignIn.Peek(ctx, token)
	if err == nil && l.Purpose != signin.PurposeSignIn {
		err = signin.ErrBadLink
	}
	return linkErr(err)
}

func (w webSignIn) Open(ctx context.Context, token string) (web.Session, string, error) {
	s, cookie, err := w.h.SignIn.Open(ctx, token)
	return webSession(s), cookie, linkErr(err)
}

func (w webSignIn) Session(ctx context.Context, cookie string) (web.Session, error) {
	s, err := w.h.SignIn.Session(ctx, cookie)
	if errors.Is(err, signin.ErrNoSession) {
		return web.Session{}, web.ErrNoSession
	}
	return webSession(s), err
}

func (w webSignIn) SignOut(ctx context.Context, cookie string) error {
	return w.h.SignIn.Close(ctx, cookie)
}

func (w webSignIn) SignOutEverywhere(ctx context.Context, email string) error {
	return w.h.SignIn.CloseAll(ctx, email)
}

func webSession(s signin.Session) web.Session {
	return web.Session{Email: s.Email, Lang: s.Lang, Strong: s.Strong, Key: s.Key, Expires: s.Expires}
}

func linkErr(err error) error {
	if errors.Is(err, signin.ErrBadLink) {
		return web.ErrBadToken
	}
	return err
}

// webMembers adapts lists, digest and privacy to a member's page.
type webMembers struct{ h *Hub }

// how is the record of a change made on a member's page.
func how(client string) string {
	return "web page, signed in by a link mailed to the address, from " + client
}

func (w webMembers) Page(ctx context.Context, email string) (web.MemberPage, error) {
	h := w.h
	p := web.MemberPage{Email: email}
	ms, err := h.Lists.Memberships(ctx, email)
	if err != nil {
		return p, err
	}
	lang := h.Config.Language
	on := map[int64]bool{}
	var codes []string
	for _, m := range ms {
		on[m.List.ID] = true
		r := web.ListRow{ID: m.List.ID, Address: m.Address, Name: m.List.DisplayName, State: m.Member.State, Mode: m.Member.Mode,
			Paused: m.Member.Paused}
		if !m.Member.ResumeAt.IsZero() {
			r.Until = templates.Day(m.Member.Lang, m.Member.ResumeAt.In(parisZone()))
		}
		if m.Member.State != "unsubscribed" {
			codes = append(codes, m.List.Code.String())
			lang = m.Member.Lang
		}
		p.Lists = append(p.Lists, r)
	}
	roles, groupCodes, err := w.roles(ctx, email)
	if err != nil {
		return p, err
	}
	p.Roles = roles
	codes = append(codes, groupCodes...)
	slices.Sort(codes)
	joinable, err := h.Lists.Joinable(ctx, slices.Compact(codes))
	if err != nil {
		return p, err
	}
	for _, l := range joinable {
		if !on[l.ID] {
			p.Joinable = append(p.Joinable, web.ListRow{ID: l.ID, Address: h.Lists.Address(l, ""), Name: l.DisplayName})
		}
	}
	m, err := digest.Get(ctx, h.DB, email)
	if err == nil {
		lang = m.Lang
		p.Agenda = web.AgendaRow{Member: true, Active: m.Active, PostCode: m.PostCode, Place: m.Place, Radius: m.Radius,
			Themes: strings.Join(m.Themes, ", "), Lang: m.Lang}
	} else if !errors.Is(err, digest.ErrNoMember) {
		return p, err
	}
	evs, err := digest.Attending(ctx, h.DB, email, h.now())
	if err != nil {
		return p, err
	}
	for _, e := range evs {
		p.Attending = append(p.Attending, eventRow(e, lang))
	}
	return p, w.archiveRows(ctx, &p)
}

// roles lists the groups, lists and queues email holds a role in, and the
// codes of the groups it animates.
func (w webMembers) roles(ctx context.Context, email string) ([]string, []string, error) {
	var roles, codes []string
	read := func(query string, scan func(*rowScanner) error) error {
		rows, err := w.h.DB.Query(ctx, query, email)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(&rowScanner{rows.Scan}); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	err := errors.Join(
		read("person.groups", func(r *rowScanner) error {
			var code, name, display string
			if err := r.scan(&code, &name, &display); err != nil {
				return err
			}
			codes = append(codes, code)
			roles = append(roles, strings.ToLower(code)+"."+name)
			return nil
		}),
		read("person.list-roles", func(r *rowScanner) error {
			var code, name, role string
			if err := r.scan(&code, &name, &role); err != nil {
				return err
			}
			roles = append(roles, strings.ToLower(code)+"."+name)
			return nil
		}),
		read("person.queues", func(r *rowScanner) error {
			var name string
			if err := r.scan(&name); err != nil {
				return err
			}
			roles = append(roles, name+"@"+w.h.Config.Domains[0])
			return nil
		}))
	return roles, codes, err
}

type rowScanner struct{ scan func(...any) error }

func (w webMembers) ChangeList(ctx context.Context, email string, listID int64, action, until, client string) (string, error) {
	c := lists.Change{}
	switch action {
	case "each", "daily", "weekly":
		c.Mode = action
	case "pause":
		c.Pause, c.Until = true, until
	case "resume":
		c.Resume = true
	case "leave":
		c.Leave = true
	}
	out, err := w.h.Lists.ChangeProven(ctx, listID, email, c, how(client))
	if errors.Is(err, lists.ErrNotFound) {
		return lists.OutcomeNotMember, nil
	}
	return out, err
}

func (w webMembers) Join(ctx context.Context, email, lang string, listID int64, client string) (string, error) {
	if ml, err := w.personLang(ctx, email); err == nil && ml != "" {
		lang = ml
	}
	out, err := w.h.Lists.JoinProven(ctx, listID, email, lang, how(client))
	if errors.Is(err, lists.ErrNotFound) {
		return "", web.ErrNoFeed
	}
	return out, err
}

func (w webMembers) personLang(ctx context.Context, email string) (string, error) {
	var lang string
	err := w.h.DB.QueryRow(ctx, "person.lang", email).Scan(&lang)
	return lang, err
}

// SetAgenda writes the form as the agenda's mail commands, which
// digest.Apply reads as it reads a mail to agenda+request@.
func (w webMembers) SetAgenda(ctx context.Context, email, lang string, f web.AgendaForm) (web.AgendaOutcome, error) {
	h := w.h
	var cmds []string
	if p := oneLine(f.Place); p != "" {
		cmds = append(cmds, "code-postal "+p)
	}
	if r := oneLine(f.Radius); r != "" {
		cmds = append(cmds, "rayon "+r)
	}
	if t := oneLine(f.Themes); t != "" {
		cmds = append(cmds, "themes "+t)
	} else {
		cmds = append(cmds, "themes aucun")
	}
	switch f.Active {
	case "on":
		cmds = append(cmds, "reprendre")
	case "off":
		cmds = append(cmds, "stop")
	}
	var out web.AgendaOutcome
	err := h.DB.Write(ctx, func(tx *store.Tx) error {
		out = web.AgendaOutcome{}
		m, results, err := digest.ChangeProven(tx, email, lang, strings.Join(cmds, "\n"), h.Geo, h.now())
		if err != nil {
			return err
		}
		for _, r := range results {
			out.Results = append(out.Results, web.Result{Outcome: r.Outcome, Detail: r.Detail})
			if r.Outcome == "bad-place" {
				out.Suggestions = suggest(h.Geo, f.Place)
			}
		}
		h.log.Info("agenda settings from the member's page", "member", m.String())
		return nil
	})
	return out, err
}

// suggest lists the communes a place may mean: those of a postal code,
// those of a name, "44300 Nantes".
func suggest(g *geo.Gazetteer, q string) []string {
	q = strings.TrimSpace(q)
	var cs []geo.Commune
	if f := strings.Fields(q); len(f) > 0 {
		cs = g.ByPostCode(f[0])
	}
	if len(cs) == 0 {
		cs = g.Search(q)
	}
	var out []string
	for _, c := range cs {
		cp := ""
		if len(c.PostCodes) > 0 {
			cp = c.PostCodes[0] + " "
		}
		out = append(out, cp+c.Name)
		if len(out) == 10 {
			break
		}
	}
	return out
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

func (w webMembers) Preview(ctx context.Context, email string) (web.Preview, error) {
	v, empty, err := w.h.Digest.PreviewView(ctx, email)
	if errors.Is(err, digest.ErrNoMember) {
		return web.Preview{}, nil
	} else if err != nil {
		return web.Preview{}, err
	}
	conv := func(evs []digest.ViewEvent) []web.PreviewEvent {
		var out []web.PreviewEvent
		for _, e := range evs {
			out = append(out, web.PreviewEvent{Title: e.Title, When: e.When, Place: e.Place, Distance: e.Distance,
				Organisers: e.Organisers, Themes: e.Themes, MembersOnly: e.MembersOnly})
		}
		return out
	}
	return web.Preview{Located: v.Place != "", Empty: empty, Place: v.Place, PostCode: v.PostCode, Radius: v.Radius,
		Own: conv(v.Own), Near: conv(v.Near), Themes: conv(v.Themes), Cancelled: conv(v.Cancelled)}, nil
}

func (w webMembers) Unattend(ctx context.Context, email string, eventID int64) error {
	return w.h.DB.Write(ctx, func(tx *store.Tx) error { return digest.RemoveAttendee(tx, eventID, email) })
}

func (w webMembers) SetLang(ctx context.Context, email, lang string) error {
	return w.h.DB.Write(ctx, func(tx *store.Tx) error {
		return errors.Join(w.h.Lists.SetLang(tx, email, lang), digest.SetLang(tx, email, lang), signin.SetLang(tx, email, lang))
	})
}

// Export writes what `relais member export` writes, zipped: the JSON
// document and the member's archived posts as an mbox file.
func (w webMembers) Export(ctx context.Context, email string, out io.Writer) error {
	z := zip.NewWriter(out)
	var mbox *privacy.MboxWriter
	posts := func(p privacy.PostBody) error {
		if mbox == nil {
			f, err := z.Create("posts.mbox")
			if err != nil {
				return err
			}
			mbox = privacy.NewMbox(f)
		}
		return mbox.Write(p)
	}
	x, err := privacy.ExportOf(ctx, w.h.DB, w.h.Config.Domains[0], email, w.h.now(), posts)
	if err != nil && !errors.Is(err, privacy.ErrUnknown) {
		return err
	}
	if mbox != nil {
		if err := mbox.Flush(); err != nil {
			return err
		}
	}
	f, err := z.Create("relais-export.json")
	if err != nil {
		return err
	}
	if err := x.WriteJSON(f); err != nil {
		return err
	}
	return z.Close()
}

// Erase erases the member as `relais member erase` does, but not someone
// others depend on: a group's animator, a list's owner or moderator, a
// queue's operator must be replaced first, by the operators.
func (w webMembers) Erase(ctx context.Context, email string) error {
	roles, _, err := w.roles(ctx, email)
	if err != nil {
		return err
	}
	if len(roles) > 0 {
		return web.ErrHasRoles
	}
	x, err := privacy.Erase(ctx, w.h.DB, email, w.h.now())
	if err != nil {
		return err
	}
	w.h.log.Info("member erased from their page", "pseudonym", x.Pseudonym)
	for _, p := range backup.RemoveStale(w.h.Config.DataDir) {
		w.h.log.Warn("removed the plain copy of the database an interrupted backup left", "dir", p)
	}
	if len(x.Left) > 0 {
		return fmt.Errorf("erasure left the address in %s", strings.Join(x.Left, ", "))
	}
	return nil
}

// webAgenda adapts events, geo and digest to the public agenda's pages.
type webAgenda struct{ h *Hub }

// agendaHorizon is how far ahead the public agenda's search looks, and
// agendaMax how many events a page lists (the feed has them all): a page
// people read, and the cost of a page is mostly its rendering.
const (
	agendaHorizon = 90 * 24 * time.Hour
	agendaMax     = 50
)

// publicEvents is the public events to come, in date order, with a grid
// of their places: read again at most every 30 s, shared by every search.
type publicEvents struct {
	mu     sync.Mutex
	at     time.Time
	evs    []events.Event
	index  *geo.Index
	themes []string
}

func (h *Hub) upcoming(ctx context.Context) ([]events.Event, *geo.Index, []string, error) {
	p := &h.public
	now := h.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.index != nil && now.Sub(p.at) < 30*time.Second && now.Sub(p.at) >= 0 {
		return p.evs, p.index, p.themes, nil
	}
	all, err := events.Window(ctx, h.DB, now, now.Add(agendaHorizon))
	if err != nil {
		return nil, nil, nil, err
	}
	evs := all[:0]
	ix := &geo.Index{}
	seen := map[string]bool{}
	var themes []string
	for _, e := range all {
		if !e.Public {
			continue
		}
		if e.Located {
			ix.Add(int32(len(evs)), geo.Point{Lat: e.Lat, Lon: e.Lon})
		}
		for _, t := range e.Themes {
			if !seen[t] {
				seen[t] = true
				themes = append(themes, t)
			}
		}
		evs = append(evs, e)
	}
	slices.Sort(themes)
	p.at, p.evs, p.index, p.themes = now, evs, ix, themes
	return evs, ix, themes, nil
}

func (a webAgenda) Search(ctx context.Context, q web.AgendaQuery, lang string) (web.AgendaPage, error) {
	h := a.h
	evs, ix, themes, err := h.upcoming(ctx)
	if err != nil {
		return web.AgendaPage{}, err
	}
	p := web.AgendaPage{Query: q, Themes: themes, Radius: digest.DefaultRadius}
	if r := strings.TrimSpace(q.Radius); r != "" {
		n, err := strconv.Atoi(r)
		if err != nil || n < digest.MinRadius || n > digest.MaxRadius {
			p.Problem = "bad-radius"
			return p, nil
		}
		p.Radius = n
	}
	theme := ""
	if t := strings.TrimSpace(q.Theme); t != "" {
		if theme, err = events.ParseTheme(t); err != nil || !slices.Contains(themes, theme) {
			p.Problem = "bad-theme"
			return p, nil
		}
	}
	var picked []geo.Hit
	if pl := strings.TrimSpace(q.Place); pl != "" {
		c, err := h.Geo.Place(pl)
		if err != nil {
			p.Problem, p.Suggestions = "bad-place", suggest(h.Geo, pl)
			return p, nil
		}
		p.Place = c.Name
		if len(c.PostCodes) > 0 {
			p.Place = c.PostCodes[0] + " " + c.Name
		}
		ix.Within(c.Point, float64(p.Radius), func(id int32, km float64) { picked = append(picked, geo.Hit{ID: id, Km: km}) })
		slices.SortFunc(picked, func(a, b geo.Hit) int { return int(a.ID - b.ID) }) // the events are in date order
	} else {
		for i := range evs {
			picked = append(picked, geo.Hit{ID: int32(i), Km: -1})
		}
	}
	for _, hit := range picked {
		e := &evs[hit.ID]
		if theme != "" && !slices.Contains(e.Themes, theme) {
			continue
		}
		r := eventRow(*e, lang)
		if hit.Km >= 0 {
			r.Distance = distanceWords(lang, hit.Km)
		}
		p.Events = append(p.Events, r)
		if len(p.Events) == agendaMax {
			break
		}
	}
	return p, nil
}

func distanceWords(lang string, km float64) string {
	n := int(km + 0.5)
	if lang == "en" {
		return strconv.Itoa(n) + " km away"
	}
	return "à " + strconv.Itoa(n) + " km"
}

func (a webAgenda) Listing(ctx context.Context, kind, key, lang string) (web.AgendaPage, error) {
	if kind == "event" {
		return web.AgendaPage{}, web.ErrNoFeed
	}
	evs, name, err := a.h.feedEvents(ctx, kind, key)
	if err != nil {
		return web.AgendaPage{}, err
	}
	title := name
	switch kind {
	case "group":
		if len(evs) > 0 {
			for i, g := range evs[0].Groups {
				if strings.EqualFold(g, key) {
					title = evs[0].Names[i]
				}
			}
		}
		if code, gname, err := address.GroupLocal(key); err == nil && title == name {
			title = "Agenda " + code.Local() + "." + gname
		}
	}
	p := web.AgendaPage{Title: title, Kind: kind, Key: key, Feed: "/agenda/" + kind + "/" + url.PathEscape(key) + ".ics"}
	for _, e := range evs {
		p.Events = append(p.Events, eventRow(e, lang))
		if len(p.Events) == agendaMax {
			break
		}
	}
	return p, nil
}

func (a webAgenda) event(ctx context.Context, uid string) (events.Event, error) {
	if !events.ValidUID(uid) {
		return events.Event{}, web.ErrBadFeedName
	}
	e, err := events.PublicByUID(ctx, a.h.DB, uid)
	if errors.Is(err, events.ErrNotFound) {
		return e, web.ErrNoFeed
	}
	return e, err
}

func (a webAgenda) Event(ctx context.Context, uid, lang string) (web.EventRow, error) {
	e, err := a.event(ctx, uid)
	if err != nil {
		return web.EventRow{}, err
	}
	return eventRow(e, lang), nil
}

func (a webAgenda) RequestAttend(ctx context.Context, uid, email, lang, client string) error {
	e, err := a.event(ctx, uid)
	if err != nil {
		return err
	}
	return a.h.SignIn.Request(ctx, signin.PurposeAttend, email, lang, client, e.ID, a.h.describe(e, lang))
}

func (a webAgenda) AttendNow(ctx context.Context, uid, email, lang string) error {
	e, err := a.event(ctx, uid)
	if err != nil {
		return err
	}
	return a.h.DB.Write(ctx, func(tx *store.Tx) error { return digest.AddAttendee(tx, e.ID, email, lang, a.h.now()) })
}

func (a webAgenda) PeekAttend(ctx context.Context, token, lang string) (web.EventRow, error) {
	l, err := a.h.SignIn.Peek(ctx, token)
	if err == nil && l.Purpose != signin.PurposeAttend {
		err = signin.ErrBadLink
	}
	if err != nil {
		return web.EventRow{}, linkErr(err)
	}
	return a.publicRow(ctx, l.EventID, lang)
}

func (a webAgenda) publicRow(ctx context.Context, id int64, lang string) (web.EventRow, error) {
	e, err := events.Get(ctx, a.h.DB, id)
	if errors.Is(err, events.ErrNotFound) || (err == nil && !e.Public) {
		return web.EventRow{}, web.ErrBadToken
	} else if err != nil {
		return web.EventRow{}, err
	}
	return eventRow(e, lang), nil
}

func (a webAgenda) ConfirmAttend(ctx context.Context, token, lang string) (web.EventRow, error) {
	l, err := a.h.SignIn.Use(ctx, token, signin.PurposeAttend, func(tx *store.Tx, l signin.Link) error {
		return digest.AddAttendee(tx, l.EventID, l.Email, l.Lang, a.h.now())
	})
	if err != nil {
		return web.EventRow{}, linkErr(err)
	}
	a.h.log.Info("attendance confirmed by its link", "email", l.Email, "event", l.EventID)
	return a.publicRow(ctx, l.EventID, lang)
}

// eventRow is a public event as the pages show it, in lang.
func eventRow(e events.Event, lang string) web.EventRow {
	loc := e.Location()
	path := "/agenda/event/" + url.PathEscape(e.UID)
	r := web.EventRow{ID: e.ID, UID: e.UID, Path: path, Title: e.Title, When: templates.When(lang, e.Start.In(loc), e.AllDay),
		Place: e.Place, Groups: e.Names, Themes: e.Themes, Details: e.Details, Calendar: path + ".ics",
		Cancelled: e.Status == events.Cancelled}
	if !e.End.IsZero() && e.End.After(e.Start) {
		r.Until = templates.When(lang, e.End.In(loc), e.AllDay)
	}
	switch {
	case e.Located:
		r.Map = fmt.Sprintf("https://www.openstreetmap.org/?mlat=%.5f&mlon=%.5f#map=16/%.5f/%.5f", e.Lat, e.Lon, e.Lat, e.Lon)
	case e.Place != "":
		r.Map = "https://www.openstreetmap.org/search?query=" + url.QueryEscape(e.Place)
	}
	return r
}

var parisOnce = sync.OnceValue(func() *time.Location {
	l, err := time.LoadLocation(events.DefaultZone)
	if err != nil {
		return time.UTC
	}
	return l
})

func parisZone() *time.Location { return parisOnce() }
