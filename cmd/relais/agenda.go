package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/events"
	"codeberg.org/relais/relais/groups"
	"codeberg.org/relais/relais/hub"
	"codeberg.org/relais/relais/store"
)

const eventDoc = `Events of the groups' agendas (groups publish by mail to CODE.NAME+agenda@).

  relais event list [--days N]               upcoming events
  relais event import FILE.ics --group CODE.NAME   every event of an iCalendar file
  relais event add --group CODE.NAME --title T --date "12/12/2026 14h30"
                   [--end 16h30 | --duration 2h] [--place "…, 44000 Nantes"]
                   [--themes a,b] [--members-only]`

func runEvent(args []string) error {
	sub, args, ok := subcommand(args, "event list|import|add …", eventDoc)
	if !ok {
		return nil
	}
	fs := newFlags("event "+sub, "…", eventDoc)
	var d dataFlags
	d.add(fs)
	group := fs.String("group", "", "organising group, CODE.NAME")
	days := fs.Int("days", 30, "list: how many days ahead")
	title := fs.String("title", "", "add: title")
	date := fs.String("date", "", "add: start, as 12/12/2026 14h30")
	end := fs.String("end", "", "add: end (a time, or a date and time)")
	duration := fs.String("duration", "", "add: duration (2h, 1h30)")
	place := fs.String("place", "", "add: place, with its postal code")
	themes := fs.String("themes", "", "add: themes, comma-separated")
	membersOnly := fs.Bool("members-only", false, "add: for the groups' members only")
	pos, db, c, err := d.parseOpen(fs, args)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	now := time.Now()
	switch sub {
	case "list":
		evs, err := events.Window(ctx, db, now, now.AddDate(0, 0, *days))
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "START\tTITLE\tPLACE\tGROUPS\tSTATUS\tUID")
		for _, e := range evs {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Start.In(e.Location()).Format("2006-01-02 15:04"), e.Title, e.Place,
				strings.Join(e.Groups, " "), e.Status, e.UID)
		}
		return w.Flush()
	case "import", "add":
		if *group == "" {
			return usagef("event %s needs --group CODE.NAME", sub)
		}
		code, name, err := address.GroupLocal(*group)
		if err != nil {
			return err
		}
		gid, err := groups.Lookup(ctx, db, code, name)
		if err != nil {
			return fmt.Errorf("%s: %w", *group, err)
		}
		var evs []events.Event
		if sub == "import" {
			if len(pos) != 1 {
				return usagef("event import takes one FILE.ics (- for standard input)")
			}
			f, err := openInput(pos[0])
			if err != nil {
				return err
			}
			b, err := io.ReadAll(f)
			f.Close()
			if err != nil {
				return err
			}
			inv, err := events.ParseICS(bytes.NewReader(b))
			if err != nil {
				return err
			}
			evs = inv.Events
		} else {
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
			f, err := events.ParseForm(form, now, "")
			if err != nil {
				return err
			}
			f.UID = events.NewUID(c.Hostname) // 128 random bits: nobody guesses it
			evs = []events.Event{f.Event}
		}
		gz, err := hub.OpenGazetteer(c.DataDir, newLogger(c))
		if err != nil {
			return err
		}
		gr, err := groupOf(ctx, db, gid)
		if err != nil {
			return err
		}
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
				fmt.Printf("%s: %s %s (%s)\n", out, e.Start.In(e.Location()).Format("2006-01-02 15:04"), e.Title, e.UID)
			}
			return nil
		})
	default:
		return usagef("event: unknown subcommand %q (list, import, add)", sub)
	}
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

const digestDoc = `The weekly digest of nearby events (members set their place by mail to
agenda+request@: "code-postal 44000", "rayon 30", "themes climat", "stop").

  relais digest preview --member EMAIL [--domain D]   what that member would get now
  relais digest run [--dry-run] [--domain D]          record and queue the digests due now
                                         (the running hub does it by itself)`

func runDigest(args []string) error {
	sub, args, ok := subcommand(args, "digest preview|run …", digestDoc)
	if !ok {
		return nil
	}
	fs := newFlags("digest "+sub, "…", digestDoc)
	var d dataFlags
	d.add(fs)
	member := fs.String("member", "", "preview: the member's address")
	var domains list
	fs.Var(&domains, "domain", "the hub's domain (default: the configured domains)")
	dry := fs.Bool("dry-run", false, "run: say what would be sent, send nothing")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	c, err := d.load()
	if err != nil {
		return err
	}
	if len(domains) > 0 {
		c.Domains = domains
	}
	if len(c.Domains) == 0 {
		return usagef("digest: no domain configured; give --domain")
	}
	web := c.Web.BaseURL
	if web == "" {
		web = "http://" + c.Web.Listen
	}
	c.SMTP.Listen, c.Web.Listen = []string{"127.0.0.1:0"}, "127.0.0.1:0"
	if err := c.Validate(); err != nil {
		return err
	}
	ctx := context.Background()
	h, err := hub.Open(ctx, c, hub.Options{Logger: newLogger(c)})
	if err != nil {
		return err
	}
	defer h.Close(ctx)
	h.Digest.SetWebURL(web)
	switch sub {
	case "preview":
		if *member == "" {
			return usagef("digest preview needs --member EMAIL")
		}
		dg, msg, err := h.Digest.Preview(ctx, *member)
		if err != nil {
			return err
		}
		if dg.Empty() {
			fmt.Println("nothing to announce to", *member, "this week: no digest")
			return nil
		}
		_, err = os.Stdout.Write(msg)
		return err
	case "run":
		rep, err := h.Digest.Run(ctx, *dry)
		if err != nil {
			return err
		}
		verb := "queued"
		if *dry {
			verb = "would be queued"
		}
		fmt.Printf("%d members with a place, %d due this week, %d digests %s, %d with nothing to announce (%.1f s)\n",
			rep.Members, rep.Due, rep.Queued, verb, rep.Empty, rep.Took.Seconds())
		return nil
	default:
		return usagef("digest: unknown subcommand %q (preview, run)", sub)
	}
}
