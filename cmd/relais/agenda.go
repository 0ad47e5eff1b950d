package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/events"
	"codeberg.org/relais/relais/groups"
	"codeberg.org/relais/relais/hub"
	"codeberg.org/relais/relais/internal/mailview"
	"codeberg.org/relais/relais/store"
)

var eventFamily = family{name: "event", doc: "Events of the groups' agendas (groups publish by mail to CODE.NAME+agenda@).", subs: []sub{
	{"list", "[--days N] [--json]", "upcoming events", eventList},
	{"import", "FILE.ics --group CODE.NAME", "every event of an iCalendar file", eventImport},
	{"add", "--group CODE.NAME --title T --date \"12/12/2026 14h30\" [--end 16h30 | --duration 2h] [--place …] [--themes a,b] [--members-only]", "one event", eventAdd},
}}

type eventJSON struct {
	UID    string    `json:"uid"`
	Title  string    `json:"title"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Place  string    `json:"place"`
	Groups []string  `json:"groups"`
	Status string    `json:"status"`
	Public bool      `json:"public"`
	Themes []string  `json:"themes"`
}

func eventList(args []string) error {
	fs := newFlags("event list", "[--days N] [--json]", "Upcoming events of every group, for the next N days.")
	data := addData(fs)
	days := fs.Int("days", 30, "how many days ahead")
	asJSON := addJSON(fs)
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	db, _, err := data.openRead()
	if err != nil {
		return err
	}
	defer db.Close()
	now := time.Now()
	evs, err := events.Window(context.Background(), db, now, now.AddDate(0, 0, *days))
	if err != nil {
		return err
	}
	if *asJSON {
		out := []eventJSON{}
		for _, e := range evs {
			out = append(out, eventJSON{e.UID, e.Title, e.Start.In(e.Location()), e.End.In(e.Location()), e.Place, e.Groups, e.Status, e.Public, e.Themes})
		}
		return printJSON(out)
	}
	w := newTable("START\tTITLE\tPLACE\tGROUPS\tSTATUS\tUID")
	for _, e := range evs {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Start.In(e.Location()).Format("2006-01-02 15:04"), cell(e.Title), cell(e.Place),
			strings.Join(e.Groups, " "), e.Status, e.UID)
	}
	return w.Flush()
}

func eventImport(args []string) error {
	fs := newFlags("event import", "FILE.ics --group CODE.NAME", "Every event of an iCalendar file, organised by the group. - reads standard input.")
	data := addData(fs)
	group := fs.String("group", "", "organising group, CODE.NAME")
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *group == "" {
		return usagef("--group CODE.NAME is needed")
	}
	f, err := openInput(pos[0])
	if err != nil {
		return err
	}
	b, err := io.ReadAll(progressReader(f, "reading "+pos[0]))
	f.Close()
	if err != nil {
		return err
	}
	inv, err := events.ParseICS(bytes.NewReader(b))
	if err != nil {
		return err
	}
	return saveEvents(data, *group, inv.Events)
}

func eventAdd(args []string) error {
	fs := newFlags("event add", "--group CODE.NAME --title T --date \"12/12/2026 14h30\" [--end 16h30 | --duration 2h] [--place …] [--themes a,b] [--members-only]",
		"Publish one event of a group, as its animators do by mail with the form.")
	data := addData(fs)
	group := fs.String("group", "", "organising group, CODE.NAME")
	title := fs.String("title", "", "title")
	date := fs.String("date", "", "start, as 12/12/2026 14h30")
	end := fs.String("end", "", "end (a time, or a date and time)")
	duration := fs.String("duration", "", "duration (2h, 1h30)")
	place := fs.String("place", "", "place, with its postal code")
	themes := fs.String("themes", "", "themes, comma-separated")
	membersOnly := fs.Bool("members-only", false, "for the groups' members only")
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	if *group == "" {
		return usagef("--group CODE.NAME is needed")
	}
	form := "Titre : " + *title + "\nDate : " + *date + "\nLieu : " + *place + "\nThèmes : " + *themes + "\n"
	if *end != "" {
		form += "Fin : " + *end + "\n"
	}
	if *duration != "" {
		form += "Durée : " + *duration + "\n"
	}
	if *membersOnly {
		form += "Public : non\n"
	}
	f, err := events.ParseForm(form, time.Now(), "")
	if err != nil {
		return err
	}
	c, err := data.load()
	if err != nil {
		return err
	}
	f.UID = events.NewUID(c.Hostname) // 128 random bits: nobody guesses it
	return saveEvents(data, *group, []events.Event{f.Event})
}

// saveEvents stores evs as the group's, placed on the map.
func saveEvents(data *dataFlags, group string, evs []events.Event) error {
	code, name, err := address.GroupLocal(group)
	if err != nil {
		return err
	}
	db, c, err := data.openRead()
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	gid, err := groups.Lookup(ctx, db, code, name)
	if err != nil {
		return fmt.Errorf("%s: %w", group, err)
	}
	gz, err := hub.OpenGazetteer(c.DataDir, newLogger(c))
	if err != nil {
		return err
	}
	gr, err := groupOf(ctx, db, gid)
	if err != nil {
		return err
	}
	now := time.Now()
	return db.Write(ctx, func(tx *store.Tx) error {
		for _, e := range evs {
			for _, q := range []string{e.PostCode, gr.Commune} {
				if cm, err := gz.Place(q); err == nil && q != "" && !e.Located {
					e.INSEE, e.Lat, e.Lon, e.Located = cm.INSEE, cm.Point.Lat, cm.Point.Lon, true
				}
			}
			out, err := events.Save(tx, &e, gid, now)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s: %s %s (%s)\n", out, e.Start.In(e.Location()).Format("2006-01-02 15:04"), e.Title, e.UID)
		}
		return nil
	})
}

func groupOf(ctx context.Context, db *store.DB, id int64) (groups.Group, error) {
	all, err := groups.List(ctx, db)
	if err != nil {
		return groups.Group{}, err
	}
	for _, g := range all {
		if g.ID == id {
			return g, nil
		}
	}
	return groups.Group{}, errors.New("no such group")
}

var digestFamily = family{name: "digest", doc: `The weekly digest of nearby events (members set their place by mail to
agenda+request@: "code-postal 44000", "rayon 30", "themes climat", "stop").`, subs: []sub{
	{"preview", "--member EMAIL [--domain D] [--raw]", "what that member would get now, decoded", digestPreview},
	{"run", "[--dry-run] [--domain D]", "record and queue the digests due now (the running hub does it by itself)", digestRun},
}}

func digestPreview(args []string) error {
	fs := newFlags("digest preview", "--member EMAIL [--domain D] [--raw]", "What the member would get now, decoded as a mail client shows it (--raw: the MIME\nbytes). Nothing is recorded or sent.")
	data := addData(fs)
	member := fs.String("member", "", "the member's address")
	var domains multi
	fs.Var(&domains, "domain", "the hub's domain (default: the configured domains)")
	raw := fs.Bool("raw", false, "print the message's bytes")
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	if *member == "" {
		return usagef("--member EMAIL is needed")
	}
	h, err := digestHub(data, domains, true)
	if err != nil {
		return err
	}
	defer h.Close(context.Background())
	dg, msg, err := h.Digest.Preview(context.Background(), *member)
	if err != nil {
		return err
	}
	if dg.Empty() {
		fmt.Fprintln(stdout, "nothing to announce to", *member, "this week: no digest")
		return nil
	}
	if *raw {
		_, err = stdout.Write(msg)
		return err
	}
	return mailview.Write(stdout, msg)
}

func digestRun(args []string) error {
	fs := newFlags("digest run", "[--dry-run] [--domain D]", "Record and queue the digests due now (the running hub does it every 10 minutes);\n--dry-run says what would be sent and sends nothing.")
	data := addData(fs)
	var domains multi
	fs.Var(&domains, "domain", "the hub's domain (default: the configured domains)")
	dry := fs.Bool("dry-run", false, "say what would be sent, send nothing")
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	h, err := digestHub(data, domains, *dry)
	if err != nil {
		return err
	}
	defer h.Close(context.Background())
	var bar *progressbar.ProgressBar
	h.Digest.OnProgress(func(done, total int) {
		if bar == nil {
			bar = newBar(int64(total), "digests", false)
		}
		barAdd(bar, 1)
	})
	rep, err := h.Digest.Run(context.Background(), *dry)
	barDone(bar)
	if err != nil {
		return err
	}
	if !*dry {
		h.RecordDigestRun(context.Background(), rep)
	}
	verb := "queued"
	if *dry {
		verb = "would be queued"
	}
	fmt.Fprintf(stdout, "%d members with a place, %d due this week, %d digests %s, %d with nothing to announce (%.1f s)\n",
		rep.Members, rep.Due, rep.Queued, verb, rep.Empty, rep.Took.Seconds())
	return nil
}

// digestHub opens the hub of an existing data directory for the digest
// commands, its links pointing where members reach the web server; read
// (preview, run --dry-run): without migrating the database.
func digestHub(data *dataFlags, domains []string, read bool) (*hub.Hub, error) {
	c, err := data.load()
	if err != nil {
		return nil, err
	}
	if len(domains) > 0 {
		c.Domains = domains
	}
	if err := requireData(c); err != nil {
		return nil, err
	}
	web := c.Web.BaseURL
	if web == "" {
		web = "http://" + c.Web.Listen
		c.Web.BaseURL = web // every link of the digest: stop, attend, sign-in
	}
	h, err := openHub(c, read)
	if err != nil {
		return nil, err
	}
	h.Digest.SetWebURL(web)
	return h, nil
}
