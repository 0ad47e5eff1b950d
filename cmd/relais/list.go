package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/BurntSushi/toml"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/lists"
)

const listDoc = `Manage mailing lists on coded addresses (4405.annonces, 4405.discussion).
Members join and leave by email (LIST+subscribe@, LIST+unsubscribe@, LIST+request@);
CODE.groupes@ (every group under CODE) exists by itself.

  relais list create CODE.NAME --policy announce|members|moderated|open --owner EMAIL… [--moderator EMAIL…]
                     [--name "Display name"] [--reply-to list|poster] [--no-prefix] [--lang fr|en]
                     [--max-kb N] [--rate N] [--auth strict|relaxed|off]
  relais list import FILE.csv [--template FAMILY.toml]
        (columns: address,owners,policy,name; the template holds the shared settings:
         policy, reply_to, subject_prefix, lang, max_kb, rate_per_hour, auth, owners, moderators)
  relais list list
  relais list members CODE.NAME
  relais list subscribe CODE.NAME --consent "where their consent is recorded" (EMAIL… | --file FILE)
        (for addresses whose consent you already hold, e.g. a list moved from Sympa;
         everyone else joins by email, with double opt-in)
  relais list export CODE.NAME [--out FILE.mbox]   (the archive as an mbox file)`

// family is a list template file for `list import`.
type family struct {
	Policy        string   `toml:"policy"`
	ReplyTo       string   `toml:"reply_to"`
	SubjectPrefix *bool    `toml:"subject_prefix"`
	Lang          string   `toml:"lang"`
	MaxKB         int64    `toml:"max_kb"`
	RatePerHour   int      `toml:"rate_per_hour"`
	Auth          string   `toml:"auth"`
	Owners        []string `toml:"owners"`
	Moderators    []string `toml:"moderators"`
}

func runList(args []string) error {
	sub, args, ok := subcommand(args, "list create|import|list|members|subscribe|export …", listDoc)
	if !ok {
		return nil
	}
	fs := newFlags("list "+sub, "…", listDoc)
	var d dataFlags
	d.add(fs)
	policy := fs.String("policy", "", "posting policy: announce, members, moderated or open")
	name := fs.String("name", "", "display name")
	replyTo := fs.String("reply-to", "", "where replies go: list or poster (default: list for members lists)")
	noPrefix := fs.Bool("no-prefix", false, "do not add [CODE.name] to subjects")
	lang := fs.String("lang", "fr", "language of the list's messages: fr or en")
	maxKB := fs.Int64("max-kb", 0, "posts larger than this are held (default: the hub's lists.max_message_bytes)")
	rate := fs.Int("rate", 0, "posts per poster and hour before they are held (default: the hub's lists.rate_per_hour)")
	auth := fs.String("auth", "strict", "how a poster's From is judged: strict (held unless SPF/DKIM/DMARC prove it), relaxed (held only if shown forged) or off")
	template := fs.String("template", "", "list import: TOML file of shared settings")
	consent := fs.String("consent", "", "list subscribe: where these addresses' consent is recorded")
	file := fs.String("file", "", "list subscribe: file of addresses, one per line")
	out := fs.String("out", "", "list export: write to this file instead of standard output")
	var owners, moderators list
	fs.Var(&owners, "owner", "owner's email address (repeatable)")
	fs.Var(&moderators, "moderator", "moderator's email address (repeatable)")
	pos, db, _, err := d.parseOpen(fs, args)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	switch sub {
	case "create":
		if len(pos) != 1 {
			return usagef("list create takes one CODE.NAME")
		}
		code, lname, err := address.GroupLocal(pos[0])
		if err != nil {
			return err
		}
		l := lists.List{Code: code, Name: lname, DisplayName: *name, Policy: *policy, ReplyTo: *replyTo,
			SubjectPrefix: !*noPrefix, Lang: *lang, MaxBytes: *maxKB << 10, RatePerHour: *rate, Archive: true, Auth: *auth}
		for _, o := range owners {
			l.Owners = append(l.Owners, lists.Owner{Email: o, Role: "owner"})
		}
		for _, o := range moderators {
			l.Owners = append(l.Owners, lists.Owner{Email: o, Role: "moderator"})
		}
		if l, err = lists.Create(ctx, db, l); err != nil {
			return err
		}
		fmt.Printf("created: %s (%s), policy %s, replies to %s, auth %s\n", l.Local(), l.DisplayName, l.Policy, l.ReplyTo, l.Auth)
	case "import":
		if len(pos) != 1 {
			return usagef("list import takes one FILE.csv (- for standard input)")
		}
		tmpl := lists.List{Policy: lists.Members, SubjectPrefix: true, Lang: "fr", Archive: true}
		if *template != "" {
			var f family
			md, err := toml.DecodeFile(*template, &f)
			if err != nil {
				return err
			}
			if und := md.Undecoded(); len(und) > 0 {
				return fmt.Errorf("%s: unknown key %q", *template, und[0].String())
			}
			if f.Policy != "" {
				tmpl.Policy = f.Policy
			}
			tmpl.ReplyTo, tmpl.MaxBytes, tmpl.RatePerHour, tmpl.Auth = f.ReplyTo, f.MaxKB<<10, f.RatePerHour, f.Auth
			if f.Lang != "" {
				tmpl.Lang = f.Lang
			}
			if f.SubjectPrefix != nil {
				tmpl.SubjectPrefix = *f.SubjectPrefix
			}
			for _, o := range f.Owners {
				tmpl.Owners = append(tmpl.Owners, lists.Owner{Email: o, Role: "owner"})
			}
			for _, o := range f.Moderators {
				tmpl.Owners = append(tmpl.Owners, lists.Owner{Email: o, Role: "moderator"})
			}
		}
		f, err := openInput(pos[0])
		if err != nil {
			return err
		}
		defer f.Close()
		res, err := lists.ImportCSV(ctx, db, f, tmpl)
		if err != nil {
			return err
		}
		fmt.Printf("imported: %d created, %d updated\n", res.Created, res.Updated)
	case "list":
		ls, err := lists.All(ctx, db)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 2, 2, ' ', 0)
		fmt.Fprintln(w, "ADDRESS\tNAME\tPOLICY\tREPLIES\tOWNERS")
		for _, l := range ls {
			var os []string
			for _, o := range l.Owners {
				os = append(os, o.Email)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", l.Local(), l.DisplayName, l.Policy, l.ReplyTo, strings.Join(os, " "))
		}
		return w.Flush()
	case "members", "subscribe", "export":
		if len(pos) < 1 {
			return usagef("list %s takes CODE.NAME", sub)
		}
		l, err := lists.Find(ctx, db, pos[0])
		if err != nil {
			return err
		}
		switch sub {
		case "members":
			ms, err := lists.MemberList(ctx, db, l.ID)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 2, 2, ' ', 0)
			fmt.Fprintln(w, "EMAIL\tSTATE\tMODE\tPAUSED\tSINCE\tCONSENT")
			for _, m := range ms {
				paused := ""
				if m.Paused {
					paused = "yes"
					if !m.ResumeAt.IsZero() {
						paused = "until " + m.ResumeAt.Format("2006-01-02")
					}
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", m.Email, m.State, m.Mode, paused, m.ConsentAt.Format("2006-01-02"), m.ConsentHow)
			}
			return w.Flush()
		case "subscribe":
			emails := pos[1:]
			if *file != "" {
				b, err := os.ReadFile(*file)
				if err != nil {
					return err
				}
				emails = append(emails, strings.Fields(string(b))...)
			}
			n, err := lists.Subscribe(ctx, db, l.ID, *consent, emails, time.Now())
			if err != nil {
				return err
			}
			fmt.Printf("subscribed: %d to %s\n", n, l.Local())
		case "export":
			w := os.Stdout
			if *out != "" {
				if w, err = os.Create(*out); err != nil {
					return err
				}
			}
			n, err := lists.Export(ctx, db, l.ID, w)
			if err != nil {
				return err
			}
			if *out != "" {
				if err := w.Close(); err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "exported: %d posts to %s\n", n, *out)
			}
		}
	default:
		return usagef("unknown list command %q: create, import, list, members, subscribe or export", sub)
	}
	return nil
}
