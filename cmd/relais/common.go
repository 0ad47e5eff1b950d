package main

// What every command shares: how a family dispatches to its subcommands,
// flags and --help, the data directory, errors and exit codes, JSON output.
// A new command is written this way (group.go is the model):
//
//  1. A family is a table: var memberFamily = family{name: "member", doc: …,
//     subs: []sub{{"export", "EMAIL [--out FILE]", "one line", memberExport}}},
//     listed in main.go's command table as {"member", "export|erase …",
//     "summary", memberFamily.run}. A command without subcommands is a plain
//     func(args []string) error in that table (runStatus).
//  2. One function per subcommand makes its own FlagSet:
//     fs := newFlags("member export", ARGS, DOC); `relais member export
//     --help` prints ARGS, DOC and that subcommand's flags only, on stdout.
//  3. data := addData(fs) adds --config and --data. Then data.openRead()
//     for anything that reads or changes existing data (a missing data
//     directory is an error and nothing is created), data.openWrite() only
//     for what may be the first thing done on a new hub (group add, list
//     create); data.load() when no database is needed. Both refuse root on
//     a data directory that belongs to the service user.
//  4. pos, err := parseArgs(fs, args, min, max) parses flags anywhere among
//     the positional arguments and checks their number; mistakes in the
//     command line are usagef(...) (exit status 2).
//  5. Return errors, never print them: main prints one line, "relais member
//     export: <error>", and exits 1. Do not repeat the command's name.
//  6. Output goes to stdout (the variable), tables through newTable, and
//     --json (addJSON(fs)) through printJSON wherever a script would read
//     the output. Long jobs: progressReader, progressWriter or newBar (a bar
//     on a terminal only) and one summary line.
//  7. The work is a package's (lists, tickets, queue…): the command parses,
//     calls, prints. openHub(c) gives a hub that neither listens nor
//     delivers, for work that needs the services (sending a notice).

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"

	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/hub"
	"codeberg.org/relais/relais/internal/mailview"
	"codeberg.org/relais/relais/store"
)

// stdout is where commands write their output.
var stdout io.Writer = os.Stdout

// sub is one subcommand of a family: `relais NAME ARGS`.
type sub struct {
	name    string
	args    string
	summary string
	run     func(args []string) error
}

// family is a command with subcommands (relais group add|list|…).
type family struct {
	name string
	doc  string
	subs []sub
}

// usage prints the family's subcommands.
func (f family) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: relais %s COMMAND [flags]\n\n%s\n\nCommands:\n", f.name, f.doc)
	for _, s := range f.subs {
		fmt.Fprintf(w, "  relais %s %s %s\n      %s\n", f.name, s.name, s.args, s.summary)
	}
	fmt.Fprintf(w, "\n`relais %s COMMAND --help` shows the flags of each.\n", f.name)
}

// run dispatches to the subcommand named by args[0]. Its errors carry the
// subcommand's full name, which main prints.
func (f family) run(args []string) error {
	if len(args) == 0 {
		f.usage(os.Stderr)
		return usagef("which command? %s", f.names())
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		f.usage(stdout)
		return nil
	}
	for _, s := range f.subs {
		if s.name == args[0] {
			if err := s.run(args[1:]); err != nil {
				return named(f.name+" "+s.name, err)
			}
			return nil
		}
	}
	return usagef("unknown command %q: %s", args[0], f.names())
}

func (f family) names() string {
	var n []string
	for _, s := range f.subs {
		n = append(n, s.name)
	}
	return strings.Join(n, ", ")
}

// cmdError is an error of a named command ("list members"); main prints
// "relais list members: …".
type cmdError struct {
	name string
	err  error
}

func (e *cmdError) Error() string { return e.err.Error() }
func (e *cmdError) Unwrap() error { return e.err }

func named(name string, err error) error {
	var ce *cmdError
	if errors.As(err, &ce) || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return &cmdError{name: name, err: err}
}

// usageError is a mistake in the command line (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// newFlags returns the flags of one command; --help prints its usage line,
// its doc and its own flags, on standard output.
func newFlags(name, args, doc string) *flag.FlagSet {
	fs := flag.NewFlagSet("relais "+name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: relais %s %s\n\n%s\n", name, args, doc)
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintf(fs.Output(), "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseArgs parses flags that may come before, between or after positional
// arguments ("group add 4405.x --name X"), and returns the positionals,
// which must number between min and max (max < 0: any).
func parseArgs(fs *flag.FlagSet, args []string, min, max int) ([]string, error) {
	fs.SetOutput(io.Discard) // a mistake is said once, by main
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(stdout)
		} else if a == "--" {
			break
		}
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error() + " (--help)"}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	switch {
	case len(pos) < min && min == max:
		return nil, usagef("takes %d argument%s (--help)", min, plural(min))
	case len(pos) < min:
		return nil, usagef("takes at least %d argument%s (--help)", min, plural(min))
	case max >= 0 && len(pos) > max:
		return nil, usagef("unexpected argument %q (--help)", pos[max])
	}
	return pos, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// multi is a repeatable flag; each value may also be comma-separated.
type multi []string

func (l *multi) String() string { return strings.Join(*l, ",") }
func (l *multi) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// dataFlags are the flags of every command that touches the data.
type dataFlags struct {
	config string
	data   string
}

// addData adds --config and --data to fs.
func addData(fs *flag.FlagSet) *dataFlags {
	d := &dataFlags{}
	fs.StringVar(&d.config, "config", os.Getenv("RELAIS_CONFIG"), "configuration file (TOML); env RELAIS_CONFIG")
	fs.StringVar(&d.data, "data", "", "data directory (default: data_dir of the config, RELAIS_DATA_DIR, else ./relais-data)")
	return d
}

// load reads the configuration and applies --data.
func (d *dataFlags) load() (config.Config, error) {
	c, err := config.Load(d.config)
	if err != nil {
		return c, err
	}
	if d.data != "" {
		c.DataDir = d.data
	}
	return c, nil
}

// errNoData says that a read-only command was given a data directory that
// holds no hub.
type errNoData struct{ dir string }

func (e errNoData) Error() string {
	return fmt.Sprintf("no relais data in %s: give --data DIR or --config FILE (nothing was created; "+
		"`relais serve` and the commands that add something create it)", e.dir)
}

// requireData checks that the configured data directory holds a database,
// and, for root, that it is not the service user's (files root would
// create there, the WAL among them, would lock the service out).
func requireData(c config.Config) error {
	if c.Store.URL != "" {
		return nil // PostgreSQL: the database says for itself
	}
	fi, err := os.Stat(filepath.Join(c.DataDir, store.FileName))
	if errors.Is(err, fs.ErrNotExist) {
		return errNoData{c.DataDir}
	} else if err != nil {
		return err
	}
	return checkOwner(c.DataDir, fi)
}

// checkOwner refuses root on a data directory whose database belongs to
// another user.
func checkOwner(dir string, fi os.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || os.Geteuid() != 0 || st.Uid == 0 {
		return nil
	}
	return fmt.Errorf("%s belongs to uid %d, and files root creates there would lock the service out: "+
		"run this command as that user (sudo -u relais relais …)", dir, st.Uid)
}

// openRead opens the database of an existing data directory, and fails
// without creating or changing anything when there is none, or when its
// schema is behind this binary's.
func (d *dataFlags) openRead() (*store.DB, config.Config, error) {
	c, err := d.load()
	if err != nil {
		return nil, c, err
	}
	if err := requireData(c); err != nil {
		return nil, c, err
	}
	// Reading never migrates: a newer binary run for a look must not
	// change the schema under a hub still running the older one.
	db, err := hub.OpenStoreAsIs(c)
	return db, c, err
}

// openWrite opens the database of the data directory, creating both on
// first use.
func (d *dataFlags) openWrite() (*store.DB, config.Config, error) {
	c, err := d.load()
	if err != nil {
		return nil, c, err
	}
	if fi, err := os.Stat(filepath.Join(c.DataDir, store.FileName)); err == nil {
		if err := checkOwner(c.DataDir, fi); err != nil {
			return nil, c, err
		}
	}
	db, err := hub.OpenStore(c)
	return db, c, err
}

// addJSON adds --json: print the result as JSON for scripts.
func addJSON(fs *flag.FlagSet) *bool {
	return fs.Bool("json", false, "print JSON (for scripts) instead of a table")
}

// printJSON writes v as indented JSON.
func printJSON(v any) error {
	e := json.NewEncoder(stdout)
	e.SetIndent("", "  ")
	return e.Encode(v)
}

// table writes aligned columns; Flush it. What strangers wrote (subjects,
// names, remote servers' replies) is in the cells: the table reaches the
// terminal through termWriter, and such cells go through cell.
func newTable(header string) *tabwriter.Writer {
	w := tabwriter.NewWriter(termWriter{stdout}, 0, 2, 2, ' ', 0)
	fmt.Fprintln(w, header)
	return w
}

// cell is s as one cell of a table: one line, no control character (a
// tab or a line break in a subject would make columns or rows of its
// own).
func cell(s string) string { return mailview.Clean(s) }

// termWriter passes text on to a terminal with no control character but
// line breaks and tabs: an escape sequence in a stranger's subject, a
// carriage return, a bidi override print as U+FFFD (mailview.CleanText).
// Each Write must hold whole UTF-8 sequences, as fmt's and tabwriter's do.
type termWriter struct{ w io.Writer }

func (t termWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(t.w, mailview.CleanText(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

func newLogger(c config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// openInput opens a file named on the command line, "-" meaning standard
// input.
func openInput(path string) (*os.File, error) {
	if path == "-" {
		return os.Stdin, nil
	}
	return os.Open(path)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
