package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"codeberg.org/relais/relais/store"
)

const storeDoc = `The hub's database. SQLite (one file in the data directory) is the default;
with store.url (or RELAIS_STORE_URL) set to postgres://…, it is PostgreSQL,
which several nodes can share (deploy/SCALING.md).

copy moves an existing hub's data into a new PostgreSQL database: the schema is
made there, every table copied in one transaction, ids kept, and the rows of
each table counted on both sides before it commits (nothing is committed if a
count differs). The SQLite database is read in one transaction: stop serve
first, or mail accepted meanwhile stays behind. DKIM keys and the configuration
stay files: copy DATA_DIR/dkim (or dkim.keys_dir) and the configuration to each
node, and set store.url there.`

var storeFamily = family{name: "store", doc: storeDoc, subs: []sub{
	{"copy", "--from DATA_DIR --to postgres://…", "copy a SQLite hub into an empty PostgreSQL database, checking counts table by table", storeCopy},
}}

func storeCopy(args []string) error {
	fl := newFlags("store copy", "--from DATA_DIR --to postgres://…", storeDoc)
	from := fl.String("from", "", "data directory of the SQLite hub to copy (holds "+store.FileName+")")
	to := fl.String("to", os.Getenv("RELAIS_STORE_URL"), "URL of the PostgreSQL database to fill; env RELAIS_STORE_URL")
	if _, err := parseArgs(fl, args, 0, 0); err != nil {
		return err
	}
	if *from == "" || *to == "" {
		return usagef("store copy needs --from DATA_DIR and --to postgres://…")
	}
	if !store.IsPostgresURL(*to) {
		return usagef("--to: a postgres://… URL")
	}
	if _, err := os.Stat(filepath.Join(*from, store.FileName)); errors.Is(err, fs.ErrNotExist) {
		return errNoData{*from}
	} else if err != nil {
		return err
	}
	src, err := store.Open(*from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := store.OpenURL(*to, "")
	if err != nil {
		return err
	}
	defer dst.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	bar := newBar(-1, "copying", false)
	counts, err := store.Copy(ctx, src, dst, func(table string, n int64) {
		if bar != nil {
			bar.Describe("copying " + table)
		}
		barAdd(bar, int(n))
	})
	barDone(bar)
	if err != nil {
		return err
	}
	t := newTable("TABLE\tSQLITE\tPOSTGRESQL")
	var rows int64
	for _, c := range counts {
		fmt.Fprintf(t, "%s\t%d\t%d\n", c.Table, c.Source, c.Target)
		rows += c.Target
	}
	if err := t.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "copied %d rows in %d tables, every count equal; now copy %s and the configuration to each node and set store.url\n",
		rows, len(counts), filepath.Join(*from, "dkim"))
	return nil
}
