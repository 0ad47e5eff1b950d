package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"codeberg.org/relais/relais/tickets"
)

var queueFamily = family{name: "queue", doc: `The support desk's queues: plain addresses on the hub's domain (support@,
juridique@, materiel@…). A new mail to a queue opens a ticket; its operators
answer from their mail client.`, subs: []sub{
	{"add", "NAME --operator EMAIL… [--name …] [--lang fr|en]", "create a queue, or replace its settings and operators", queueAdd},
	{"remove", "NAME [--delete-tickets]", "remove a queue (its address then refuses mail)", queueRemove},
	{"list", "[--json]", "every queue and its operators", queueList},
}}

func queueAdd(args []string) error {
	fs := newFlags("queue add", "NAME --operator EMAIL… [--name …] [--lang fr|en]",
		"Create the queue NAME@ (or replace its settings and operators).")
	data := addData(fs)
	name := fs.String("name", "", "display name, as the From of its mail shows it")
	lang := fs.String("lang", "", "language of acknowledgements and notifications: fr (default) or en")
	var ops multi
	fs.Var(&ops, "operator", "operator's email address (repeatable, or comma-separated)")
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	db, c, err := data.openWrite()
	if err != nil {
		return err
	}
	defer db.Close()
	domain := "hub.invalid"
	if len(c.Domains) > 0 {
		domain = c.Domains[0]
	}
	l := *lang
	if l == "" {
		l = c.Language
	}
	q, err := tickets.SaveQueue(context.Background(), db, domain, tickets.Queue{Name: pos[0], DisplayName: *name, Lang: l, Operators: ops}, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "queue %s (%s, %s), operators: %s\n", q.Name, q.DisplayName, q.Lang, strings.Join(q.Operators, ", "))
	return nil
}

func queueRemove(args []string) error {
	fs := newFlags("queue remove", "NAME [--delete-tickets]",
		"Remove a queue and its operators: mail to NAME@ is then refused (550 5.1.1). A queue\nwith tickets is removed only with --delete-tickets, which deletes them too.")
	data := addData(fs)
	withTickets := fs.Bool("delete-tickets", false, "delete the queue's tickets and their messages with it")
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	db, _, err := data.openRead()
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := tickets.RemoveQueue(context.Background(), db, pos[0], *withTickets)
	if errors.Is(err, tickets.ErrNotFound) {
		return fmt.Errorf("no queue %s", pos[0])
	} else if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "removed: queue %s, with %d ticket(s)\n", strings.ToLower(pos[0]), n)
	return nil
}

type queueJSON struct {
	Name      string   `json:"name"`
	Display   string   `json:"display_name"`
	Lang      string   `json:"lang"`
	Operators []string `json:"operators"`
}

func queueList(args []string) error {
	fs := newFlags("queue list", "[--json]", "Every queue of the desk, with its operators.")
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
	qs, err := tickets.Queues(context.Background(), db)
	if err != nil {
		return err
	}
	if *asJSON {
		out := []queueJSON{}
		for _, q := range qs {
			out = append(out, queueJSON{q.Name, q.DisplayName, q.Lang, q.Operators})
		}
		return printJSON(out)
	}
	w := newTable("QUEUE\tNAME\tLANG\tOPERATORS")
	for _, q := range qs {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", q.Name, q.DisplayName, q.Lang, strings.Join(q.Operators, ", "))
	}
	return w.Flush()
}

var ticketFamily = family{name: "ticket", doc: "The support desk's tickets (operators answer them by mail; these commands are for\nthe rest).", subs: []sub{
	{"list", "[--queue NAME] [--state S] [--json]", "tickets", ticketList},
	{"show", "N [--raw M]", "the thread of ticket N, trimmed; --raw M prints message M whole", ticketShow},
	{"close", "N", "close a ticket (the requester's next reply reopens it)", ticketClose},
	{"reopen", "N", "open a ticket again", ticketReopen},
	{"assign", "N EMAIL | N --none", "give a ticket to one of its queue's operators (notifications go to them only)", ticketAssign},
}}

type ticketJSON struct {
	ID        int64     `json:"id"`
	Queue     string    `json:"queue"`
	State     string    `json:"state"`
	Subject   string    `json:"subject"`
	Requester string    `json:"requester"`
	Assignee  string    `json:"assignee"`
	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated"`
}

func ticketList(args []string) error {
	fs := newFlags("ticket list", "[--queue NAME] [--state new|open|pending|solved|closed] [--json]", "The desk's tickets, oldest first.")
	data := addData(fs)
	queue := fs.String("queue", "", "only the tickets of this queue")
	state := fs.String("state", "", "only the tickets in this state")
	asJSON := addJSON(fs)
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	if *state != "" && !slices.Contains(tickets.States, *state) {
		return usagef("--state %q: one of %s", *state, strings.Join(tickets.States, ", "))
	}
	db, _, err := data.openRead()
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	ts, err := tickets.List(ctx, db, *queue, *state)
	if err != nil {
		return err
	}
	names := map[int64]string{}
	if qs, err := tickets.Queues(ctx, db); err == nil {
		for _, q := range qs {
			names[q.ID] = q.Name
		}
	}
	if *asJSON {
		out := []ticketJSON{}
		for _, t := range ts {
			out = append(out, ticketJSON{t.ID, names[t.QueueID], t.State, t.Subject, t.Requester, t.Assignee, t.Created, t.Updated})
		}
		return printJSON(out)
	}
	w := newTable("#\tQUEUE\tSTATE\tUPDATED\tREQUESTER\tASSIGNEE\tSUBJECT")
	for _, t := range ts {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, names[t.QueueID], t.State,
			t.Updated.Local().Format("2006-01-02 15:04"), cell(t.Requester), cell(t.Assignee), cell(t.Subject))
	}
	return w.Flush()
}

// ticketNumber reads "12" or "#12".
func ticketNumber(s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimPrefix(s, "#"), 10, 64)
	if err != nil || n <= 0 {
		return 0, usagef("%q is not a ticket number", s)
	}
	return n, nil
}

func ticketShow(args []string) error {
	fs := newFlags("ticket show", "N [--raw M]", "The thread of ticket N, each message trimmed of quotes and signatures; --raw M prints\nmessage M of the thread whole, as it came or went.")
	data := addData(fs)
	raw := fs.Int64("raw", 0, "print message M of the ticket as it came or went")
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	n, err := ticketNumber(pos[0])
	if err != nil {
		return err
	}
	db, _, err := data.openRead()
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
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
				_, err = stdout.Write(b)
				return err
			}
		}
		return fmt.Errorf("ticket %d has no message %d", n, *raw)
	}
	term := termWriter{stdout}
	requester := cell(t.Requester)
	if name := cell(t.RequesterName); name != "" {
		requester = name + " " + requester
	}
	fmt.Fprintf(term, "Ticket #%d · %s · %s\nSubject:   %s\nRequester: %s\nAssignee:  %s\nOpened:    %s\n",
		t.ID, t.Queue, t.State, cell(t.Subject), requester, cell(orDash(t.Assignee)), t.Created.Local().Format("2006-01-02 15:04"))
	if t.Follows != 0 {
		fmt.Fprintf(stdout, "Follows:   #%d\n", t.Follows)
	}
	for _, m := range msgs {
		fmt.Fprintf(term, "\n--- message %d · %s · %s · %s\n%s\n", m.ID, m.Kind, cell(m.Author), m.At.Local().Format("2006-01-02 15:04"), m.Text)
	}
	return nil
}

func ticketClose(args []string) error  { return ticketSetState("close", tickets.StateClosed, args) }
func ticketReopen(args []string) error { return ticketSetState("reopen", tickets.StateOpen, args) }

func ticketSetState(verb, state string, args []string) error {
	fs := newFlags("ticket "+verb, "N", fmt.Sprintf("Set ticket N to %s (what #%s does at the top of an operator's reply). Nobody is\nwritten to.", state, map[string]string{"close": "fermer", "reopen": "ouvrir"}[verb]))
	data := addData(fs)
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	n, err := ticketNumber(pos[0])
	if err != nil {
		return err
	}
	db, _, err := data.openRead()
	if err != nil {
		return err
	}
	defer db.Close()
	t, err := tickets.SetState(context.Background(), db, n, state, time.Now())
	if errors.Is(err, tickets.ErrNotFound) {
		return fmt.Errorf("no ticket %d", n)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ticket #%d: %s\n", t.ID, t.State)
	return nil
}

func ticketAssign(args []string) error {
	fs := newFlags("ticket assign", "N EMAIL | N --none", "Give ticket N to one of its queue's operators: notifications then go to them only.\n--none takes it back from whoever has it.")
	data := addData(fs)
	none := fs.Bool("none", false, "nobody: every operator is notified again")
	pos, err := parseArgs(fs, args, 1, 2)
	if err != nil {
		return err
	}
	who := ""
	switch {
	case len(pos) == 2 && !*none:
		who = pos[1]
	case len(pos) == 1 && *none:
	default:
		return usagef("give an operator's address, or --none")
	}
	n, err := ticketNumber(pos[0])
	if err != nil {
		return err
	}
	db, _, err := data.openRead()
	if err != nil {
		return err
	}
	defer db.Close()
	t, err := tickets.Assign(context.Background(), db, n, who, time.Now())
	if errors.Is(err, tickets.ErrNotFound) {
		return fmt.Errorf("no ticket %d", n)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ticket #%d: assigned to %s\n", t.ID, orDash(t.Assignee))
	return nil
}
