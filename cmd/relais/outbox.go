package main

import (
	"context"
	"fmt"
	"mime"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"codeberg.org/relais/relais/outbox"
	"codeberg.org/relais/relais/queue"
)

// outboxDir is where the demo's relay writes what it captures.
func outboxDir(data string) string { return filepath.Join(data, "outbox") }

func runOutbox(args []string) error {
	fs := newFlags("outbox", "[flags] | outbox show N", "Show the outbound queue (each recipient's state, attempts and last reply) and,\n"+
		"for the demo, the messages its local outbox captured. `relais outbox show N` prints captured message N.")
	var d dataFlags
	d.add(fs)
	state := fs.String("state", "", "only deliveries in this state: queued, sent, failed, bounced")
	limit := fs.Int("limit", 20, "how many deliveries and captured messages to show")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	c, err := d.load()
	if err != nil {
		return err
	}
	if len(pos) == 2 && pos[0] == "show" {
		n, err := strconv.Atoi(pos[1])
		if err != nil {
			return usagef("outbox show takes a message number")
		}
		b, err := os.ReadFile(filepath.Join(outboxDir(c.DataDir), fmt.Sprintf("%06d.eml", n)))
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(b)
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	switch *state {
	case "", "queued", "sent", "failed", "bounced":
	default:
		return usagef("--state %q: queued, sent, failed or bounced", *state)
	}
	db, _, err := d.openStore()
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	counts, err := queue.Counts(ctx, db)
	if err != nil {
		return err
	}
	var parts []string
	for _, k := range sortedKeys(counts) {
		parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
	}
	if len(parts) == 0 {
		parts = []string{"empty"}
	}
	fmt.Printf("Queue (%s): %s\n", c.DataDir, strings.Join(parts, ", "))
	var kept int
	if err := db.QueryRow(ctx, "message.count-kept").Scan(&kept); err != nil {
		return err
	}
	if kept > 0 {
		fmt.Printf("Kept: %d message(s) to postmaster@/abuse@ with no postmaster configured (set postmaster in the config)\n", kept)
	}
	fmt.Println()
	ds, err := queue.List(ctx, db, *state, *limit)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tSTATE\tKIND\tMESSAGE\tTO\tTRIES\tUPDATED\tLAST REPLY")
	for _, d := range ds {
		reply := d.LastReply
		if d.State == "queued" && d.Attempts > 0 {
			reply += " (next " + d.NextAttempt.Format(time.TimeOnly) + ")"
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.State, d.Kind, d.MessageID, d.Rcpt, d.Attempts,
			d.Updated.Format("2006-01-02 15:04:05"), reply)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	mails, err := outbox.Read(outboxDir(c.DataDir))
	if err != nil || len(mails) == 0 {
		return err
	}
	fmt.Printf("\nCaptured by the demo outbox (%s), latest %d; `relais outbox show N` prints one:\n\n", outboxDir(c.DataDir), min(*limit, len(mails)))
	w = tabwriter.NewWriter(os.Stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintln(w, "N\tRECEIVED\tFROM (envelope)\tTO\tSUBJECT")
	if len(mails) > *limit {
		mails = mails[len(mails)-*limit:]
	}
	for _, m := range mails {
		subject := m.Header().Get("Subject")
		if d, err := new(mime.WordDecoder).DecodeHeader(subject); err == nil {
			subject = d // RFC 2047 encoded words, as a mail client shows them
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", m.Seq, m.At.Format("15:04:05"), m.From, m.To, subject)
	}
	return w.Flush()
}
