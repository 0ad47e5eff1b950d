package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"codeberg.org/relais/relais/backup"
	"codeberg.org/relais/relais/store"
)

const backupDoc = `An encrypted backup of the hub while it runs: a consistent snapshot of the
database, the DKIM keys, the configuration (with the operator's templates and
positions file), in one file encrypted with age to the public keys of
backup.recipients (or --recipient, for this backup only: the configuration
saved keeps backup.recipients). Any one of the matching identities restores
it; the age command-line tool decrypts it too: age -d -i KEY.txt FILE | tar t.
A database whose schema is behind this relais's (a backup before an upgrade,
taken with the new binary) is copied as it is, and this command says so.
serve makes them by itself every backup.every into backup.dir. The configuration
saved is the one this command reads: give it serve's --config.

  relais backup [--out FILE] [--recipient age1…]   (default FILE: backup.dir/relais-DATE.tar.age)`

func runBackup(args []string) error {
	fs := newFlags("backup", "[--out FILE] [--recipient age1…]", backupDoc)
	d := addData(fs)
	out := fs.String("out", "", "where to write the backup (default: backup.dir/relais-DATE.tar.age)")
	var rcpts multi
	fs.Var(&rcpts, "recipient", "age public key that can decrypt the backup (repeatable; default: backup.recipients)")
	pos, err := parseArgs(fs, args, 0, -1)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("backup takes no argument (--out FILE)")
	}
	var db backup.Snapshotter
	sdb, c, err := d.openRead()
	var behind *store.SchemaBehindError
	switch {
	case errors.As(err, &behind) && c.Store.URL == "":
		// A backup taken before an upgrade, with the new binary: the
		// database is copied as it is, not migrated (the new binary's
		// serve migrates it, or a restore's).
		f, ferr := store.OpenFile(c.DataDir)
		if ferr != nil {
			return ferr
		}
		defer f.Close()
		db = f
	case err != nil:
		return err
	default:
		defer sdb.Close()
		db = sdb
	}
	if err := c.Validate(); err != nil && len(c.Domains) > 0 {
		return err
	}
	if c.DKIM.KeysDir == "" {
		c.DKIM.KeysDir = filepath.Join(c.DataDir, "dkim")
	}
	// --recipient encrypts this backup only: the configuration saved is
	// the hub's, whose restored copy makes scheduled backups only if the
	// hub did (backup.recipients).
	keys := c.Backup.Recipients
	if len(rcpts) > 0 {
		keys = rcpts
	}
	recipients, err := backup.ParseRecipients(keys)
	if err != nil {
		return err
	}
	now := time.Now()
	file := *out
	if file == "" {
		dir := c.Backup.Dir
		if dir == "" {
			dir = filepath.Join(c.DataDir, "backups")
		}
		file = filepath.Join(dir, backup.Name(now))
	}
	// Ctrl-C or a stop ends the snapshot, and the plain copy of the
	// database it was writing is removed on the way out.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m, err := backup.WriteFile(ctx, db, c, recipients, file, now)
	if err != nil {
		return err
	}
	if behind != nil && sdb == nil {
		fmt.Fprintf(stdout, "backup: the database's schema is at version %d, this relais's at %d: copied as it is\n", behind.Have, behind.Want)
	}
	st, _ := os.Stat(file)
	fmt.Fprintf(stdout, "backup: %s (%d bytes, %d files, encrypted to %d recipient(s))\n", file, st.Size(), len(m.Files), len(recipients))
	printManifest(m)
	if len(c.Domains) == 0 {
		fmt.Fprintf(stdout, "note: the configuration saved names no domain (give backup serve's --config, or\nRELAIS_DOMAINS); the restored hub will need %s to serve\n", domainFlags(m))
	}
	return nil
}

// domainFlags is what serve needs besides the configuration of a backup
// saved without domains (the demo's data directory, or a backup taken
// without serve's --config): a --domain for each domain of its DKIM keys.
func domainFlags(m backup.Manifest) string {
	ds := m.KeyDomains()
	if len(ds) == 0 {
		return "--domain DOMAIN"
	}
	return "--domain " + strings.Join(ds, " --domain ")
}

func printManifest(m backup.Manifest) {
	// The manifest is the backup's own word: what it names is printed as
	// cells (no control character, no line of its own).
	domains := make([]string, len(m.Domains))
	for i, d := range m.Domains {
		domains[i] = cell(d)
	}
	fmt.Fprintf(stdout, "taken:  %s, schema %d, domains %v\n", m.Created.Local().Format("2006-01-02 15:04:05"), m.Schema, domains)
	names := make([]string, 0, len(m.Counts))
	for t := range m.Counts {
		names = append(names, t)
	}
	sort.Strings(names)
	fmt.Fprint(stdout, "rows:  ")
	for _, t := range names {
		if m.Counts[t] > 0 {
			fmt.Fprintf(stdout, " %s=%d", cell(t), m.Counts[t])
		}
	}
	fmt.Fprintln(stdout)
}

const restoreDoc = `Restore an encrypted backup into a new or empty data directory (never over
an existing one), with an age identity matching one of its recipients. The
database is checked (integrity, rows of each table against the backup's own
count); DIR/relais.toml is the configuration the hub ran with, its paths moved
into DIR: relais serve --config DIR/relais.toml.

  relais restore FILE --identity KEY.txt --data DIR`

func runRestore(args []string) error {
	fs := newFlags("restore", "FILE --identity KEY.txt --data DIR", restoreDoc)
	identity := fs.String("identity", "", "age identity file (AGE-SECRET-KEY-…, from age-keygen)")
	data := fs.String("data", "", "the new data directory (must be empty or absent)")
	pos, err := parseArgs(fs, args, 0, -1)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *identity == "" || *data == "" {
		return usagef("restore takes FILE, --identity KEY.txt and --data DIR")
	}
	ids, err := backup.ReadIdentities(*identity)
	if err != nil {
		return err
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return err
	}
	defer f.Close()
	m, err := backup.Restore(context.Background(), f, ids, *data)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored into %s, checked\n", *data)
	printManifest(m)
	run := "relais serve --config " + filepath.Join(*data, "relais.toml")
	if len(m.Domains) == 0 {
		// serve refuses a configuration without a domain.
		run += " " + domainFlags(m) + "   (the backup's configuration names no domain; these are its DKIM keys')"
	}
	fmt.Fprintf(stdout, "run it: %s\n", run)
	return nil
}

const wipeDoc = `End of activity: destroy the contents of the data directory (database, DKIM
keys, backups kept there, everything), overwriting each file with zeros before
removing it. Stop the hub first. Says what it cannot guarantee.

  relais wipe --really [--data DIR]`

func runWipe(args []string) error {
	fs := newFlags("wipe", "--really [--data DIR]", wipeDoc)
	d := addData(fs)
	really := fs.Bool("really", false, "yes, destroy everything in the data directory")
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	c, err := d.load()
	if err != nil {
		return err
	}
	if !*really {
		fmt.Fprintln(stdout, backup.WipeCaveats)
		return usagef("wipe destroys everything in %s and cannot be undone: add --really", c.DataDir)
	}
	rep, err := backup.Wipe(c.DataDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wiped %s: %d files (%d bytes) overwritten with zeros and removed, %d directories removed\n\n%s\n",
		c.DataDir, rep.Files, rep.Bytes, rep.Dirs, backup.WipeCaveats)
	return nil
}
