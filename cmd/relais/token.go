package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"codeberg.org/relais/relais/access"
	"codeberg.org/relais/relais/audit"
)

var tokenFamily = family{name: "token", doc: `Tokens of the REST API (/api/v1), for the movement's own platform: each
reaches the scopes it was made with (groups, lists, members, events, held,
tickets, or all). The secret is printed once; the hub keeps only its hash.`, subs: []sub{
	{"create", "--name NAME --scope SCOPE,… [--json]", "a new token; prints its secret once", tokenCreate},
	{"list", "[--json]", "every token, with its scopes and last use", tokenList},
	{"revoke", "NAME", "the token works no more", tokenRevoke},
}}

func tokenCreate(args []string) error {
	fs := newFlags("token create", "--name NAME --scope SCOPE,… [--json]", "Make an API token named NAME reaching SCOPEs (groups, lists, members, events,\nheld, tickets, or all). Its secret is printed once: give it to the platform.\nNaming owners takes members, moderators held, animators events.")
	data := addData(fs)
	name := fs.String("name", "", "what the token is for (\"plateforme\")")
	scope := fs.String("scope", "", "comma-separated scopes, or all")
	asJSON := addJSON(fs)
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	if *name == "" || *scope == "" {
		return usagef("--name and --scope are needed")
	}
	scopes, err := access.ParseScopes(*scope)
	if err != nil {
		return usagef("%v", err)
	}
	db, _, err := data.openRead()
	if err != nil {
		return err
	}
	defer db.Close()
	secret, t, err := access.CreateToken(context.Background(), db, *name, scopes, time.Now())
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(map[string]any{"name": t.Name, "scopes": t.Scopes, "token": secret})
	}
	fmt.Fprintf(stdout, "token %s (%s):\n%s\n", t.Name, strings.Join(t.Scopes, ", "), secret)
	return nil
}

func tokenList(args []string) error {
	fs := newFlags("token list", "[--json]", "Every API token: name, scopes, when made, revoked, last used and from where.")
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
	ts, err := access.Tokens(context.Background(), db)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(ts)
	}
	day := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Local().Format("2006-01-02 15:04")
	}
	w := newTable("NAME\tSCOPES\tCREATED\tREVOKED\tLAST USED\tFROM")
	for _, t := range ts {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, strings.Join(t.Scopes, ","), day(t.Created), day(t.Revoked), day(t.LastUsed), t.LastFrom)
	}
	return w.Flush()
}

func tokenRevoke(args []string) error {
	fs := newFlags("token revoke", "NAME", "Revoke the API token NAME: it works no more, at once.")
	data := addData(fs)
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	db, _, err := data.openRead()
	if err != nil {
		return err
	}
	defer db.Close()
	if err := access.RevokeToken(context.Background(), db, pos[0], time.Now()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "token %s revoked\n", pos[0])
	return nil
}

// runAudit prints or exports the audit log.
func runAudit(args []string) error {
	fs := newFlags("audit", "[--since DURATION] [--actor WHO] [--target WHAT] [--limit N] [--csv|--json]", "The audit log: every change made through the console, the REST API, the command\nline or a moderator's mail, newest first: who, when, through what, from where.")
	data := addData(fs)
	since := fs.Duration("since", 0, "only the last DURATION (720h: 30 days)")
	actorF := fs.String("actor", "", "only the changes of this address (or token:NAME)")
	target := fs.String("target", "", "only the changes to this list, group… (4405.discussion)")
	limit := fs.Int("limit", 1000, "at most N entries")
	asCSV := fs.Bool("csv", false, "CSV, for a spreadsheet")
	asJSON := addJSON(fs)
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	db, _, err := data.openRead()
	if err != nil {
		return err
	}
	defer db.Close()
	q := audit.Query{Actor: *actorF, Target: *target, Limit: *limit}
	if *since > 0 {
		q.Since = time.Now().Add(-*since)
	}
	es, err := audit.List(context.Background(), db, q)
	if err != nil {
		return err
	}
	switch {
	case *asJSON:
		return printJSON(es)
	case *asCSV:
		return audit.WriteCSV(stdout, es)
	}
	w := newTable("WHEN\tWHO\tVIA\tFROM\tACTION\tTARGET\tDETAIL")
	for _, e := range es {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.At.Local().Format("2006-01-02 15:04:05"), e.Actor, e.Via, e.From, e.Action, e.Target, e.Detail)
	}
	return w.Flush()
}

// cliActor is who runs a command, for the audit log.
func cliActor(hostname string) audit.Actor {
	who := "operator@" + hostname
	if u := os.Getenv("SUDO_USER"); u != "" {
		who = u + "@" + hostname
	}
	host, _ := os.Hostname()
	return audit.Actor{Who: who, Via: audit.ViaCLI, From: host}
}
