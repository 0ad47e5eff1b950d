// Command relais is the hub's one binary: it runs the hub (serve, demo) and
// is the operator's tool (groups, lists, the desk, the queue, health). This
// file holds the command table; each command is in its own file, and what
// commands share (flags, data directory, errors, JSON) is in common.go.
// Flags, configuration and wiring only: the work is done in the packages.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// command is a top-level command: `relais NAME ARGS`.
type command struct {
	name    string
	args    string
	summary string
	run     func(args []string) error
}

var commands []command

func init() {
	commands = []command{
		{"demo", "[--data DIR] [--smtp ADDR] [--web ADDR]", "run a working hub on 127.0.0.1 with sample groups and a local outbox", runDemo},
		{"serve", "[--config FILE] [--domain D]… [--listen ADDR]… [--web ADDR] [--data DIR] [--relay HOST:PORT]", "run the hub", runServe},
		{"status", "[--json]", "one screen: listeners, queue, held posts, digests, DKIM keys, certificate", runStatus},
		{"doctor", "[--domain D] [--json]", "check the published DNS, the relay, the certificate and the web address", runDoctor},
		{"group", "add|update|remove|list|import …", "groups and their animators", groupFamily.run},
		{"list", "create|update|delete|import|list|members|subscribe|remove|enable|export …", "mailing lists and their members", listFamily.run},
		{"held", "list|show|approve|reject …", "posts held for moderation", heldFamily.run},
		{"token", "create|list|revoke …", "tokens of the REST API (/api/v1)", tokenFamily.run},
		{"audit", "[--since D] [--actor WHO] [--target WHAT] [--csv|--json]", "who changed what: console, API, command line, moderators' mail", runAudit},
		{"queue", "add|remove|list …", "the support desk's queues and operators", queueFamily.run},
		{"ticket", "list|show|close|reopen|assign …", "the support desk's tickets", ticketFamily.run},
		{"outbox", "[list]|show|retry|hold|release|delete …", "the outbound queue (and the demo's captured mail)", runOutbox},
		{"dkim", "keygen|list|activate …", "the DKIM keys that sign what the hub sends", dkimFamily.run},
		{"dns", "[--domain D] [--mx HOST] [--spf MECHANISMS] [--policy P]", "print the DNS records to publish (MX, SPF, DKIM, DMARC, TLS-RPT)", runDNS},
		{"event", "list|import|add …", "the groups' events (they publish by mail to CODE.NAME+agenda@)", eventFamily.run},
		{"digest", "preview|run …", "the weekly digest of nearby events", digestFamily.run},
		{"geo", "find|import …", "the embedded gazetteer: find a place, refine positions with an official file", geoFamily.run},
		{"version", "[--json]", "the version of this binary", runVersion},
		{"member", "show|export|erase EMAIL …", "what the hub holds about a person: access and erasure requests", memberFamily.run},
		{"retention", "[--dry-run] | lists | set CODE.NAME …", "delete what is past its retention period (serve does it hourly)", runRetention},
		{"archive", "show|visibility|remove|index …", "the list archives on the web and over IMAP: who reads them, removals", archiveFamily.run},
		{"store", "copy --from DATA_DIR --to postgres://…", "the database: move a SQLite hub to PostgreSQL", storeFamily.run},
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
	fmt.Fprintf(w, "\nEach command has --help. Commands that touch data take --data DIR\n(default ./relais-data) or --config FILE (env RELAIS_CONFIG).\nRun them as the user the hub runs as (sudo -u relais relais …).\n")
}

func main() {
	os.Exit(run(os.Args[1:]))
}

// run runs the command line args and returns the exit status: 0, 1 for a
// failure, 2 for a mistake in the command line.
func run(args []string) int {
	if len(args) < 1 {
		usage(os.Stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return 0
	case "--version", "-version":
		name = "version"
	}
	for _, c := range commands {
		if c.name != name {
			continue
		}
		err := c.run(args[1:])
		if err == nil || errors.Is(err, flag.ErrHelp) {
			return 0
		}
		err = named(name, err)
		var ce *cmdError
		errors.As(err, &ce)
		// A package's own prefix that repeats the command's
		// ("relais backup: backup: …") is said once.
		msg := ce.err.Error()
		if word, _, _ := strings.Cut(ce.name, " "); strings.HasPrefix(msg, word+": ") {
			msg = strings.TrimPrefix(msg, word+": ")
		}
		fmt.Fprintf(os.Stderr, "relais %s: %s\n", ce.name, msg)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	fmt.Fprintf(os.Stderr, "relais: unknown command %q (relais --help lists them)\n", name)
	return 2
}
