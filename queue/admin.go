package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"codeberg.org/relais/relais/store"
)

// What operators do to the queue from the command line, as Postfix's
// postqueue and postsuper do: retry now, hold and release, delete. A
// running hub sees each change within its rescan (10 s).

// ErrState is returned when a delivery is not in a state the operation
// applies to (releasing a delivery that is not held).
var ErrState = errors.New("queue: delivery not in that state")

// Retry makes delivery id due now (a failed one is queued again); id 0
// makes every queued delivery due now. It returns how many.
func Retry(ctx context.Context, db *store.DB, id int64, now time.Time) (int64, error) {
	return change(ctx, db, id, "delivery.retry", now.Unix(), id)
}

// Hold keeps queued delivery id from being sent until Release.
func Hold(ctx context.Context, db *store.DB, id int64, now time.Time) error {
	_, err := change(ctx, db, id, "delivery.hold", now.Unix(), id)
	return err
}

// Release makes held delivery id due now.
func Release(ctx context.Context, db *store.DB, id int64, now time.Time) error {
	_, err := change(ctx, db, id, "delivery.release", now.Unix(), id)
	return err
}

// Delete removes delivery id (queued, held or failed): it is never sent,
// and nobody is told.
func Delete(ctx context.Context, db *store.DB, id int64) error {
	_, err := change(ctx, db, id, "delivery.delete", id)
	return err
}

func change(ctx context.Context, db *store.DB, id int64, query string, args ...any) (int64, error) {
	var n int64
	err := db.Write(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(query, args...)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		if n > 0 || id == 0 {
			return tx.Notify(NotifyChannel) // the nodes sharing the queue look now
		}
		var state string
		switch err := tx.QueryRow("delivery.get", id).Scan(new(int64), new(int64), new(string), new(string), new(string),
			new(sql.NullInt64), new(string), &state, new(int), new(int64), new(string), new(int64), new(int64)); {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("%w: %d", ErrNoDelivery, id)
		case err != nil:
			return err
		}
		return fmt.Errorf("%w: delivery %d is %s", ErrState, id, state)
	})
	return n, err
}

// Depth returns how many deliveries wait in the queue and when the oldest
// of them was queued (zero time: none).
func Depth(ctx context.Context, db *store.DB) (int, time.Time, error) {
	var n int
	var oldest int64
	if err := db.QueryRow(ctx, "delivery.depth").Scan(&n, &oldest); err != nil {
		return 0, time.Time{}, err
	}
	if oldest == 0 {
		return n, time.Time{}, nil
	}
	return n, time.Unix(oldest, 0), nil
}

// Body returns the message of delivery id as queued: the header fields
// prepended for it and the stored body (a list copy is personalised, and
// every copy signed, only at send time).
func Body(ctx context.Context, db *store.DB, id int64) ([]byte, error) {
	var prefix, body []byte
	err := db.QueryRow(ctx, "delivery.body", id).Scan(&prefix, &body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %d", ErrNoDelivery, id)
	}
	return append(prefix, body...), err
}

// Head returns the start of delivery id's message as queued: its header,
// for a listing, without reading a large body whole.
func Head(ctx context.Context, db *store.DB, id int64) ([]byte, error) {
	var prefix, body []byte
	err := db.QueryRow(ctx, "delivery.head", id).Scan(&prefix, &body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %d", ErrNoDelivery, id)
	}
	return append(prefix, body...), err
}
