package privacy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"codeberg.org/relais/relais/store"
)

// Erasure is what Erase did.
type Erasure struct {
	// Pseudonym names the person where their part stays for others: the
	// requester of their tickets, the poster of posts a list keeps.
	Pseudonym string
	// Deleted counts the records deleted, by kind.
	Deleted map[string]int64
	// Pseudonymised counts the records kept with the pseudonym instead of
	// the address, by kind.
	Pseudonymised map[string]int64
	// Orphans are the groups, lists and queues left without an animator,
	// owner or operator: someone must be named.
	Orphans []string
	// Left lists where the address was still found afterwards, only in a
	// form that cannot be rewritten; empty when the erasure is complete.
	Left []string
}

// Erase removes email from the hub, in one transaction:
//   - its roles: animator of groups, owner or moderator of lists, operator
//     of queues (the groups, lists and queues left without anyone are
//     reported);
//   - its subscriptions with their consent records, its weekly digest and
//     the records of digests sent, its attendance, pending confirmations,
//     held posts, rate-limit counters;
//   - mail to it, queued (cancelled) or delivered (forgotten), with its
//     bounces; every message the hub still holds that it sent or that names
//     it (its posts on their way out are cancelled);
//   - its posts in list archives, on lists whose erase_posts is "delete"
//     (the default); lists set to "keep" keep them under the pseudonym;
//   - its tickets stay for the operators, the requester (and any message
//     author) becoming "effacé-N", the address and their name replaced in
//     the thread's text;
//   - then every text column of every table is swept: where the address is
//     still written, it is replaced by the pseudonym; what holds it only
//     encoded (a base64 body) is deleted, or for a ticket's raw message,
//     replaced by its text.
//
// The address itself is then kept only as a keyed hash (store.PersonMAC),
// so an import of an old file does not subscribe it again. Last, the
// write-ahead log is checkpointed and emptied: with secure_delete on, the
// address is in no page of relais.db, relais.db-wal or relais.db-shm.
func Erase(ctx context.Context, db *store.DB, email string, now time.Time) (Erasure, error) {
	email = normal(email)
	if !strings.Contains(email, "@") {
		return Erasure{}, fmt.Errorf("privacy: %q is not an address", email)
	}
	secret, err := db.Secret(ctx, store.ErasureSecret)
	if err != nil {
		return Erasure{}, err
	}
	cols, err := db.TextColumns(ctx)
	if err != nil {
		return Erasure{}, err
	}
	var x Erasure
	err = db.Write(ctx, func(tx *store.Tx) error {
		x = Erasure{Deleted: map[string]int64{}, Pseudonymised: map[string]int64{}}
		mac := store.PersonMAC(secret, email)
		if _, err := tx.Exec("erasure.mark", mac, now.Unix()); err != nil {
			return err
		}
		var n int64
		if err := tx.QueryRow("erasure.number", mac).Scan(&n); err != nil {
			return err
		}
		x.Pseudonym = fmt.Sprintf("effacé-%d", n)
		orphans := func(query, what string) error {
			rows, err := tx.Query(query, email)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var a, b string
				var err error
				if what == "queue" {
					err = rows.Scan(&a)
					a += "@"
				} else {
					err = rows.Scan(&a, &b)
					a += "." + b
				}
				if err != nil {
					return err
				}
				x.Orphans = append(x.Orphans, what+" "+a)
			}
			return rows.Err()
		}
		for _, o := range [][2]string{{"erase.groups-alone", "group"}, {"erase.lists-owned", "list"}, {"erase.queues-alone", "queue"}} {
			if err := orphans(o[0], o[1]); err != nil {
				return err
			}
		}
		var names []string
		rows, err := tx.Query("erase.ticket-names", email)
		if err != nil {
			return err
		}
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				rows.Close()
				return err
			}
			names = append(names, name)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		run := func(m map[string]int64, kind, query string, args ...any) error {
			res, err := tx.Exec(query, args...)
			if err != nil {
				return err
			}
			k, _ := res.RowsAffected()
			m[kind] += k
			return nil
		}
		steps := []struct {
			m           map[string]int64
			kind, query string
			args        []any
		}{
			{x.Deleted, "roles", "erase.animators", []any{email}},
			{x.Deleted, "roles", "erase.list-owners", []any{email}},
			{x.Deleted, "roles", "erase.queue-operators", []any{email}},
			{x.Deleted, "subscriptions", "erase.members", []any{email}},
			{x.Deleted, "digest", "erase.agenda", []any{email}},
			{x.Deleted, "digests sent", "erase.digests", []any{email}},
			{x.Deleted, "attendance", "erase.attendance", []any{email}},
			{x.Deleted, "confirmations", "erase.tokens", []any{email}},
			{x.Deleted, "web links", "erase.web-links", []any{email}},
			{x.Deleted, "web sessions", "erase.web-sessions", []any{email}},
			{x.Deleted, "app passwords", "erase.app-passwords", []any{email}},
			{x.Deleted, "held posts", "erase.held", []any{email}},
			{x.Deleted, "rate-limit records", "erase.counters", []any{email}},
			{x.Deleted, "rate-limit records", "erase.answers", []any{email}},
			{x.Deleted, "rate-limit records", "erase.acks", []any{email}},
			{x.Deleted, "deliveries", "erase.deliveries", []any{email}},
			{x.Deleted, "messages", "erase.messages", []any{email}},
			{x.Deleted, "posts", "erase.posts-own", []any{email}},
			{x.Pseudonymised, "posts", "erase.posts-keep", []any{email, x.Pseudonym}},
			{x.Pseudonymised, "tickets", "erase.tickets", []any{email, x.Pseudonym}},
			{x.Pseudonymised, "tickets", "erase.tickets-assigned", []any{email, x.Pseudonym}},
			{x.Pseudonymised, "ticket people", "erase.ticket-people", []any{email, x.Pseudonym}},
			{x.Pseudonymised, "ticket messages", "erase.ticket-authors", []any{email, x.Pseudonym}},
		}
		for _, s := range steps {
			if err := run(s.m, s.kind, s.query, s.args...); err != nil {
				return err
			}
		}
		for _, name := range names {
			if err := run(x.Pseudonymised, "ticket messages", "erase.ticket-name", name, x.Pseudonym); err != nil {
				return err
			}
		}
		// The sweep: every text column of every table.
		for _, c := range cols {
			k, err := tx.Scrub(c, email, x.Pseudonym)
			if err != nil {
				return err
			}
			if k > 0 {
				x.Pseudonymised["other text ("+c.Table+"."+c.Name+")"] += k
			}
		}
		if err := run(x.Deleted, "posts", "erase.posts-encoded", email); err != nil {
			return err
		}
		if err := run(x.Pseudonymised, "ticket messages", "erase.ticket-raw-encoded", email, x.Pseudonym); err != nil {
			return err
		}
		if x.Deleted["posts"] > 0 || x.Pseudonymised["posts"] > 0 || x.Pseudonymised["other text (posts.text)"] > 0 ||
			x.Pseudonymised["other text (posts.author)"] > 0 || x.Pseudonymised["other text (posts.subject)"] > 0 {
			// The archive's search index dropped their words with their
			// posts (triggers); merged, no old segment keeps them.
			if _, err := tx.Exec("archive.optimize"); err != nil {
				return err
			}
		}
		for _, c := range cols {
			k, err := tx.Mentions(c, email)
			if err != nil {
				return err
			}
			if k > 0 {
				x.Left = append(x.Left, fmt.Sprintf("%s.%s (%d rows)", c.Table, c.Name, k))
			}
		}
		for _, m := range []map[string]int64{x.Deleted, x.Pseudonymised} {
			for k, v := range m {
				if v == 0 {
					delete(m, k)
				}
			}
		}
		return nil
	})
	if err != nil {
		return x, err
	}
	return x, db.Checkpoint(ctx, 30*time.Second)
}

// Erased reports whether email was erased from the hub, or withdrew from
// list listID (0: no list) and its record has expired: an operator's
// import must not subscribe it again.
func Erased(ctx context.Context, db *store.DB, email string, listID int64) (bool, error) {
	secret, err := db.Secret(ctx, store.ErasureSecret)
	if err != nil {
		return false, err
	}
	var yes bool
	err = db.QueryRow(ctx, "erasure.has", store.PersonMAC(secret, email), listID).Scan(&yes)
	return yes, err
}
