// Command relais is the hub's one binary: it runs the hub (serve, demo) and
// is the operator's tool (groups, outbox). This file holds the command table;
// each command is in its own file. Flags, configuration and wiring only: the
// work is done in the packages.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type command struct {
	name    string
	args    string
	summary string
	run     func(args []string) error
}

var commands []command

func init() {
	commands = []command{
		{"demo", "[--data DIR] [--smtp ADDR]", "run a working hub on 127.0.0.1 with sample groups and a local outbox", runDemo},
		{"serve", "[--config FILE] [--domain D] [--listen ADDR] [--data DIR] [--relay HOST:PORT]", "run the hub", runServe},
		{"group", "add|update|remove|list|import …", "manage groups and their animators", runGroup},
		{"list", "create|import|list|members|subscribe|export …", "manage mailing lists", runList},
		{"queue", "add|list …", "manage the support desk's queues and operators", runQueue},
		{"ticket", "list|show …", "read the support desk's tickets", runTicket},
		{"dkim", "keygen|list|activate …", "manage the DKIM keys that sign what the hub sends", runDKIM},
		{"dns", "[--domain D] [--mx HOST] [--spf MECHANISMS]", "print the DNS records to publish (MX, SPF, DKIM, DMARC, TLS-RPT)", runDNS},
		{"event", "list|import|add …", "the groups' events (they publish by mail to CODE.NAME+agenda@)", runEvent},
		{"digest", "preview|run …", "the weekly digest of nearby events", runDigest},
		{"geo", "find|import …", "the embedded gazetteer: find a place, refine positions with an official file", runGeo},
		{"outbox", "[--data DIR] [--state S] [--limit N] | outbox show N", "show what the hub sent or is sending", runOutbox},
		{"member", "show|export|erase EMAIL …", "what the hub holds about a person: access and erasure requests", runMember},
		{"retention", "[--dry-run] | lists | set CODE.NAME …", "delete what is past its retention period (serve does it hourly)", runRetention},
		{"backup", "[--out FILE] [--recipient age1…]", "an encrypted backup of the running hub", runBackup},
		{"restore", "FILE --identity KEY --data DIR", "restore a backup into an empty directory", runRestore},
		{"wipe", "--really [--data DIR]", "end of activity: destroy the data directory's contents", runWipe},
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "relais — self-hosted mail hub for networks of local groups\n\nUsage: relais COMMAND [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-7s %s\n          %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintf(w, "\nEach command has --help. Commands that touch data take --data DIR\n(default ./relais-data) or --config FILE.\n")
}

func main() {
	if len(os.Args) < 2 {
		usage(os.Stderr)
		os.Exit(2)
	}
	name := os.Args[1]
	switch name {
	case "-h", "--help", "help":
		usage(os.Stdout)
		return
	}
	for _, c := range commands {
		if c.name == name {
			err := c.run(os.Args[2:])
			if errors.Is(err, flag.ErrHelp) {
				return
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "relais %s: %v\n", name, err)
				var ue usageError
				if errors.As(err, &ue) {
					os.Exit(2)
				}
				os.Exit(1)
			}
			return
		}
	}
	fmt.Fprintf(os.Stderr, "relais: unknown command %q\n\n", name)
	usage(os.Stderr)
	os.Exit(2)
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// parse parses flags that may come before, between or after positional
// arguments ("group add 4405.x --name X"), and returns the positionals.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// list is a repeatable flag; each value may also be comma-separated.
type list []string

func (l *list) String() string { return strings.Join(*l, ",") }
func (l *list) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

func newFlags(name, args, doc string) *flag.FlagSet {
	fs := flag.NewFlagSet("relais "+name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: relais %s %s\n\n%s\n\nFlags:\n", name, args, doc)
		fs.PrintDefaults()
	}
	return fs
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
