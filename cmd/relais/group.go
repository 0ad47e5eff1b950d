package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/groups"
)

const groupDoc = `Manage groups: each has a coded address CODE.NAME on the hub's domains
(4405.nantes-sud: département 44, circonscription 05) and its mail goes to its
current animators.

  relais group add CODE.NAME --name "Display name" [--commune 44200] --animator EMAIL [--animator EMAIL…]
  relais group update CODE.NAME --name … [--commune …] --animator EMAIL…   (replaces the animators)
  relais group remove CODE.NAME
  relais group list
  relais group import FILE.csv    (columns: ` + "address,name,commune,animators" + `; creates or updates)`

func runGroup(args []string) error {
	sub, args, ok := subcommand(args, "group add|update|remove|list|import …", groupDoc)
	if !ok {
		return nil
	}
	fs := newFlags("group "+sub, "…", groupDoc)
	var d dataFlags
	d.add(fs)
	name := fs.String("name", "", "display name of the group")
	commune := fs.String("commune", "", "postal code or INSEE code of the group's commune")
	fs.StringVar(commune, "postcode", "", "same as --commune")
	var animators list
	fs.Var(&animators, "animator", "animator's email address (repeatable, or comma-separated)")
	pos, db, _, err := d.parseOpen(fs, args)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	switch sub {
	case "add", "update":
		if len(pos) != 1 {
			return usagef("group %s takes one CODE.NAME", sub)
		}
		code, gname, err := address.GroupLocal(pos[0])
		if err != nil {
			return err
		}
		g := groups.Group{Code: code, Name: gname, DisplayName: *name, Commune: *commune, Animators: animators}
		if sub == "add" {
			g, err = groups.Add(ctx, db, g)
		} else {
			g, err = groups.Update(ctx, db, g)
		}
		if err != nil {
			return err
		}
		fmt.Printf("%s: %s (%s), animators: %s\n", map[string]string{"add": "added", "update": "updated"}[sub],
			g.Local(), g.DisplayName, strings.Join(g.Animators, ", "))
	case "remove":
		if len(pos) != 1 {
			return usagef("group remove takes one CODE.NAME")
		}
		if err := groups.Remove(ctx, db, pos[0]); err != nil {
			return err
		}
		fmt.Printf("removed: %s\n", pos[0])
	case "list":
		gs, err := groups.List(ctx, db)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 2, 2, ' ', 0)
		fmt.Fprintln(w, "ADDRESS\tNAME\tCOMMUNE\tANIMATORS")
		for _, g := range gs {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", g.Local(), g.DisplayName, g.Commune, strings.Join(g.Animators, " "))
		}
		if err := w.Flush(); err != nil {
			return err
		}
	case "import":
		if len(pos) != 1 {
			return usagef("group import takes one FILE.csv (- for standard input)")
		}
		f, err := openInput(pos[0])
		if err != nil {
			return err
		}
		defer f.Close()
		res, err := groups.ImportCSV(ctx, db, f)
		if err != nil {
			return err
		}
		fmt.Printf("imported: %d created, %d updated\n", res.Created, res.Updated)
	default:
		return usagef("unknown group command %q: add, update, remove, list or import", sub)
	}
	return nil
}
