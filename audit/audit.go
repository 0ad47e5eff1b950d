// Package audit is in charge of the record of who changed what: every
// change a person makes through the console, the REST API, the command
// line or a moderator's mail is written, in the transaction that makes
// it, with who made it, when, through what and from where. Operators read
// it (relais audit, the console's audit page) and export it (CSV, JSON).
package audit

import (
	"context"
	"encoding/csv"
	"io"
	"strconv"
	"strings"
	"time"

	"codeberg.org/relais/relais/store"
)

// Ways a change comes.
const (
	ViaWeb  = "web"  // the console, signed in by a mailed link
	ViaAPI  = "api"  // the REST API, with a token
	ViaCLI  = "cli"  // the operator's command line
	ViaMail = "mail" // a moderator's mail
)

// Actor is who makes a change and from where.
type Actor struct {
	Who  string // an address, or "token:NAME"
	Via  string // ViaWeb, ViaAPI, ViaCLI, ViaMail
	From string // the client's address, or the message
}

// String is the actor as a record names it ("camille@example.org (web, 127.0.0.1)").
func (a Actor) String() string {
	if a.Who == "" {
		return ""
	}
	return a.Who + " (" + a.Via + ", " + a.From + ")"
}

// Entry is one change.
type Entry struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Via    string    `json:"via"`
	From   string    `json:"from"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Detail string    `json:"detail,omitempty"`
}

// Record writes a change made by a inside tx, at now. An actor without
// Who (a change the hub makes by itself) is not recorded.
func Record(tx *store.Tx, a Actor, now time.Time, action, target, detail string) error {
	if a.Who == "" {
		return nil
	}
	if len(detail) > 2000 {
		detail = detail[:2000]
	}
	_, err := tx.Exec("audit.insert", now.Unix(), strings.ToLower(a.Who), a.Via, a.From, action, target, detail)
	return err
}

// Query selects entries: since and until bound the time (zero: no
// bound), Actor and Target filter on equality when set, Limit caps the
// number (0: 1000), newest first.
type Query struct {
	Since, Until  time.Time
	Actor, Target string
	Limit         int
}

// List returns the entries q selects, newest first.
func List(ctx context.Context, db *store.DB, q Query) ([]Entry, error) {
	until := int64(1 << 62)
	if !q.Until.IsZero() {
		until = q.Until.Unix()
	}
	if q.Limit <= 0 {
		q.Limit = 1000
	}
	rows, err := db.Query(ctx, "audit.list", q.Since.Unix(), until, strings.ToLower(q.Actor), q.Target, q.Limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Entry{}
	for rows.Next() {
		var e Entry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Via, &e.From, &e.Action, &e.Target, &e.Detail); err != nil {
			return nil, err
		}
		e.At = time.Unix(at, 0).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// WriteCSV writes entries as CSV with a header line.
func WriteCSV(w io.Writer, entries []Entry) error {
	c := csv.NewWriter(w)
	c.Write([]string{"id", "at", "actor", "via", "from", "action", "target", "detail"})
	for _, e := range entries {
		c.Write([]string{strconv.FormatInt(e.ID, 10), e.At.Format(time.RFC3339), e.Actor, e.Via, e.From, e.Action, e.Target, e.Detail})
	}
	c.Flush()
	return c.Error()
}
