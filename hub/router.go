package hub

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/groups"
	"codeberg.org/relais/relais/smtpd"
	"codeberg.org/relais/relais/store"
)

// Route kinds, stored with each accepted recipient.
const (
	routeGroup  = "group"  // target: group id
	routeBounce = "bounce" // target: delivery id
	routeRole   = "role"   // target: postmaster or abuse
)

// router answers smtpd's question at RCPT: what is this address?
type router struct{ h *Hub }

func (r *router) Route(ctx context.Context, rcpt string) (smtpd.Route, error) {
	if strings.EqualFold(rcpt, "postmaster") {
		// RFC 5321 §4.1.1.3: <Postmaster> without a domain is accepted
		// and means the server's own postmaster.
		return smtpd.Route{Kind: routeRole, Target: "postmaster"}, nil
	}
	a, err := address.Parse(rcpt, r.h.Config.Domains)
	var ce *address.CodeError
	switch {
	case errors.Is(err, address.ErrNotOurDomain):
		return smtpd.Route{}, smtpd.ErrRelayDenied
	case errors.As(err, &ce):
		// Said by the reply bad-address, in French and in English.
		return smtpd.Route{}, &smtpd.RecipientError{Reason: string(ce.Problem), Data: map[string]any{
			"Departement": ce.Departement, "Name": ce.Name, "Count": ce.Count, "Number": ce.Number}}
	case err != nil:
		return smtpd.Route{}, smtpd.ErrUnknownRecipient
	}
	switch a.Kind {
	case address.Group:
		id, err := groups.LookupCached(ctx, r.h.DB, a.Code, a.Name)
		if errors.Is(err, groups.ErrNotFound) {
			return r.routeList(ctx, a)
		} else if err != nil {
			return smtpd.Route{}, err
		}
		switch a.Detail {
		case "":
		case "agenda":
			return smtpd.Route{Kind: routeAgenda, Target: strconv.FormatInt(id, 10)}, nil
		default:
			return smtpd.Route{}, smtpd.ErrUnknownRecipient
		}
		if err != nil {
			return smtpd.Route{}, err
		}
		return smtpd.Route{Kind: routeGroup, Target: strconv.FormatInt(id, 10)}, nil
	case address.Bounce:
		id, ok := r.h.Queue.ParseToken(a.Detail)
		if !ok {
			return smtpd.Route{}, smtpd.ErrUnknownRecipient
		}
		return smtpd.Route{Kind: routeBounce, Target: strconv.FormatInt(id, 10)}, nil
	case address.Role:
		return smtpd.Route{Kind: routeRole, Target: a.Name}, nil
	case address.Territory:
		return r.routeZone(ctx, a)
	case address.Service:
		if a.Name == "agenda" {
			if a.Detail != "request" && a.Detail != "" {
				return smtpd.Route{}, smtpd.ErrUnknownRecipient
			}
			return smtpd.Route{Kind: routeAgendaCmd, Target: "request"}, nil
		}
		return r.routeTicket(ctx, a)
	}
	return smtpd.Route{}, smtpd.ErrUnknownRecipient
}

// spool keeps accepted messages: body and routes in one transaction.
type spool struct{ h *Hub }

func (s *spool) Accept(ctx context.Context, env *smtpd.Envelope, body []byte) error {
	now := s.h.now().Unix()
	var pending int
	var done []smtpd.Rcpt
	// The recipients are first handled without savepoints, written done
	// at once; if one fails, the transaction (on SQLite, this write's own
	// savepoint in the batch) runs again with them. A savepoint costs two
	// statements on SQLite, two round trips and a subtransaction on
	// PostgreSQL.
	optimistic := true
	pg := s.h.DB.Engine() == store.Postgres
	write := func(tx *store.Tx) error {
		var ids []int64
		if optimistic && pg {
			// PostgreSQL: the message and its recipients in one statement,
			// those handled here written done at once (if one fails, the
			// whole transaction runs again, not optimistic).
			rcpts, routes, targets, states := make([]string, len(env.Rcpts)), make([]string, len(env.Rcpts)),
				make([]string, len(env.Rcpts)), make([]string, len(env.Rcpts))
			for i, r := range env.Rcpts {
				rcpts[i], routes[i], targets[i], states[i] = r.Addr, r.Route.Kind, r.Route.Target, "pending"
				if s.h.disp.inlines(r.Route.Kind) {
					states[i] = "done"
				}
			}
			rows, err := tx.Query("spool.accept", env.ID, now, env.From, env.RemoteIP, env.Helo, env.SMTPUTF8, env.Body8Bit, len(body), body,
				rcpts, routes, targets, states)
			if err != nil {
				return err
			}
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				ids = append(ids, id)
			}
			if err := errors.Join(rows.Err(), rows.Close()); err != nil {
				return err
			}
			if len(ids) != len(env.Rcpts) {
				return fmt.Errorf("spool: %d recipients written of %d", len(ids), len(env.Rcpts))
			}
		} else if _, err := tx.Exec("message.insert", env.ID, now, env.From, env.RemoteIP, env.Helo,
			env.SMTPUTF8, env.Body8Bit, len(body), body); err != nil {
			return err
		}
		tx.Hold(store.Received{ID: env.ID, At: time.Unix(now, 0), MailFrom: env.From, RemoteIP: env.RemoteIP, Helo: env.Helo,
			SMTPUTF8: env.SMTPUTF8, Body8Bit: env.Body8Bit, Body: body[:len(body):len(body)]})
		pending, done = 0, done[:0]
		for i, r := range env.Rcpts {
			var id int64
			if optimistic && pg {
				id = ids[i]
			} else {
				state := "pending"
				if optimistic && s.h.disp.inlines(r.Route.Kind) {
					state = "done"
				}
				res, err := tx.Exec("inbound.insert", env.ID, r.Addr, r.Route.Kind, r.Route.Target, now, state)
				if err != nil {
					return err
				}
				if id, err = res.LastInsertId(); err != nil {
					return err
				}
			}
			// Handle it in the same commit when that works: one fsync for
			// the message, its routing and the mail it causes. What does
			// not work is left pending for the dispatcher, which retries or
			// tells the sender.
			ok, err := s.h.disp.inline(tx, inbound{id: id, messageID: env.ID, rcpt: r.Addr, route: r.Route.Kind, target: r.Route.Target}, optimistic)
			if err != nil {
				return err
			}
			if ok {
				done = append(done, r)
			} else {
				pending++
			}
		}
		return nil
	}
	// Mail for groups and the postmaster only inserts (the message, the
	// copies to forward): it may share its transaction with others.
	shared := true
	for _, r := range env.Rcpts {
		shared = shared && (r.Route.Kind == routeGroup || r.Route.Kind == routeRole)
	}
	var err error
	if shared {
		err = s.h.DB.WriteShared(ctx, write)
	} else {
		err = s.h.DB.Write(ctx, write)
	}
	if errors.Is(err, errInline) {
		optimistic = false
		err = s.h.DB.Write(ctx, write)
	}
	if err != nil {
		return err
	}
	for _, r := range done {
		s.h.log.Info("dispatched", "qid", env.ID, "rcpt", address.Redact(r.Addr), "route", r.Route.Kind)
	}
	s.h.Queue.Accepted()
	s.h.Queue.Kick()
	if pending > 0 {
		s.h.disp.kick()
	}
	return nil
}
