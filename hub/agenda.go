package hub

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/emersion/go-message/textproto"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/digest"
	"codeberg.org/relais/relais/events"
	"codeberg.org/relais/relais/geo"
	"codeberg.org/relais/relais/groups"
	"codeberg.org/relais/relais/internal/automail"
	"codeberg.org/relais/relais/internal/mailbox"
	"codeberg.org/relais/relais/internal/mimetext"
	"codeberg.org/relais/relais/queue"
	"codeberg.org/relais/relais/store"
	"codeberg.org/relais/relais/templates"
	"codeberg.org/relais/relais/tickets"
	"codeberg.org/relais/relais/web"
)

const routeAgenda = "agenda" // target: group id

// publishEvent handles mail to CODE.NAME+agenda@: an animator of the group,
// proven by SPF, DKIM or DMARC, publishes, updates or cancels events with an
// invitation or the text form, and is told what the hub understood.
func (h *Hub) publishEvent(tx *store.Tx, in inbound) error {
	id, err := targetID(in)
	if err != nil {
		return err
	}
	g, err := groups.Load(tx, id)
	if errors.Is(err, groups.ErrNotFound) {
		if now, ok := h.regroup(tx, in, id); ok {
			g, err = groups.Load(tx, now)
		}
	}
	if err != nil {
		return err
	}
	m, err := tx.Received(in.messageID)
	if err != nil {
		return err
	}
	hdr, _ := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(m.Body)))
	from := ""
	if a, err := mailbox.Parse(hdr.Get("From"), true); err == nil {
		from = strings.ToLower(a.Address)
	}
	log := h.log.With("qid", in.messageID, "group", g.Local(), "from", from)
	if from == "" || automail.Marked(hdr, m.MailFrom) || automail.From(from) {
		log.Info("agenda: automatic or anonymous mail ignored")
		return nil
	}
	res, judged := h.verdict(m.Body)
	if judged && res.Failed() {
		log.Info("agenda: forged sender ignored")
		return nil // nothing back to a forged address
	}
	lang := h.Config.Language
	reply := func(name string, data map[string]any) error {
		data["Group"], data["Address"] = g.DisplayName, g.Local()+"+agenda@"+h.Config.Domains[0]
		return h.tell(tx, from, lang, name, data, strings.TrimSpace(hdr.Get("Message-Id")))
	}
	if !isAnimator(g, from) {
		log.Info("agenda: not an animator of the group")
		return reply("event-refused", map[string]any{"Reason": "not-animator"})
	}
	if judged && !res.Proven() {
		log.Info("agenda: sender not proven", "spf", res.SPF, "dmarc", res.DMARC)
		return reply("event-refused", map[string]any{"Reason": "not-proven"})
	}
	inv, err := events.FromMessage(m.Body, h.now())
	if err != nil {
		log.Info("agenda: nothing understood", "err", err)
		// The templates say what was wrong, in the writer's language.
		var p *events.Problem
		problem, value := "", ""
		if errors.As(err, &p) {
			problem, value = p.Code, p.Value
		}
		return reply("event-refused", map[string]any{"Reason": "unreadable", "Problem": problem, "Value": value})
	}
	var done []map[string]any
	for _, e := range inv.Events {
		if inv.Form && inv.FormUID {
			e.Sequence = int(h.now().Unix()) // a form replaces what it names
		}
		if inv.Form {
			// A form's times are the wall clock of its place (or of its
			// group's commune): Pointe-à-Pitre's 14h30 is not Paris's.
			h.formZone(&e, g)
		}
		if inv.Form && !inv.FormUID {
			if e.UID, err = events.FormUID(tx, g.ID, e, h.Config.Hostname); err != nil {
				return err
			}
		}
		h.locate(&e, g)
		outcome, err := events.SaveAs(tx, &e, g.ID, from, h.now())
		if err != nil {
			return err
		}
		log.Info("agenda: event saved", "uid", e.UID, "outcome", outcome, "method", inv.Method)
		if outcome == events.Updated || outcome == events.Withdrawn {
			if full, err := events.GetTx(tx, e.ID); err == nil {
				if err := h.tellAttendees(tx, full, outcome); err != nil {
					return err
				}
			}
		}
		done = append(done, map[string]any{"Outcome": string(outcome), "Event": h.describe(e, lang)})
	}
	return reply("event-published", map[string]any{"Events": done, "Notes": inv.Notes, "Form": inv.Form})
}

func isAnimator(g groups.Group, addr string) bool {
	for _, a := range g.Animators {
		if strings.EqualFold(a, addr) {
			return true
		}
	}
	return false
}

// locate gives e coordinates from its postal code, else from its group's
// commune, and the time zone of that place when the event named none.
func (h *Hub) locate(e *events.Event, g groups.Group) {
	if e.Located {
		return
	}
	for _, q := range []string{e.PostCode, g.Commune} {
		if q == "" {
			continue
		}
		if c, err := h.Geo.Place(q); err == nil {
			e.INSEE, e.Lat, e.Lon, e.Located = c.INSEE, c.Point.Lat, c.Point.Lon, true
			return
		}
	}
}

// GeoFile is where `relais geo import` keeps an official file of
// positions, under the data directory.
const GeoFile = "geo/positions.csv"

// OpenGazetteer returns the embedded gazetteer, refined by the file
// `relais geo import` saved in dataDir, if any.
func OpenGazetteer(dataDir string, log *slog.Logger) (*geo.Gazetteer, error) {
	g := geo.Default()
	f, err := os.Open(filepath.Join(dataDir, GeoFile))
	if errors.Is(err, fs.ErrNotExist) {
		return g, nil
	} else if err != nil {
		return nil, err
	}
	defer f.Close()
	refined, n, err := g.Refine(f)
	if refined == nil {
		return nil, fmt.Errorf("%s: %w", GeoFile, err)
	}
	if err != nil {
		log.Warn("some lines of the positions file were not read", "file", GeoFile, "err", err)
	}
	log.Info("gazetteer refined", "file", GeoFile, "communes", n)
	return refined, nil
}

// describe is an event as the answers show it.
func (h *Hub) describe(e events.Event, lang string) map[string]any {
	loc := e.Location()
	return map[string]any{
		"Title": e.Title, "When": templates.When(lang, e.Start.In(loc), e.AllDay), "Until": templates.When(lang, e.End.In(loc), e.AllDay),
		"Zone": e.Zone, "Place": e.Place, "Themes": strings.Join(e.Themes, ", "), "Public": e.Public,
		"Cancelled": e.Status == events.Cancelled, "UID": e.UID, "Groups": strings.Join(e.Groups, ", "),
	}
}

// tell sends a person an automatic answer from the hub, in reply to ref.
func (h *Hub) tell(tx *store.Tx, to, lang, name string, data map[string]any, ref string) error {
	body, err := h.Texts.Compose(lang, name, data, templates.Envelope{
		From:          "relais <agenda@" + h.Config.Domains[0] + ">",
		To:            to,
		Hostname:      h.Config.Hostname,
		AutoSubmitted: "auto-replied",
		References:    ref,
		Date:          h.now(),
	})
	if err != nil {
		return err
	}
	id := store.NewID()
	if _, err := tx.Exec("message.insert", id, h.now().Unix(), "", "", "", false, false, len(body), body); err != nil {
		return err
	}
	_, err = h.Queue.Enqueue(tx, queue.Message{MessageID: id, To: []string{to}, Kind: "agenda"})
	return err
}

// feeds are the calendar feeds the web server serves: public events only,
// named from public data only (the hub's own spelling of a group, a
// territory or a theme; a public event's title). What a client sends is
// read by the grammar of its kind (web.ErrBadFeedName when it does not
// follow it) before anything is looked up; a name that follows it but
// names nothing public is web.ErrNoFeed, the same for a members-only
// event as for one that does not exist.
type feeds struct{ h *Hub }

func (f feeds) Feed(ctx context.Context, kind, key string) ([]byte, error) {
	evs, name, err := f.h.feedEvents(ctx, kind, key)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	err = events.WriteICS(&b, name+" ("+f.h.Config.Domains[0]+")", "-//relais//agenda//FR", evs, f.h.now())
	return b.Bytes(), err
}

// feedEvents reads the public events of a feed (also the agenda's page of
// the same name) and the feed's name, with the errors Feed documents.
func (h *Hub) feedEvents(ctx context.Context, kind, key string) ([]events.Event, string, error) {
	now := h.now()
	var evs []events.Event
	var name string
	var err error
	switch kind {
	case "group":
		code, gname, perr := address.GroupLocal(key)
		if perr != nil {
			return nil, "", feedKeyError(perr)
		}
		id, lerr := groups.Lookup(ctx, h.DB, code, gname)
		if errors.Is(lerr, groups.ErrNotFound) {
			return nil, "", web.ErrNoFeed
		} else if lerr != nil {
			return nil, "", lerr
		}
		evs, err = events.Of(ctx, h.DB, "event.of-group", id, now.Unix())
		name = "Agenda " + code.Local() + "." + gname
	case "zone":
		code, perr := address.ParseCode(key)
		if perr != nil {
			return nil, "", feedKeyError(perr)
		}
		pattern := code.String()
		if code.String() == "fr" {
			pattern = ""
		}
		evs, err = events.Of(ctx, h.DB, "event.of-zone", pattern, pattern, now.Unix())
		name = "Agenda " + code.Local()
	case "theme":
		theme, perr := events.ParseTheme(key)
		if perr != nil {
			return nil, "", web.ErrBadFeedName
		}
		// A theme exists once a public event has it; a members-only
		// event's themes are its own.
		known, lerr := events.PublicTheme(ctx, h.DB, theme)
		if lerr != nil {
			return nil, "", lerr
		} else if !known {
			return nil, "", web.ErrNoFeed
		}
		evs, err = events.Of(ctx, h.DB, "event.of-theme", theme, now.Unix())
		name = "Agenda #" + theme
	case "event":
		// "Add to my calendar": one public event, by its UID.
		if !events.ValidUID(key) {
			return nil, "", web.ErrBadFeedName
		}
		e, lerr := events.PublicByUID(ctx, h.DB, key)
		if errors.Is(lerr, events.ErrNotFound) {
			return nil, "", web.ErrNoFeed
		} else if lerr != nil {
			return nil, "", lerr
		}
		evs, name = []events.Event{e}, e.Title
	default:
		return nil, "", web.ErrNoFeed
	}
	if err != nil {
		return nil, "", err
	}
	public := evs[:0]
	for _, e := range evs {
		if e.Public { // the queries hold only public events; this says so again
			public = append(public, e)
		}
	}
	return public, name, nil
}

// feedKeyError sorts a group address or territory code that was refused:
// one that names no territory is no feed (404), anything else is not a
// feed's name (400).
func feedKeyError(err error) error {
	var ce *address.CodeError
	if errors.As(err, &ce) && ce.Unknown() {
		return web.ErrNoFeed
	}
	return web.ErrBadFeedName
}

const routeAgendaCmd = "agendacmd" // agenda+request@: a member's place and preferences

// agendaCommand handles mail to agenda+request@ (or agenda@): a person
// gives a place, a radius, a language, themes, or says stop, in the
// subject or the first lines; the answer says what is now set.
func (h *Hub) agendaCommand(tx *store.Tx, in inbound) error {
	m, err := tx.Received(in.messageID)
	if err != nil {
		return err
	}
	hdr, _ := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(m.Body)))
	from := ""
	if a, err := mailbox.Parse(hdr.Get("From"), true); err == nil {
		from = strings.ToLower(a.Address)
	}
	log := h.log.With("qid", in.messageID, "from", from)
	if from == "" || automail.Marked(hdr, m.MailFrom) || automail.From(from) {
		log.Info("agenda command: automatic or anonymous mail ignored")
		return nil
	}
	res, judged := h.verdict(m.Body)
	if judged && res.Failed() {
		log.Info("agenda command: forged sender ignored")
		return nil
	}
	// Nobody gets a weekly mail they did not ask for: an address whose
	// From is not proven starts only once it confirms, by a link.
	proven := !judged || res.Proven()
	mem, err := digest.GetTx(tx, from)
	wasActive := err == nil && mem.Active
	if errors.Is(err, digest.ErrNoMember) {
		mem = digest.Member{Email: from, Lang: h.Config.Language, Zone: events.DefaultZone, Active: proven}
	} else if err != nil {
		return err
	}
	subject := hdr.Get("Subject")
	if d, err := new(mime.WordDecoder).DecodeHeader(subject); err == nil {
		subject = d
	}
	text := tickets.CleanSubject(subject) + "\n" + mimetext.First(m.Body, 64<<10)
	if !proven && err == nil {
		// Someone's settings are changed only by mail that proves it is
		// theirs (or by their digest's stop link).
		log.Info("agenda command: unproven sender, settings unchanged")
		return h.tellSettings(tx, mem, nil, "", true, hdr.Get("Message-Id"))
	}
	results := digest.Apply(&mem, text, h.Geo)
	confirm := ""
	if mem.Active && !wasActive && !proven {
		mem.Active = false // "reprendre" from an unproven From: by the link
	}
	if err := digest.Save(tx, mem, h.now()); err != nil {
		return err
	}
	if !mem.Active && !proven {
		saved, err := digest.GetTx(tx, from) // with the link id drawn for a new member
		if err != nil {
			return err
		}
		confirm = h.Digest.WebURL() + "/agenda/start/" + h.Digest.StartToken(saved)
	}
	log.Info("agenda settings", "member", mem.String())
	return h.tellSettings(tx, mem, results, confirm, false, hdr.Get("Message-Id"))
}

// tellSettings answers a member's commands with what is now set.
func (h *Hub) tellSettings(tx *store.Tx, mem digest.Member, results []digest.Result, confirm string, unproven bool, ref string) error {
	lines := []map[string]string{}
	for _, r := range results {
		lines = append(lines, map[string]string{"Line": r.Line, "Outcome": r.Outcome, "Detail": r.Detail})
	}
	return h.tell(tx, mem.Email, mem.Lang, "agenda-settings", map[string]any{
		"Results": lines, "Place": mem.Place, "PostCode": mem.PostCode, "Radius": mem.Radius,
		"Themes": strings.Join(mem.Themes, ", "), "Active": mem.Active, "Located": mem.Located(),
		"Request": h.Digest.Request(), "Confirm": confirm, "Unproven": unproven,
		"ForgetDays": int(h.Config.Retention.AgendaStopped.D().Hours()+23) / 24,
	}, strings.TrimSpace(ref))
}

// agendaLinks are the links of the agenda's mail the web server answers.
type agendaLinks struct{ h *Hub }

func (f agendaLinks) Stop(ctx context.Context, token string, really bool) (web.Link, error) {
	return linkOf(f.h.Digest.Stop(ctx, token, really))
}

func (f agendaLinks) Attend(ctx context.Context, token string, really bool) (web.Link, error) {
	email, lang, e, err := f.h.Digest.Attend(ctx, token, really)
	if errors.Is(err, digest.ErrBadToken) || errors.Is(err, events.ErrNotFound) {
		return web.Link{}, web.ErrBadToken
	}
	return web.Link{Email: email, Lang: lang, Title: e.Title, When: templates.When(lang, e.Start.In(e.Location()), e.AllDay)}, err
}

// linkOf is what a member link named, for the web page.
func linkOf(m digest.Member, err error) (web.Link, error) {
	if errors.Is(err, digest.ErrBadToken) || errors.Is(err, digest.ErrNoMember) {
		return web.Link{}, web.ErrBadToken
	}
	return web.Link{Email: m.Email, Lang: m.Lang}, err
}

// remind sends the day-before reminders: to everyone who said they will
// attend a confirmed event starting within a day.
func (h *Hub) remind(ctx context.Context) error {
	now := h.now()
	type due struct {
		id          int64
		email, lang string
	}
	var list []due
	rows, err := h.DB.Query(ctx, "attendee.due", now.Unix(), now.Add(24*time.Hour).Unix())
	if err != nil {
		return err
	}
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.id, &d.email, &d.lang); err != nil {
			rows.Close()
			return err
		}
		list = append(list, d)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil || len(list) == 0 {
		return err
	}
	err = h.DB.Write(ctx, func(tx *store.Tx) error {
		for _, d := range list {
			e, err := events.Get(ctx, h.DB, d.id)
			if err != nil {
				return err
			}
			if err := h.tell(tx, d.email, d.lang, "event-reminder", map[string]any{"Event": h.describe(e, d.lang),
				"Request": h.Digest.Request()}, ""); err != nil {
				return err
			}
			if _, err := tx.Exec("attendee.reminded", now.Unix(), d.id, d.email); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		h.Queue.Kick()
		h.log.Info("event reminders sent", "count", len(list))
	}
	return err
}

// tellAttendees sends those who said they will attend e what changed:
// outcome is events.Updated or events.Withdrawn.
func (h *Hub) tellAttendees(tx *store.Tx, e events.Event, outcome events.Outcome) error {
	rows, err := tx.Query("attendee.of-event", e.ID)
	if err != nil {
		return err
	}
	type who struct{ email, lang string }
	var list []who
	for rows.Next() {
		var w who
		if err := rows.Scan(&w.email, &w.lang); err != nil {
			rows.Close()
			return err
		}
		list = append(list, w)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	for _, w := range list {
		if err := h.tell(tx, w.email, w.lang, "event-changed", map[string]any{"Event": h.describe(e, w.lang),
			"Cancelled": outcome == events.Withdrawn, "Request": h.Digest.Request()}, ""); err != nil {
			return err
		}
	}
	return nil
}

func (f agendaLinks) Start(ctx context.Context, token string, really bool) (web.Link, error) {
	return linkOf(f.h.Digest.Start(ctx, token, really))
}

// formZone moves a form's times, read as Paris time, to the same wall clock
// in the zone of its place, else of its group's commune.
func (h *Hub) formZone(e *events.Event, g groups.Group) {
	if e.Start.IsZero() {
		return // a cancellation by Id: no times
	}
	for _, q := range []string{e.PostCode, g.Commune} {
		if q == "" {
			continue
		}
		c, err := h.Geo.Place(q)
		if err != nil {
			continue
		}
		z := c.TimeZone()
		loc, err := time.LoadLocation(z)
		if z == "" || err != nil || z == e.Zone {
			return
		}
		from := e.Location()
		move := func(t time.Time) time.Time {
			w := t.In(from)
			return time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, loc)
		}
		e.Start, e.End, e.Zone = move(e.Start), move(e.End), z
		return
	}
}
