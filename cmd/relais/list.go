package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"golang.org/x/term"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/audit"
	"codeberg.org/relais/relais/lists"
	"codeberg.org/relais/relais/store"
)

var listFamily = family{name: "list", doc: `Mailing lists on coded addresses (4405.annonces, 4405.discussion). Members join
and leave by email (LIST+subscribe@, LIST+unsubscribe@, LIST+request@);
CODE.groupes@ (every group under CODE) exists by itself.`, subs: []sub{
	{"create", "CODE.NAME --policy announce|members|moderated|open --owner EMAIL… [settings]", "create a list", listCreate},
	{"update", "CODE.NAME [settings]", "change a list's settings; owners and moderators are replaced when given", listUpdate},
	{"delete", "CODE.NAME [--keep-archive | --delete-archive]", "delete a list and its members (asked: keep its archive as an mbox file?)", listDelete},
	{"import", "FILE.csv [--template FAMILY.toml]", "many lists from one template of settings; all lines or none", listImport},
	{"list", "[--json]", "every list", listList},
	{"members", "CODE.NAME [--json]", "members with state, mode, pause, bounce score and consent record", listMembers},
	{"subscribe", "CODE.NAME --consent TEXT (EMAIL… | --file F)", "add addresses whose consent you already hold", listSubscribe},
	{"remove", "CODE.NAME EMAIL… [--reason TEXT]", "unsubscribe members (recorded as done by an operator)", listRemove},
	{"enable", "CODE.NAME EMAIL…", "send mail again to members set to bouncing", listEnable},
	{"export", "CODE.NAME [--out FILE.mbox]", "the archive as an mbox file", listExport},
}}

// listSettings are the flags of list create and update.
type listSettings struct {
	fs                    *flag.FlagSet
	policy, name, replyTo *string
	noPrefix              *bool
	lang, auth            *string
	maxKB                 *int64
	rate                  *int
	owners, moderators    multi
}

func addListSettings(fs *flag.FlagSet) *listSettings {
	s := &listSettings{fs: fs}
	s.policy = fs.String("policy", "", "posting policy: announce, members, moderated or open")
	s.name = fs.String("name", "", "display name")
	s.replyTo = fs.String("reply-to", "", "where replies go: list or poster (default: list for members lists)")
	s.noPrefix = fs.Bool("no-prefix", false, "do not add [CODE.name] to subjects")
	s.lang = fs.String("lang", "fr", "language of the list's messages: fr or en")
	s.maxKB = fs.Int64("max-kb", 0, "posts larger than this are held (default: the hub's lists.max_message_bytes)")
	s.rate = fs.Int("rate", 0, "posts per poster and hour before they are held (default: the hub's lists.rate_per_hour)")
	s.auth = fs.String("auth", "strict", "how a poster's From is judged: strict (held unless SPF/DKIM/DMARC prove it), relaxed (held only if shown forged) or off")
	fs.Var(&s.owners, "owner", "owner's email address (repeatable)")
	fs.Var(&s.moderators, "moderator", "moderator's email address (repeatable)")
	return s
}

// apply sets on l the settings given on the command line (all of them
// for create, only those given for update).
func (s *listSettings) apply(l *lists.List, all bool) {
	given := map[string]bool{}
	s.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	set := func(name string) bool { return all || given[name] }
	if set("policy") {
		l.Policy = *s.policy
	}
	if set("name") {
		l.DisplayName = *s.name
	}
	if set("reply-to") {
		l.ReplyTo = *s.replyTo
	}
	if set("no-prefix") {
		l.SubjectPrefix = !*s.noPrefix
	}
	if set("lang") {
		l.Lang = *s.lang
	}
	if set("max-kb") {
		l.MaxBytes = *s.maxKB << 10
	}
	if set("rate") {
		l.RatePerHour = *s.rate
	}
	if set("auth") {
		l.Auth = *s.auth
	}
	if all || given["owner"] || given["moderator"] {
		var owners []lists.Owner
		for _, o := range s.owners {
			owners = append(owners, lists.Owner{Email: o, Role: "owner"})
		}
		for _, o := range s.moderators {
			owners = append(owners, lists.Owner{Email: o, Role: "moderator"})
		}
		if !given["owner"] && !all { // moderators given alone: keep the owners
			for _, o := range l.Owners {
				if o.Role == "owner" {
					owners = append([]lists.Owner{o}, owners...)
				}
			}
		}
		if !given["moderator"] && !all {
			for _, o := range l.Owners {
				if o.Role == "moderator" {
					owners = append(owners, o)
				}
			}
		}
		l.Owners = owners
	}
}

const listSettingsArgs = "[--name …] [--reply-to list|poster] [--no-prefix] [--lang fr|en] [--max-kb N] [--rate N] [--auth strict|relaxed|off] [--moderator EMAIL…]"

func listCreate(args []string) error {
	fs := newFlags("list create", "CODE.NAME --policy announce|members|moderated|open --owner EMAIL… "+listSettingsArgs,
		"Create a list on a coded address (not a group's).")
	data := addData(fs)
	set := addListSettings(fs)
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	code, name, err := address.GroupLocal(pos[0])
	if err != nil {
		return err
	}
	db, c, err := data.openWrite()
	if err != nil {
		return err
	}
	defer db.Close()
	l := lists.List{Code: code, Name: name, Archive: true}
	set.apply(&l, true)
	if l, err = lists.Create(context.Background(), db, l, cliActor(c.Hostname)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created: %s (%s), policy %s, replies to %s, auth %s\n", l.Local(), l.DisplayName, l.Policy, l.ReplyTo, l.Auth)
	return nil
}

func listUpdate(args []string) error {
	fs := newFlags("list update", "CODE.NAME [--policy P] [--owner EMAIL…] "+listSettingsArgs,
		"Change a list's settings: only those given change. --owner replaces the owners, --moderator\nthe moderators.")
	data := addData(fs)
	set := addListSettings(fs)
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	db, c, err := data.openRead()
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	l, err := lists.Find(ctx, db, pos[0])
	if err != nil {
		return err
	}
	set.apply(&l, false)
	if l, err = lists.Update(ctx, db, l, cliActor(c.Hostname)); err != nil {
		return err
	}
	var owners []string
	for _, o := range l.Owners {
		owners = append(owners, o.Email+" ("+o.Role+")")
	}
	fmt.Fprintf(stdout, "updated: %s (%s), policy %s, replies to %s, auth %s, owners: %s\n", l.Local(), l.DisplayName, l.Policy, l.ReplyTo, l.Auth, strings.Join(owners, ", "))
	return nil
}

func listDelete(args []string) error {
	fs := newFlags("list delete", "CODE.NAME [--keep-archive | --delete-archive]",
		"Delete a list with its members, consent records, held posts and archive. Its address\n"+
			"then refuses mail (550 5.1.1). With --keep-archive the archive is first written to\n"+
			"DATA_DIR/archives/CODE.NAME-DATE.mbox; on a terminal, without either flag, you are asked.")
	data := addData(fs)
	keep := fs.Bool("keep-archive", false, "write the archive to an mbox file first")
	drop := fs.Bool("delete-archive", false, "delete the archive with the list")
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *keep && *drop {
		return usagef("--keep-archive or --delete-archive, not both")
	}
	db, c, err := data.openRead()
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	l, err := lists.Find(ctx, db, pos[0])
	if err != nil {
		return err
	}
	n, err := lists.PostCount(ctx, db, l.ID)
	if err != nil {
		return err
	}
	if !*keep && !*drop {
		if n == 0 {
			*drop = true
		} else if !term.IsTerminal(int(os.Stdin.Fd())) {
			return usagef("%s has %d archived post(s): give --keep-archive or --delete-archive", l.Local(), n)
		} else {
			fmt.Fprintf(os.Stderr, "%s has %d archived post(s). Keep them in an mbox file? [y/n] ", l.Local(), n)
			answer, _ := bufio.NewReader(os.Stdin).ReadString('\n')
			switch strings.ToLower(strings.TrimSpace(answer)) {
			case "y", "yes", "o", "oui":
				*keep = true
			case "n", "no", "non":
			default:
				return errors.New("nothing deleted")
			}
		}
	}
	kept := ""
	if *keep && n > 0 {
		dir := filepath.Join(c.DataDir, "archives")
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return err
		}
		kept = filepath.Join(dir, fmt.Sprintf("%s-%s.mbox", l.Local(), time.Now().Format("20060102-150405")))
		if err := exportTo(ctx, db, l, kept); err != nil {
			return err
		}
	}
	if err := lists.Delete(ctx, db, l.ID, cliActor(c.Hostname)); err != nil {
		return err
	}
	if kept != "" {
		fmt.Fprintf(stdout, "deleted: %s; its archive (%d posts) is in %s\n", l.Local(), n, kept)
	} else {
		fmt.Fprintf(stdout, "deleted: %s, with its archive (%d posts)\n", l.Local(), n)
	}
	return nil
}

// family is a list template file for `list import`.
type listTemplate struct {
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

func listImport(args []string) error {
	fs := newFlags("list import", "FILE.csv [--template FAMILY.toml]",
		"Create or update many lists from a CSV file (columns address,owners,policy,name;\n"+
			"owners space-separated; policy and name optional), with the settings they share in a\n"+
			"TOML template (keys policy, reply_to, subject_prefix, lang, max_kb, rate_per_hour,\n"+
			"auth, owners, moderators). All lines or none. - reads standard input.")
	data := addData(fs)
	template := fs.String("template", "", "TOML file of the settings the lists share")
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	tmpl := lists.List{Policy: lists.Members, SubjectPrefix: true, Lang: "fr", Archive: true}
	if *template != "" {
		var f listTemplate
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
	db, _, err := data.openWrite()
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := lists.ImportCSV(context.Background(), db, progressReader(f, "importing lists"), tmpl)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imported: %d created, %d updated\n", res.Created, res.Updated)
	return nil
}

// listJSON is a list as `list list --json` prints it.
type listJSON struct {
	Address    string   `json:"address"`
	Name       string   `json:"name"`
	Policy     string   `json:"policy"`
	ReplyTo    string   `json:"reply_to"`
	Lang       string   `json:"lang"`
	Auth       string   `json:"auth"`
	Owners     []string `json:"owners"`
	Moderators []string `json:"moderators"`
}

func listList(args []string) error {
	fs := newFlags("list list", "[--json]", "Every list with its policy and owners.")
	data := addData(fs)
	asJSON := addJSON(fs)
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	db, _, err := data.openRead()
	if err != nil {
		return err
	}
	defer db.Close()
	ls, err := lists.All(context.Background(), db)
	if err != nil {
		return err
	}
	if *asJSON {
		out := []listJSON{}
		for _, l := range ls {
			j := listJSON{Address: l.Local(), Name: l.DisplayName, Policy: l.Policy, ReplyTo: l.ReplyTo, Lang: l.Lang, Auth: l.Auth,
				Owners: []string{}, Moderators: []string{}}
			for _, o := range l.Owners {
				if o.Role == "moderator" {
					j.Moderators = append(j.Moderators, o.Email)
				} else {
					j.Owners = append(j.Owners, o.Email)
				}
			}
			out = append(out, j)
		}
		return printJSON(out)
	}
	w := newTable("ADDRESS\tNAME\tPOLICY\tREPLIES\tOWNERS")
	for _, l := range ls {
		var os []string
		for _, o := range l.Owners {
			os = append(os, o.Email)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", l.Local(), l.DisplayName, l.Policy, l.ReplyTo, strings.Join(os, " "))
	}
	return w.Flush()
}

// memberJSON is a member as `list members --json` prints it.
type memberJSON struct {
	Email       string     `json:"email"`
	State       string     `json:"state"`
	Mode        string     `json:"mode"`
	Paused      bool       `json:"paused"`
	ResumeAt    *time.Time `json:"resume_at,omitempty"`
	Bounces     float64    `json:"bounce_score"`
	LastBounce  *time.Time `json:"last_bounce,omitempty"`
	ConsentAt   time.Time  `json:"consent_at"`
	ConsentHow  string     `json:"consent"`
	LeftAt      *time.Time `json:"left_at,omitempty"`
	LeftHow     string     `json:"left,omitempty"`
	Subscribed  bool       `json:"subscribed"`
	ListAddress string     `json:"list"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func day(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format("2006-01-02")
}

func listMembers(args []string) error {
	fs := newFlags("list members", "CODE.NAME [--json]", "Members of a list, those who left included: state (active, bouncing, unsubscribed), mode,\n"+
		"pause, bounce score and last bounce counted, and the consent record.")
	data := addData(fs)
	asJSON := addJSON(fs)
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	db, _, err := data.openRead()
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	l, err := lists.Find(ctx, db, pos[0])
	if err != nil {
		return err
	}
	ms, err := lists.MemberList(ctx, db, l.ID)
	if err != nil {
		return err
	}
	if *asJSON {
		out := []memberJSON{}
		for _, m := range ms {
			out = append(out, memberJSON{Email: m.Email, State: m.State, Mode: m.Mode, Paused: m.Paused, ResumeAt: timePtr(m.ResumeAt),
				Bounces: m.Bounce, LastBounce: timePtr(m.BounceAt), ConsentAt: m.ConsentAt, ConsentHow: m.ConsentHow,
				LeftAt: timePtr(m.LeftAt), LeftHow: m.LeftHow, Subscribed: m.State != "unsubscribed", ListAddress: l.Local()})
		}
		return printJSON(out)
	}
	w := newTable("EMAIL\tSTATE\tMODE\tPAUSED\tBOUNCES\tLAST BOUNCE\tSINCE\tCONSENT")
	for _, m := range ms {
		paused := "-"
		if m.Paused {
			paused = "yes"
			if !m.ResumeAt.IsZero() {
				paused = "until " + m.ResumeAt.Format("2006-01-02")
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%g\t%s\t%s\t%s\n", cell(m.Email), m.State, m.Mode, paused, m.Bounce, day(m.BounceAt), day(m.ConsentAt), cell(m.ConsentHow))
	}
	return w.Flush()
}

func listSubscribe(args []string) error {
	fs := newFlags("list subscribe", "CODE.NAME --consent TEXT (EMAIL… | --file F)",
		"Add addresses whose consent you already hold (a list moved from Sympa or Google Groups);\n"+
			"TEXT is recorded with each as the proof. Nobody is sent anything, and those who left\n"+
			"are not brought back. Everyone else joins by email, with double opt-in.")
	data := addData(fs)
	consent := fs.String("consent", "", "where these addresses' consent is recorded")
	file := fs.String("file", "", "file of addresses, one per line")
	pos, err := parseArgs(fs, args, 1, -1)
	if err != nil {
		return err
	}
	emails := pos[1:]
	if *file != "" {
		b, err := os.ReadFile(*file)
		if err != nil {
			return err
		}
		emails = append(emails, strings.Fields(string(b))...)
	}
	db, c, err := data.openRead()
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	l, err := lists.Find(ctx, db, pos[0])
	if err != nil {
		return err
	}
	n, err := lists.Subscribe(ctx, db, l.ID, *consent, emails, cliActor(c.Hostname), time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "subscribed: %d to %s\n", n, l.Local())
	return nil
}

func listRemove(args []string) error {
	fs := newFlags("list remove", "CODE.NAME EMAIL… [--reason TEXT]",
		"Unsubscribe members for them (asked by phone, by a letter…): recorded as done by an\noperator, with the reason. Nobody is sent anything.")
	data := addData(fs)
	reason := fs.String("reason", "removed by an operator", "why, kept with the record")
	pos, err := parseArgs(fs, args, 2, -1)
	if err != nil {
		return err
	}
	return eachMember(data, pos, "removed", func(ctx context.Context, db *store.DB, l lists.List, email string, a audit.Actor) error {
		return lists.RemoveMember(ctx, db, l.ID, email, *reason, a, time.Now())
	})
}

func listEnable(args []string) error {
	fs := newFlags("list enable", "CODE.NAME EMAIL…",
		"Send mail again to members whom bounces set to \"bouncing\", their score cleared\n(what their own \"reprendre\" by mail does).")
	data := addData(fs)
	pos, err := parseArgs(fs, args, 2, -1)
	if err != nil {
		return err
	}
	return eachMember(data, pos, "enabled", func(ctx context.Context, db *store.DB, l lists.List, email string, a audit.Actor) error {
		return lists.EnableMember(ctx, db, l.ID, email, a, time.Now())
	})
}

func listExport(args []string) error {
	fs := newFlags("list export", "CODE.NAME [--out FILE.mbox]", "Write the archive of a list as an mbox file (mutt -f FILE.mbox), to standard output\nor --out.")
	data := addData(fs)
	out := fs.String("out", "", "write to this file instead of standard output")
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	db, _, err := data.openRead()
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	l, err := lists.Find(ctx, db, pos[0])
	if err != nil {
		return err
	}
	if *out == "" {
		_, err := lists.Export(ctx, db, l.ID, stdout)
		return err
	}
	return exportTo(ctx, db, l, *out)
}

// eachMember runs fn for each address of pos[1:] on list pos[0], saying
// what was done to each; an address that fails does not stop the others.
func eachMember(data *dataFlags, pos []string, verb string, fn func(context.Context, *store.DB, lists.List, string, audit.Actor) error) error {
	db, c, err := data.openRead()
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	l, err := lists.Find(ctx, db, pos[0])
	if err != nil {
		return err
	}
	var errs []error
	for _, email := range pos[1:] {
		if err := fn(ctx, db, l, email, cliActor(c.Hostname)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", email, err))
			continue
		}
		fmt.Fprintf(stdout, "%s: %s from %s\n", verb, strings.ToLower(email), l.Local())
	}
	return errors.Join(errs...)
}

// exportTo writes the archive of l to the file path (made 0600: it holds
// members' posts and addresses).
func exportTo(ctx context.Context, db *store.DB, l lists.List, path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	w, done := progressWriter(f, "exporting "+l.Local())
	n, err := lists.Export(ctx, db, l.ID, w)
	done()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "exported: %d posts to %s\n", n, path)
	return nil
}
