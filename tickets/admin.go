package tickets

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"codeberg.org/relais/relais/store"
)

// What operators do to the desk from the command line (relais ticket
// close|reopen|assign, relais queue remove). Nothing here writes to the
// requester: answering is done by mail.

// ErrHasTickets is returned by RemoveQueue for a queue that still has
// tickets, unless they are to be deleted with it.
var ErrHasTickets = errors.New("tickets: queue has tickets")

// RemoveQueue deletes queue name and its operators; with deleteTickets,
// its tickets and their messages too. Mail to the address is then refused
// (550 5.1.1).
func RemoveQueue(ctx context.Context, db *store.DB, name string, deleteTickets bool) (int, error) {
	n := 0
	err := db.Write(ctx, func(tx *store.Tx) error {
		q, err := loadQueue(tx, "queue.by-name", strings.ToLower(name))
		if err != nil {
			return err
		}
		if err := tx.QueryRow("queue.ticket-count", q.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 && !deleteTickets {
			return fmt.Errorf("%w: %s has %d ticket(s); give --delete-tickets to delete them with it", ErrHasTickets, q.Name, n)
		}
		if _, err := tx.Exec("queue.delete-tickets", q.ID); err != nil {
			return err
		}
		_, err = tx.Exec("queue.delete", q.ID)
		return err
	})
	return n, err
}

// SetState moves ticket id to state (closed, open…) for an operator.
func SetState(ctx context.Context, db *store.DB, id int64, state string, now time.Time) (Ticket, error) {
	var t Ticket
	err := db.Write(ctx, func(tx *store.Tx) error {
		var err error
		if t, err = getTicket(tx, id); err != nil {
			return err
		}
		if t.State == state {
			return fmt.Errorf("ticket %d is already %s", id, state)
		}
		if err := setState(tx, id, state, now); err != nil {
			return err
		}
		t, err = getTicket(tx, id)
		return err
	})
	return t, err
}

// Assign gives ticket id to an operator of its queue ("" takes it from
// whoever has it); notifications then go to the assignee only.
func Assign(ctx context.Context, db *store.DB, id int64, who string, now time.Time) (Ticket, error) {
	var t Ticket
	err := db.Write(ctx, func(tx *store.Tx) error {
		var err error
		if t, err = getTicket(tx, id); err != nil {
			return err
		}
		if who != "" {
			a, err := mail.ParseAddress(who)
			if err != nil {
				return fmt.Errorf("%q is not an email address", who)
			}
			who = strings.ToLower(a.Address)
			q, err := loadQueue(tx, "queue.by-id", t.QueueID)
			if err != nil {
				return err
			}
			found := false
			for _, o := range q.Operators {
				found = found || strings.EqualFold(o, who)
			}
			if !found {
				return fmt.Errorf("%s is not an operator of %s (%s)", who, q.Name, strings.Join(q.Operators, ", "))
			}
		}
		if _, err := tx.Exec("ticket.assign", who, now.Unix(), id); err != nil {
			return err
		}
		t, err = getTicket(tx, id)
		return err
	})
	return t, err
}

// OpenedTotal returns how many tickets were ever opened.
func OpenedTotal(ctx context.Context, db *store.DB) (int64, error) {
	var n int64
	err := db.QueryRow(ctx, "ticket.opened-total").Scan(&n)
	return n, err
}
