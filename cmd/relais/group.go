package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/groups"
)

var groupFamily = family{name: "group", doc: `Groups: each has a coded address CODE.NAME on the hub's domains
(4405.nantes-sud: département 44, circonscription 05) and its mail goes to its
current animators.`, subs: []sub{
	{"add", "CODE.NAME --name NAME [--commune CP] --animator EMAIL…", "add a group", groupAdd},
	{"update", "CODE.NAME --name NAME [--commune CP] --animator EMAIL…", "replace a group's name, commune and animators", groupUpdate},
	{"remove", "CODE.NAME", "remove a group", groupRemove},
	{"list", "[--json]", "every group", groupList},
	{"import", "FILE.csv", "create or update groups from CSV (address,name,commune,animators); all lines or none", groupImport},
}}

// groupFlags are the settings of group add and update.
type groupFlags struct {
	name, commune *string
	animators     multi
}

func addGroupFlags(fs *flag.FlagSet) *groupFlags {
	g := &groupFlags{}
	g.name = fs.String("name", "", "display name of the group")
	g.commune = fs.String("commune", "", "postal code or INSEE code of the group's commune")
	fs.StringVar(g.commune, "postcode", "", "same as --commune")
	fs.Var(&g.animators, "animator", "animator's email address (repeatable, or comma-separated)")
	return g
}

func groupAdd(args []string) error    { return groupSave("add", args) }
func groupUpdate(args []string) error { return groupSave("update", args) }

func groupSave(verb string, args []string) error {
	fs := newFlags("group "+verb, "CODE.NAME --name NAME [--commune CP] --animator EMAIL…",
		"Add a group (update: replace its name, commune and animators). Its mail goes to its animators.")
	data := addData(fs)
	gf := addGroupFlags(fs)
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
	g := groups.Group{Code: code, Name: name, DisplayName: *gf.name, Commune: *gf.commune, Animators: gf.animators}
	g, err = groups.Save(context.Background(), db, g, verb == "add", cliActor(c.Hostname), time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %s (%s), animators: %s\n", map[string]string{"add": "added", "update": "updated"}[verb], g.Local(), g.DisplayName, strings.Join(g.Animators, ", "))
	return nil
}

func groupRemove(args []string) error {
	fs := newFlags("group remove", "CODE.NAME", "Remove a group: its address stops receiving mail (550 5.1.1).")
	data := addData(fs)
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	db, c, err := data.openRead() // a removal needs data: it creates none
	if err != nil {
		return err
	}
	defer db.Close()
	if err := groups.Delete(context.Background(), db, pos[0], cliActor(c.Hostname), time.Now()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "removed: %s\n", pos[0])
	return nil
}

// groupJSON is a group as `group list --json` prints it.
type groupJSON struct {
	Address   string   `json:"address"`
	Name      string   `json:"name"`
	Commune   string   `json:"commune"`
	Animators []string `json:"animators"`
}

func groupList(args []string) error {
	fs := newFlags("group list", "[--json]", "Every group, with its commune and animators.")
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
	gs, err := groups.List(context.Background(), db)
	if err != nil {
		return err
	}
	if *asJSON {
		out := []groupJSON{}
		for _, g := range gs {
			out = append(out, groupJSON{g.Local(), g.DisplayName, g.Commune, g.Animators})
		}
		return printJSON(out)
	}
	w := newTable("ADDRESS\tNAME\tCOMMUNE\tANIMATORS")
	for _, g := range gs {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", g.Local(), g.DisplayName, g.Commune, strings.Join(g.Animators, " "))
	}
	return w.Flush()
}

func groupImport(args []string) error {
	fs := newFlags("group import", "FILE.csv", "Create or update groups from a CSV file (UTF-8, comma or semicolon separated):\n"+
		"columns address,name,commune,animators (animators space-separated). Every line is\nchecked first: all lines are imported, or none. - reads standard input.")
	data := addData(fs)
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
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
	res, err := groups.ImportCSV(context.Background(), db, progressReader(f, "importing groups"))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imported: %d created, %d updated\n", res.Created, res.Updated)
	return nil
}
