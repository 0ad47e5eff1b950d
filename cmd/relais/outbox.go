package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime"
	"net/textproto"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"codeberg.org/relais/relais/hub"
	"codeberg.org/relais/relais/internal/mailview"
	"codeberg.org/relais/relais/outbox"
	"codeberg.org/relais/relais/queue"
	"codeberg.org/relais/relais/store"
)

// outboxDir is where the demo's relay writes what it captures.
func outboxDir(data string) string { return filepath.Join(data, "outbox") }

var outboxFamily = family{name: "outbox", doc: `The outbound queue, as Postfix's postqueue and postsuper show and change it: one
line per delivery (one recipient of one message), numbered by its ID. In the
demo, the local outbox files each captured copy under the same ID. A running
hub sees retry, hold, release and delete within 10 s.`, subs: []sub{
	{"list", "[--state S] [--limit N] [--json]", "deliveries, newest first, with the queue's depth and the age of its oldest (the default)", outboxList},
	{"show", "ID [--raw]", "the message of delivery ID, decoded (the captured copy in the demo)", outboxShow},
	{"retry", "ID | --all", "attempt now: a queued delivery, a failed one again, or every queued one", outboxRetry},
	{"hold", "ID", "keep a queued delivery from being sent until released", outboxHold},
	{"release", "ID", "send a held delivery now", outboxRelease},
	{"delete", "ID", "never send a queued, held or failed delivery", outboxDelete},
}}

// runOutbox is `relais outbox`: list unless a subcommand is named.
func runOutbox(args []string) error {
	if len(args) == 0 || (strings.HasPrefix(args[0], "-") && !isHelp(args[0])) {
		if err := outboxList(args); err != nil {
			return named("outbox list", err)
		}
		return nil
	}
	return outboxFamily.run(args)
}

func isHelp(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

// deliveryJSON is a delivery as `outbox --json` prints it.
type deliveryJSON struct {
	ID          int64      `json:"id"`
	State       string     `json:"state"`
	Kind        string     `json:"kind"`
	QID         string     `json:"qid"`
	To          string     `json:"to"`
	Subject     string     `json:"subject"`
	Attempts    int        `json:"attempts"`
	NextAttempt *time.Time `json:"next_attempt,omitempty"`
	Updated     time.Time  `json:"updated"`
	LastReply   string     `json:"last_reply"`
	Captured    bool       `json:"captured,omitempty"`
}

type outboxJSON struct {
	Counts      map[string]int `json:"counts"`
	Oldest      *time.Time     `json:"oldest_queued,omitempty"`
	OldestAge   float64        `json:"oldest_queued_age_seconds"`
	Kept        int            `json:"kept_for_postmaster"`
	Deliveries  []deliveryJSON `json:"deliveries"`
	Uncaptured  int            `json:"captured_without_id,omitempty"`
	DataDir     string         `json:"data_dir"`
	CapturedDir string         `json:"captured_dir,omitempty"`
}

func outboxList(args []string) error {
	fs := newFlags("outbox list", "[--state queued|held|sent|failed|bounced] [--limit N] [--json]",
		"The outbound queue: how many deliveries in each state, the age of the oldest waiting,\n"+
			"then the latest deliveries, newest first: state, attempts, subject and the relay's\nlast reply. `relais outbox show ID` prints one.")
	data := addData(fs)
	state := fs.String("state", "", "only deliveries in this state: queued, held, sent, failed, bounced")
	limit := fs.Int("limit", 20, "how many deliveries to show")
	asJSON := addJSON(fs)
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	switch *state {
	case "", "queued", "held", "sent", "failed", "bounced":
	default:
		return usagef("--state %q: queued, held, sent, failed or bounced", *state)
	}
	db, c, err := data.openRead()
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	counts, err := queue.Counts(ctx, db)
	if err != nil {
		return err
	}
	_, oldest, err := queue.Depth(ctx, db)
	if err != nil {
		return err
	}
	var kept int
	if err := db.QueryRow(ctx, "message.count-kept").Scan(&kept); err != nil {
		return err
	}
	ds, err := queue.List(ctx, db, *state, *limit)
	if err != nil {
		return err
	}
	captured := map[int]outbox.Mail{}
	mails, _ := outbox.Read(outboxDir(c.DataDir))
	for _, m := range mails {
		if m.Delivery {
			captured[m.Seq] = m
		}
	}
	now := time.Now()
	out := outboxJSON{Counts: counts, Oldest: timePtr(oldest), Kept: kept, Deliveries: []deliveryJSON{}, DataDir: c.DataDir}
	if !oldest.IsZero() {
		out.OldestAge = now.Sub(oldest).Truncate(time.Second).Seconds()
	}
	if len(mails) > 0 {
		out.CapturedDir = outboxDir(c.DataDir)
	}
	for _, d := range ds {
		j := deliveryJSON{ID: d.ID, State: d.State, Kind: d.Kind, QID: d.MessageID, To: d.Rcpt, Attempts: d.Attempts,
			Updated: d.Updated, LastReply: d.LastReply}
		if d.State == "queued" {
			j.NextAttempt = &d.NextAttempt
		}
		if m, ok := captured[int(d.ID)]; ok {
			j.Captured, j.Subject = true, subjectOf(m.Data)
		} else if b, err := queue.Head(ctx, db, d.ID); err == nil {
			j.Subject = subjectOf(b)
		}
		out.Deliveries = append(out.Deliveries, j)
	}
	if *asJSON {
		return printJSON(out)
	}
	var parts []string
	for _, k := range []string{"queued", "held", "sent", "failed", "bounced"} {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
		}
	}
	if len(parts) == 0 {
		parts = []string{"empty"}
	}
	fmt.Fprintf(stdout, "Queue (%s): %s\n", c.DataDir, strings.Join(parts, ", "))
	if !oldest.IsZero() {
		fmt.Fprintf(stdout, "Oldest waiting: queued %s ago (%s)\n", ago(now.Sub(oldest)), oldest.Local().Format("2006-01-02 15:04"))
	}
	if kept > 0 {
		fmt.Fprintf(stdout, "Kept: %d message(s) to postmaster@/abuse@ with no postmaster configured (set postmaster in the config)\n", kept)
	}
	if out.CapturedDir != "" {
		fmt.Fprintf(stdout, "Captured by the demo outbox in %s (✓): `relais outbox show ID` prints one\n", out.CapturedDir)
	}
	fmt.Fprintln(stdout)
	w := newTable("ID\tSTATE\tKIND\tTO\tTRIES\tUPDATED\tSUBJECT\tLAST REPLY")
	for _, d := range out.Deliveries {
		reply := d.LastReply
		if d.State == "queued" && d.Attempts > 0 {
			reply += " (next " + d.NextAttempt.Local().Format(time.TimeOnly) + ")"
		}
		state := d.State
		if d.Captured {
			state += " ✓"
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", d.ID, state, d.Kind, cell(d.To), d.Attempts,
			d.Updated.Local().Format("2006-01-02 15:04:05"), cell(d.Subject), cell(reply))
	}
	return w.Flush()
}

// ago is a duration as an operator reads it: 3d4h, 2h05m, 42s.
func ago(d time.Duration) string {
	d = d.Truncate(time.Second)
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
	case d >= time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	case d >= time.Minute:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return d.String()
}

// subjectOf is the decoded Subject of a message, on one line.
func subjectOf(raw []byte) string {
	m, err := readHeader(raw)
	if err != nil {
		return ""
	}
	s := m.Get("Subject")
	if d, err := new(mime.WordDecoder).DecodeHeader(s); err == nil {
		s = d
	}
	return strings.Join(strings.Fields(s), " ")
}

func deliveryID(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, usagef("%q is not a delivery ID (relais outbox lists them)", s)
	}
	return n, nil
}

func outboxShow(args []string) error {
	fs := newFlags("outbox show", "ID [--raw]", "The message of delivery ID, decoded as a mail client shows it: the copy the demo's\n"+
		"outbox captured (signed, personalised), else the message as queued (personalised and\nsigned only when sent). --raw prints the bytes.")
	data := addData(fs)
	raw := fs.Bool("raw", false, "print the message's bytes")
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	id, err := deliveryID(pos[0])
	if err != nil {
		return err
	}
	c, err := data.load()
	if err != nil {
		return err
	}
	var msg []byte
	var head string
	mails, _ := outbox.Read(outboxDir(c.DataDir))
	for _, m := range mails {
		if m.Delivery && int64(m.Seq) == id {
			msg = m.Data
			head = fmt.Sprintf("Delivery %d · captured %s · %s → %s\n", id, m.At.Local().Format("2006-01-02 15:04:05"), orDash(m.From), m.To)
		}
	}
	if msg == nil {
		if err := requireData(c); err != nil {
			return err
		}
		db, err := hub.OpenStoreAsIs(c)
		if err != nil {
			return err
		}
		defer db.Close()
		ctx := context.Background()
		d, err := queue.Get(ctx, db, id)
		if err != nil {
			return fmt.Errorf("no delivery %d", id)
		}
		if msg, err = queue.Body(ctx, db, id); err != nil {
			return err
		}
		head = fmt.Sprintf("Delivery %d · %s · %s → %s · %d attempt(s) · %s\n", id, d.State, d.Kind, d.Rcpt, d.Attempts, orDash(d.LastReply))
	}
	if *raw {
		_, err := stdout.Write(msg)
		return err
	}
	fmt.Fprintln(stdout, head)
	return mailview.Write(stdout, msg)
}

func outboxRetry(args []string) error {
	fs := newFlags("outbox retry", "ID | --all", "Attempt delivery ID now (a failed one is queued again), or with --all every queued\ndelivery, as postqueue -f does.")
	data := addData(fs)
	all := fs.Bool("all", false, "every queued delivery")
	pos, err := parseArgs(fs, args, 0, 1)
	if err != nil {
		return err
	}
	var id int64
	switch {
	case *all && len(pos) == 0:
	case !*all && len(pos) == 1:
		if id, err = deliveryID(pos[0]); err != nil {
			return err
		}
	default:
		return usagef("give a delivery ID or --all")
	}
	db, _, err := data.openRead()
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := queue.Retry(context.Background(), db, id, time.Now())
	if err != nil {
		return deliveryErr(err)
	}
	fmt.Fprintf(stdout, "retry: %d delivery(ies) due now\n", n)
	return nil
}

func outboxHold(args []string) error {
	return outboxChange("hold", "Keep queued delivery ID from being sent until `relais outbox release ID`.", args,
		func(db *store.DB, id int64) error { return queue.Hold(context.Background(), db, id, time.Now()) })
}

func outboxRelease(args []string) error {
	return outboxChange("release", "Send held delivery ID now.", args,
		func(db *store.DB, id int64) error { return queue.Release(context.Background(), db, id, time.Now()) })
}

func outboxDelete(args []string) error {
	return outboxChange("delete", "Never send delivery ID (queued, held or failed): it is removed, and nobody is told.", args,
		func(db *store.DB, id int64) error { return queue.Delete(context.Background(), db, id) })
}

func outboxChange(verb, doc string, args []string, fn func(*store.DB, int64) error) error {
	fs := newFlags("outbox "+verb, "ID", doc)
	data := addData(fs)
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	id, err := deliveryID(pos[0])
	if err != nil {
		return err
	}
	db, _, err := data.openRead()
	if err != nil {
		return err
	}
	defer db.Close()
	if err := fn(db, id); err != nil {
		return deliveryErr(err)
	}
	past := map[string]string{"hold": "held", "release": "released", "delete": "deleted"}[verb]
	fmt.Fprintf(stdout, "delivery %d: %s\n", id, past)
	return nil
}

func deliveryErr(err error) error {
	if errors.Is(err, queue.ErrNoDelivery) {
		return fmt.Errorf("no delivery %s", strings.TrimPrefix(err.Error(), queue.ErrNoDelivery.Error()+": "))
	}
	if errors.Is(err, queue.ErrState) {
		return errors.New(strings.TrimPrefix(err.Error(), queue.ErrState.Error()+": "))
	}
	return err
}

func readHeader(raw []byte) (textproto.MIMEHeader, error) {
	return textproto.NewReader(bufio.NewReader(bytes.NewReader(raw))).ReadMIMEHeader()
}
