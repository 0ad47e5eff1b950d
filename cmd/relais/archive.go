package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"codeberg.org/relais/relais/archive"
	"codeberg.org/relais/relais/audit"
	"codeberg.org/relais/relais/lists"
)

var archiveFamily = family{name: "archive", doc: `The list archives members read on the web (/archives) and over IMAP: who may read
each list's, posts taken out, and the posts archived before archives were read.`, subs: []sub{
	{"show", "[--json]", "each list's archive: who may read it, posts, removals", archiveShow},
	{"visibility", "CODE.NAME public|members|owners", "who may read a list's archive (members by default)", archiveVisibility},
	{"remove", "CODE.NAME N --reason TEXT", "take post N out of a list's archive (pages, search, IMAP)", archiveRemove},
	{"index", "", "thread and index the posts archived before archives were read (serve does it at start)", archiveIndex},
}}

type archiveRow struct {
	List       string `json:"list"`
	Visibility string `json:"visibility"`
	Posts      int    `json:"posts"`
	Removed    int    `json:"removed"`
}

func archiveShow(args []string) error {
	fs := newFlags("archive show", "[--json]", "Each list's archive: who may read it (public, members, owners), its posts, and the\nposts its owners removed.")
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
	ctx := context.Background()
	ls, err := lists.All(ctx, db)
	if err != nil {
		return err
	}
	var rows []archiveRow
	for _, l := range ls {
		r := archiveRow{List: l.Local()}
		if r.Visibility, err = archive.Visibility(ctx, db, l.ID); err != nil {
			return err
		}
		if err := db.QueryRow(ctx, "post.count", l.ID).Scan(&r.Posts); err != nil {
			return err
		}
		rs, err := archive.Removals(ctx, db, l.ID)
		if err != nil {
			return err
		}
		r.Removed = len(rs)
		rows = append(rows, r)
	}
	if *asJSON {
		return printJSON(rows)
	}
	w := newTable("LIST\tVISIBILITY\tPOSTS\tREMOVED")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\n", r.List, r.Visibility, r.Posts, r.Removed)
	}
	return w.Flush()
}

func archiveVisibility(args []string) error {
	fs := newFlags("archive visibility", "CODE.NAME public|members|owners", "Who may read a list's archive, on the web and over IMAP: anyone (public: addresses\n"+
		"are never shown whole, and there is an Atom feed), its members, owners and moderators\n(members, the default), or its owners and moderators only (owners).")
	data := addData(fs)
	pos, err := parseArgs(fs, args, 2, 2)
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
	if err := archive.SetVisibility(ctx, db, l.ID, strings.ToLower(pos[1])); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: archive %s\n", l.Local(), strings.ToLower(pos[1]))
	return nil
}

func archiveRemove(args []string) error {
	fs := newFlags("archive remove", "CODE.NAME N --reason TEXT", "Take post N (the number in its permalink, /archives/CODE.NAME/m/N) out of a list's\n"+
		"archive: gone from the pages, the search and IMAP (clients see it expunged); the\nremoval is recorded with its reason.")
	data := addData(fs)
	reason := fs.String("reason", "", "why (recorded)")
	by := fs.String("by", "", "who removes, recorded (default: operator@HOSTNAME)")
	pos, err := parseArgs(fs, args, 2, 2)
	if err != nil {
		return err
	}
	n, err := strconv.ParseInt(pos[1], 10, 64)
	if err != nil || n <= 0 {
		return usagef("%q is not a post number", pos[1])
	}
	if strings.TrimSpace(*reason) == "" {
		return usagef("--reason is needed: it is recorded with the removal")
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
	who := *by
	if who == "" {
		who = "operator@" + c.Hostname
	}
	if err := archive.Remove(ctx, db, l.ID, l.Local(), n, audit.Actor{Who: who, Via: audit.ViaCLI, From: "command line"}, *reason, time.Now()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: post %d removed from the archive\n", l.Local(), n)
	return nil
}

func archiveIndex(args []string) error {
	fs := newFlags("archive index", "", "Thread and index, for the search, the posts archived before archives were read\n(serve does it when it starts).")
	data := addData(fs)
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	db, _, err := data.openRead()
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := archive.Backfill(context.Background(), db)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d post(s) indexed\n", n)
	return nil
}
