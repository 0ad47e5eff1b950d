package hub

import (
	"context"
	"errors"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/smtpd"
	"codeberg.org/relais/relais/store"
	"codeberg.org/relais/relais/tickets"
)

// routeTicket is the route of mail to the support desk: target queue id
// [":" reply key].
const routeTicket = "ticket"

// routeTicket answers RCPT for QUEUE[+KEY]: a configured queue, and a key
// sealed here for it.
func (r *router) routeTicket(ctx context.Context, a address.Address) (smtpd.Route, error) {
	target, err := r.h.Tickets.Route(ctx, a.Name, a.Detail)
	switch {
	case errors.Is(err, tickets.ErrNotFound), errors.Is(err, tickets.ErrBadKey):
		return smtpd.Route{}, smtpd.ErrUnknownRecipient
	case err != nil:
		return smtpd.Route{}, err
	}
	return smtpd.Route{Kind: routeTicket, Target: target}, nil
}

func (h *Hub) ticketMail(tx *store.Tx, in inbound) error {
	m, err := tx.Received(in.messageID)
	if err != nil {
		return err
	}
	err = h.Tickets.Receive(tx, in.target, m)
	if errors.Is(err, tickets.ErrNotFound) {
		return permanent(err)
	}
	return err
}
