package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"codeberg.org/relais/relais/store"
)

// Delivery is one recipient of one outbound message, as operators see it.
type Delivery struct {
	ID          int64
	OutboundID  int64
	MessageID   string // the body's id in the messages table
	Kind        string // forward, notice, list, …
	Ref         string // the producer's own reference (a list post id)
	InboundID   int64
	Rcpt        string
	State       string // queued, sent, failed, bounced
	Attempts    int
	NextAttempt time.Time
	LastReply   string
	Created     time.Time
	Updated     time.Time
}

type scanner interface{ Scan(...any) error }

func getDelivery(row scanner) (Delivery, error) {
	var d Delivery
	var inbound sql.NullInt64
	var next, created, updated int64
	err := row.Scan(&d.ID, &d.OutboundID, &d.MessageID, &d.Kind, &d.Ref, &inbound, &d.Rcpt, &d.State, &d.Attempts,
		&next, &d.LastReply, &created, &updated)
	if err != nil {
		return d, err
	}
	d.InboundID = inbound.Int64
	d.NextAttempt, d.Created, d.Updated = time.Unix(next, 0), time.Unix(created, 0), time.Unix(updated, 0)
	return d, nil
}

// Get returns delivery id.
func Get(ctx context.Context, db *store.DB, id int64) (Delivery, error) {
	return getDelivery(db.QueryRow(ctx, "delivery.get", id))
}

// List returns the latest deliveries, newest first; state "" means all.
func List(ctx context.Context, db *store.DB, state string, limit int) ([]Delivery, error) {
	rows, err := db.Query(ctx, "delivery.list", state, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		d, err := getDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Counts returns how many deliveries are in each state.
func Counts(ctx context.Context, db *store.DB) (map[string]int, error) {
	rows, err := db.Query(ctx, "delivery.count-by-state")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]int)
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, rows.Err()
}

// Bounce is what a delivery status notification (RFC 3464) said about one
// delivery, or what little an unparseable bounce said.
type Bounce struct {
	MessageID  string // id of the bounce message in the messages table
	Action     string // failed, delayed, delivered, relayed, expanded; auto-reply; unknown
	Status     string // 5.1.1
	Diagnostic string
}

// Permanent reports whether the bounce says the delivery failed for good:
// only a delivery status notification with Action: failed does. "delayed"
// is not a failure (RFC 3464 §2.3.3); neither is an auto-reply (vacation
// notices go to the envelope sender, RFC 3834 §4) nor an unparseable
// message, which is recorded for the lists' bounce scoring to weigh.
func (b Bounce) Permanent() bool {
	return b.Action == "failed"
}

// ErrNoDelivery is returned by RecordBounce for a delivery that does not
// exist (any more).
var ErrNoDelivery = errors.New("queue: no such delivery")

// RecordBounce records a bounce received for delivery id inside tx. A
// permanent one marks the delivery bounced and tells the failure handler.
func (q *Queue) RecordBounce(tx *store.Tx, id int64, b Bounce) error {
	d, err := getDelivery(tx.QueryRow("delivery.get", id))
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %d", ErrNoDelivery, id)
	} else if err != nil {
		return err
	}
	if _, err := tx.Exec("bounce.insert", id, b.MessageID, q.cfg.Now().Unix(), b.Action, b.Status, b.Diagnostic); err != nil {
		return err
	}
	q.cfg.Observer.Bounced(b.Action)
	if q.onBounce != nil {
		// As for failures: the handler's own trouble does not undo the record.
		if err := tx.Savepoint(func() error { return q.onBounce(tx, d, b) }); err != nil {
			q.log.Error("bounce handler", "dlv", id, "err", err)
		}
	}
	if !b.Permanent() {
		return nil
	}
	reply := "bounce: " + b.Action
	if b.Status != "" {
		reply += " " + b.Status
	}
	if b.Diagnostic != "" {
		reply += " " + b.Diagnostic
	}
	return q.fail(tx, id, "delivery.bounced", reply)
}
