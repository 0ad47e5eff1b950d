package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"codeberg.org/relais/relais/tickets"
)

const queueDoc = `Manage the support desk's queues: plain addresses on the hub's domain
(support@, juridique@, materiel@…). A new mail to a queue opens a ticket; its
operators answer from their mail client.

  relais queue add NAME --operator EMAIL [--operator EMAIL…] [--name "Display name"] [--lang fr|en]
                               (creates the queue, or replaces its settings and operators)
  relais queue list`

func runQueue(args []string) error {
	sub, args, ok := subcommand(args, "queue add|list …", queueDoc)
	if !ok {
		return nil
	}
	fs := newFlags("queue "+sub, "…", queueDoc)
	var d dataFlags
	d.add(fs)
	name := fs.String("name", "", "display name, as the From of its mail shows it")
	lang := fs.String("lang", "", "language of acknowledgements and notifications: fr (default) or en")
	var ops list
	fs.Var(&ops, "operator", "operator's email address (repeatable, or comma-separated)")
	pos, db, c, err := d.parseOpen(fs, args)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	switch sub {
	case "add":
		if len(pos) != 1 {
			return usagef("queue add takes one NAME")
		}
		domain := "hub.invalid"
		if len(c.Domains) > 0 {
			domain = c.Domains[0]
		}
		l := *lang
		if l == "" {
			l = c.Language
		}
		q, err := tickets.SaveQueue(ctx, db, domain, tickets.Queue{Name: pos[0], DisplayName: *name, Lang: l, Operators: ops}, time.Now())
		if err != nil {
			return err
		}
		fmt.Printf("queue %s (%s, %s), operators: %s\n", q.Name, q.DisplayName, q.Lang, strings.Join(q.Operators, ", "))
	case "list":
		qs, err := tickets.Queues(ctx, db)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "QUEUE\tNAME\tLANG\tOPERATORS")
		for _, q := range qs {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", q.Name, q.DisplayName, q.Lang, strings.Join(q.Operators, ", "))
		}
		return w.Flush()
	default:
		return usagef("queue: unknown subcommand %q (add, list)", sub)
	}
	return nil
}

const ticketDoc = `Read the support desk's tickets (operators answer them by mail).

  relais ticket list [--queue NAME] [--state new|open|pending|solved|closed]
  relais ticket show N [--raw MESSAGE]   (the thread of ticket N; --raw prints one message whole)`

func runTicket(args []string) error {
	sub, args, ok := subcommand(args, "ticket list|show …", ticketDoc)
	if !ok {
		return nil
	}
	fs := newFlags("ticket "+sub, "…", ticketDoc)
	var d dataFlags
	d.add(fs)
	queue := fs.String("queue", "", "only the tickets of this queue")
	state := fs.String("state", "", "only the tickets in this state")
	raw := fs.Int64("raw", 0, "print message MESSAGE of the ticket as it came or went")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *state != "" && !slices.Contains(tickets.States, *state) {
		return usagef("--state %q: one of %s", *state, strings.Join(tickets.States, ", "))
	}
	db, _, err := d.openStore()
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	switch sub {
	case "list":
		ts, err := tickets.List(ctx, db, *queue, *state)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "#\tQUEUE\tSTATE\tUPDATED\tREQUESTER\tASSIGNEE\tSUBJECT")
		names := map[int64]string{}
		if qs, err := tickets.Queues(ctx, db); err == nil {
			for _, q := range qs {
				names[q.ID] = q.Name
			}
		}
		for _, t := range ts {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, names[t.QueueID], t.State,
				t.Updated.Local().Format("2006-01-02 15:04"), t.Requester, t.Assignee, t.Subject)
		}
		return w.Flush()
	case "show":
		if len(pos) != 1 {
			return usagef("ticket show takes one ticket number")
		}
		n, err := strconv.ParseInt(strings.TrimPrefix(pos[0], "#"), 10, 64)
		if err != nil {
			return usagef("ticket show: %q is not a ticket number", pos[0])
		}
		t, msgs, err := tickets.Get(ctx, db, n)
		if errors.Is(err, tickets.ErrNotFound) {
			return fmt.Errorf("no ticket %d", n)
		} else if err != nil {
			return err
		}
		if *raw != 0 {
			for _, m := range msgs {
				if m.ID == *raw {
					b, err := tickets.Raw(ctx, db, m.ID)
					if err != nil {
						return err
					}
					_, err = os.Stdout.Write(b)
					return err
				}
			}
			return fmt.Errorf("ticket %d has no message %d", n, *raw)
		}
		fmt.Printf("Ticket #%d · %s · %s\nSubject:   %s\nRequester: %s %s\nAssignee:  %s\nOpened:    %s\n",
			t.ID, t.Queue, t.State, t.Subject, t.RequesterName, t.Requester, orDash(t.Assignee), t.Created.Local().Format("2006-01-02 15:04"))
		if t.Follows != 0 {
			fmt.Printf("Follows:   #%d\n", t.Follows)
		}
		for _, m := range msgs {
			fmt.Printf("\n--- message %d · %s · %s · %s\n%s\n", m.ID, m.Kind, m.Author, m.At.Local().Format("2006-01-02 15:04"), m.Text)
		}
	default:
		return usagef("ticket: unknown subcommand %q (list, show)", sub)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
