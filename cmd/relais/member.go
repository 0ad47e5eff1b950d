package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/backup"
	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/hub"
	"codeberg.org/relais/relais/lists"
	"codeberg.org/relais/relais/privacy"
)

const memberDoc = `What the hub holds about one address, for a request of access or erasure
(deploy/PRIVACY.md says how to answer one).

  relais member show EMAIL                 (a summary, and how logs name the address)
  relais member export EMAIL [--out FILE.json]
        (everything, as one JSON document; the address's own posts in list
         archives go to FILE.mbox beside it)
  relais member erase EMAIL --really
        (unsubscribes from every list, stops the digest, removes attendance and
         roles, cancels queued mail, deletes or pseudonymises the rest; tickets
         stay for the operators under "effacé-N"; only a keyed hash of the address
         is kept, so an import does not bring it back)`

var memberFamily = family{name: "member", doc: memberDoc, subs: []sub{
	{"show", "EMAIL", "a summary of what the hub holds about the address", func(a []string) error { return runMember("show", a) }},
	{"export", "EMAIL [--out FILE.json]", "everything, as one JSON document (posts to FILE.mbox)", func(a []string) error { return runMember("export", a) }},
	{"erase", "EMAIL --really", "erase the address (cannot be undone)", func(a []string) error { return runMember("erase", a) }},
}}

func runMember(sub string, args []string) error {
	usage := map[string]string{"show": "EMAIL", "export": "EMAIL [--out FILE.json]", "erase": "EMAIL --really"}[sub]
	fs := newFlags("member "+sub, usage, memberDoc)
	d := addData(fs)
	out, really := new(string), new(bool)
	switch sub {
	case "export":
		out = fs.String("out", "", "write the JSON document to this file (the posts to the same name in .mbox)")
	case "erase":
		really = fs.Bool("really", false, "yes, erase")
	}
	pos, err := parseArgs(fs, args, 0, -1)
	if err != nil {
		return err
	}
	if len(pos) != 1 || !strings.Contains(pos[0], "@") {
		return usagef("member %s takes one EMAIL", sub)
	}
	email := strings.ToLower(strings.TrimSpace(pos[0]))
	db, c, err := d.openRead()
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	domain := "hub.invalid"
	if len(c.Domains) > 0 {
		domain = c.Domains[0]
	}
	switch sub {
	case "show":
		x, err := privacy.ExportOf(ctx, db, domain, email, time.Now(), nil)
		if errors.Is(err, privacy.ErrUnknown) {
			fmt.Fprintf(stdout, "%s: the hub holds nothing about this address\n", email)
			return nil
		} else if err != nil {
			return err
		}
		return showMember(x)
	case "export":
		var w io.Writer = stdout
		var mbox *privacy.MboxWriter
		var mf *os.File
		var file *os.File
		if *out != "" {
			if file, err = os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
				return err
			}
			w = file
		}
		posts := func(p privacy.PostBody) error {
			if *out == "" {
				return nil // counted in the document; their text needs --out
			}
			if mbox == nil {
				name := strings.TrimSuffix(*out, filepath.Ext(*out)) + ".mbox"
				if mf, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
					return err
				}
				mbox = privacy.NewMbox(mf)
			}
			return mbox.Write(p)
		}
		x, err := privacy.ExportOf(ctx, db, domain, email, time.Now(), posts)
		if errors.Is(err, privacy.ErrUnknown) {
			fmt.Fprintf(os.Stderr, "%s: the hub holds nothing about this address\n", email)
		} else if err != nil {
			return err
		}
		err = x.WriteJSON(w)
		if *out != "" {
			err = errors.Join(err, file.Close())
			fmt.Fprintf(os.Stderr, "written: %s\n", *out)
		}
		if mbox != nil {
			err = errors.Join(err, mbox.Flush(), mf.Close())
			fmt.Fprintf(os.Stderr, "written: %s (%d posts)\n", mf.Name(), mbox.Count())
		} else if len(x.Posts) > 0 {
			fmt.Fprintf(os.Stderr, "%d posts: with --out FILE.json they are written whole to FILE.mbox\n", len(x.Posts))
		}
		return err
	case "erase":
		if !*really {
			return usagef("member erase cannot be undone: add --really (member export first keeps a copy to hand over)")
		}
		x, err := privacy.Erase(ctx, db, email, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "erased: %s, now %s where a thread stays for others\n", email, x.Pseudonym)
		for _, p := range backup.RemoveStale(c.DataDir) {
			fmt.Fprintf(stdout, "removed: %s, a plain copy of the database an interrupted backup left\n", p)
		}
		printCounts("deleted", x.Deleted)
		printCounts("pseudonymised", x.Pseudonymised)
		for _, o := range x.Orphans {
			fmt.Fprintf(stdout, "warning: %s has nobody left in that role: name someone\n", o)
		}
		if in := inConfig(c, email); in != "" {
			fmt.Fprintf(stdout, "warning: the configuration still names the address (%s): edit it\n", in)
		}
		if len(x.Left) > 0 {
			return fmt.Errorf("the address is still in %s", strings.Join(x.Left, ", "))
		}
	default:
		return usagef("member: unknown subcommand %q (show, export, erase)", sub)
	}
	return nil
}

func printCounts(what string, m map[string]int64) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(stdout, "  %s %d %s\n", what, m[k], k)
	}
}

// inConfig says which keys of the configuration name email.
func inConfig(c config.Config, email string) string {
	var in []string
	for _, k := range []struct {
		name  string
		addrs []string
	}{{"operators", c.Operators}, {"postmaster", c.Postmaster}} {
		for _, a := range k.addrs {
			if strings.EqualFold(a, email) {
				in = append(in, k.name)
			}
		}
	}
	return strings.Join(in, ", ")
}

func showMember(x privacy.Export) error {
	w := tabwriter.NewWriter(termWriter{stdout}, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "address\t%s\nin logs\t%s\n", x.Address, x.LogPseudonym)
	for _, g := range x.GroupsAnimated {
		fmt.Fprintf(w, "animates\t%s (%s)\n", g.Address, g.Name)
	}
	for _, l := range x.ListRoles {
		fmt.Fprintf(w, "%s of\t%s\n", l.Role, l.List)
	}
	for _, q := range x.QueuesOperated {
		fmt.Fprintf(w, "operator of\t%s\n", q)
	}
	for _, s := range x.Subscriptions {
		fmt.Fprintf(w, "list\t%s: %s, %s, consent %s (%s)\n", s.List, s.State, s.Mode, s.ConsentAt.Local().Format("2006-01-02"), s.ConsentHow)
	}
	if d := x.Digest; d != nil {
		fmt.Fprintf(w, "weekly agenda\t%s %s, %d km, active %v, %d sent\n", d.PostCode, d.Place, d.RadiusKm, d.Active, len(d.Sent))
	}
	for _, a := range x.Attendance {
		fmt.Fprintf(w, "attends\t%s (%s)\n", cell(a.Title), a.Start.Local().Format("2006-01-02 15:04"))
	}
	for _, t := range x.Tickets {
		fmt.Fprintf(w, "ticket\t#%d %s, %s, %s, %d messages\n", t.Number, t.Queue, t.State, t.Role, len(t.Messages))
	}
	fmt.Fprintf(w, "mail\t%d queued, %d delivered or failed, %d bounces\n", len(x.QueuedMail), len(x.DeliveredMail), len(x.Bounces))
	fmt.Fprintf(w, "posts\t%d archived, %d held\n", len(x.Posts), len(x.HeldPosts))
	fmt.Fprintf(w, "other\t%d confirmations, %d messages kept, %d rate-limit records\n", len(x.Confirmations), len(x.MessagesKept),
		x.Counters.SubscriptionRequests+x.Counters.CommandAnswers+x.Counters.DeskAcknowledgements)
	return w.Flush()
}

const retentionDoc = `Retention: every record past its period is deleted by serve's hourly clean-up
(periods in [retention] of the configuration and queue.keep; deploy/PRIVACY.md).

  relais retention [--dry-run]        (deletes now what is past its period; --dry-run only says)
  relais retention lists              (each list's archive retention and what erasure does to posts)
  relais retention set CODE.NAME [--archive DURATION|default|forever] [--erased-posts delete|keep]`

func runRetention(args []string) error {
	sub := ""
	if len(args) > 0 && (args[0] == "set" || args[0] == "lists") {
		sub, args = args[0], args[1:]
	}
	name, usage := "retention", "[--dry-run]"
	if sub != "" {
		name, usage = "retention "+sub, map[string]string{"lists": "", "set": "CODE.NAME [--archive DURATION|default|forever] [--erased-posts delete|keep]"}[sub]
	}
	fs := newFlags(name, usage, retentionDoc)
	d := addData(fs)
	dry, archive, erased := new(bool), new(string), new(string)
	switch sub {
	case "":
		dry = fs.Bool("dry-run", false, "only say what would be deleted")
	case "set":
		archive = fs.String("archive", "", "how long the list's posts stay (720h, …), default (retention.archive) or forever")
		erased = fs.String("erased-posts", "", "what erasing a member does to their posts: delete or keep (under a pseudonym)")
	}
	pos, err := parseArgs(fs, args, 0, -1)
	if err != nil {
		return err
	}
	db, c, err := d.openRead()
	if err != nil {
		return err
	}
	defer db.Close()
	if err := c.Validate(); err != nil && len(c.Domains) > 0 {
		return err
	}
	ctx := context.Background()
	switch sub {
	case "lists":
		ls, err := privacy.Lists(ctx, db)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(termWriter{stdout}, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "LIST\tARCHIVE KEPT\tERASED MEMBERS' POSTS")
		for _, l := range ls {
			keep := "default (" + keepText(c.Retention.Archive.D()) + ")"
			if l.Keep < 0 {
				keep = "forever"
			} else if l.Keep > 0 {
				keep = keepText(l.Keep)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\n", l.List, keep, l.Erase)
		}
		return w.Flush()
	case "set":
		if len(pos) != 1 {
			return usagef("retention set takes one CODE.NAME")
		}
		code, name, err := address.GroupLocal(pos[0])
		if err != nil {
			return err
		}
		id, err := lists.Lookup(ctx, db, code, name)
		if err != nil {
			return err
		}
		local := code.Local() + "." + name
		cur, err := privacy.Lists(ctx, db)
		if err != nil {
			return err
		}
		var r privacy.ListRetention
		for _, x := range cur {
			if x.ID == id {
				r = x
			}
		}
		switch *archive {
		case "":
		case "default":
			r.Keep = 0
		case "forever":
			r.Keep = -1
		default:
			if r.Keep, err = time.ParseDuration(*archive); err != nil || r.Keep <= 0 {
				return usagef("--archive %q: a duration (8760h), default or forever", *archive)
			}
		}
		if *erased != "" {
			r.Erase = *erased
		}
		if err := privacy.SetList(ctx, db, id, r.Keep, r.Erase); err != nil {
			return err
		}
		keep := keepText(r.Keep)
		if r.Keep == 0 {
			keep = "as retention.archive (" + keepText(c.Retention.Archive.D()) + ")"
		} else if r.Keep < 0 {
			keep = "forever"
		}
		fmt.Fprintf(stdout, "%s: archive kept %s, erased members' posts: %s\n", local, keep, r.Erase)
		return nil
	}
	items, err := privacy.Retain(ctx, db, hub.Policy(c), time.Now(), *dry)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(termWriter{stdout}, 0, 4, 2, ' ', 0)
	verb := "DELETED"
	if *dry {
		verb = "WOULD GO"
	}
	fmt.Fprintf(w, "KIND\tLIST\t%s\tDATED AT OR BEFORE\n", verb)
	for _, it := range items {
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", it.Kind, orDash(it.Scope), it.Count, it.Before.Local().Format("2006-01-02 15:04"))
	}
	return w.Flush()
}

func keepText(d time.Duration) string {
	if d == 0 {
		return "forever"
	}
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}
