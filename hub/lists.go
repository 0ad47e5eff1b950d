package hub

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/digest"
	"codeberg.org/relais/relais/events"
	"codeberg.org/relais/relais/internal/mimetext"
	"codeberg.org/relais/relais/lists"
	"codeberg.org/relais/relais/smtpd"
	"codeberg.org/relais/relais/store"
	"codeberg.org/relais/relais/web"
)

// Route kinds of list mail.
const (
	routeList      = "list"       // target: list id
	routeListCmd   = "list-cmd"   // target: list id ":" command
	routeListToken = "list-token" // target: list id ":" kind ":" token
	routeZone      = "territory"  // target: territory code
)

// routeList answers RCPT for CODE.NAME[+detail] when it is not a group.
func (r *router) routeList(ctx context.Context, a address.Address) (smtpd.Route, error) {
	id, err := lists.Lookup(ctx, r.h.DB, a.Code, a.Name)
	if errors.Is(err, lists.ErrNotFound) {
		return smtpd.Route{}, smtpd.ErrUnknownRecipient
	} else if err != nil {
		return smtpd.Route{}, err
	}
	ids := strconv.FormatInt(id, 10)
	if a.Detail == "" {
		return smtpd.Route{Kind: routeList, Target: ids}, nil
	}
	cmd, tok := lists.Detail(a.Detail)
	switch {
	case cmd == "":
		return smtpd.Route{}, smtpd.ErrUnknownRecipient
	case tok == "":
		return smtpd.Route{Kind: routeListCmd, Target: ids + ":" + cmd}, nil
	}
	ok, err := lists.TokenExists(ctx, r.h.DB, id, cmd, tok)
	if err != nil {
		return smtpd.Route{}, err
	}
	if !ok {
		return smtpd.Route{}, smtpd.ErrUnknownRecipient
	}
	return smtpd.Route{Kind: routeListToken, Target: ids + ":" + cmd + ":" + tok}, nil
}

// routeZone answers RCPT for CODE.groupes: it exists when a group does
// under CODE.
func (r *router) routeZone(ctx context.Context, a address.Address) (smtpd.Route, error) {
	if a.Detail != "" {
		return smtpd.Route{}, smtpd.ErrUnknownRecipient
	}
	ok, err := lists.ZoneHasGroups(ctx, r.h.DB, a.Code)
	if err != nil {
		return smtpd.Route{}, err
	}
	if !ok {
		return smtpd.Route{}, smtpd.ErrUnknownRecipient
	}
	return smtpd.Route{Kind: routeZone, Target: a.Code.String()}, nil
}

func (h *Hub) listInbound(tx *store.Tx, in inbound) (lists.Inbound, error) {
	return lists.Load(tx, in.id, in.messageID, in.rcpt)
}

func (h *Hub) listPost(tx *store.Tx, in inbound) error {
	id, err := targetID(in)
	if err != nil {
		return err
	}
	li, err := h.listInbound(tx, in)
	if err != nil {
		return err
	}
	// A reply quoting a member's footer would hand their page to the
	// list: the link is spent before the post goes out or is held.
	if _, err := h.SignIn.SpendQuoted(tx, li.Body); err != nil {
		return err
	}
	return h.Lists.Post(context.Background(), tx, id, li)
}

func (h *Hub) listCommand(tx *store.Tx, in inbound) error {
	ids, cmd, _ := strings.Cut(in.target, ":")
	id, err := strconv.ParseInt(ids, 10, 64)
	if err != nil {
		return permanent(err)
	}
	li, err := h.listInbound(tx, in)
	if err != nil {
		return err
	}
	err = h.Lists.Command(context.Background(), tx, id, cmd, li)
	if err == nil {
		h.Metrics.Command(cmd)
	}
	return err
}

func (h *Hub) listToken(tx *store.Tx, in inbound) error {
	parts := strings.SplitN(in.target, ":", 3)
	if len(parts) != 3 {
		return permanent(errors.New("bad list token target"))
	}
	id, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return permanent(err)
	}
	li, err := h.listInbound(tx, in)
	if err != nil {
		return err
	}
	if err := h.Lists.Token(context.Background(), tx, id, parts[1], parts[2], li); err != nil || parts[1] != "confirm" {
		if err == nil {
			h.Metrics.Command(parts[1])
		}
		return err
	}
	h.Metrics.Command("confirm")
	return h.placeOnJoining(tx, parts[2], li.Body)
}

// placeOnJoining: whoever confirms a subscription may give their place for
// the weekly agenda in the same reply ("code-postal 44000" on a line of
// its own, above the quote); the confirmation token proves the address.
func (h *Hub) placeOnJoining(tx *store.Tx, token string, body []byte) error {
	var kind, email string
	var used int64
	if err := tx.QueryRow("token.get", token).Scan(&kind, new(int64), &email, new(string), new(int64), new(int64), new(int64), &used, new(string)); err != nil ||
		used == 0 || used < h.now().Add(-time.Minute).Unix() {
		return nil // not confirmed by this message (expired, unknown, used before)
	}
	m, err := digest.GetTx(tx, email)
	isNew := errors.Is(err, digest.ErrNoMember)
	if isNew {
		m = digest.Member{Email: email, Lang: h.Config.Language, Zone: events.DefaultZone, Active: true}
	} else if err != nil {
		return err
	}
	placed := false
	for _, r := range digest.Apply(&m, mimetext.First(body, 64<<10), h.Geo) {
		placed = placed || r.Outcome == "place"
	}
	if !placed {
		return nil
	}
	m.Active = m.Active || isNew // who said stop is not restarted
	h.log.Info("agenda place given on joining a list", "member", m.String())
	return digest.Save(tx, m, h.now())
}

func (h *Hub) zonePost(tx *store.Tx, in inbound) error {
	code, err := address.ParseCode(in.target)
	if err != nil {
		return permanent(err)
	}
	l, err := h.Lists.Zone(tx, code)
	if err != nil {
		return err
	}
	li, err := h.listInbound(tx, in)
	if err != nil {
		return err
	}
	if _, err := h.SignIn.SpendQuoted(tx, li.Body); err != nil {
		return err
	}
	return h.Lists.Post(context.Background(), tx, l.ID, li)
}

// webLists adapts the lists to what the web pages need.
type webLists struct{ s *lists.Service }

func (w webLists) Unsubscription(ctx context.Context, token string) (web.Subscription, error) {
	p, err := w.s.UnsubscribeInfo(ctx, token)
	return subscription(p), webErr(err)
}

func (w webLists) Unsubscribe(ctx context.Context, token, from string) (web.Subscription, error) {
	p, err := w.s.OneClick(ctx, token, from)
	return subscription(p), webErr(err)
}

func subscription(p lists.UnsubscribePage) web.Subscription {
	return web.Subscription{List: p.List, Name: p.Name, Email: p.Email, Lang: p.Lang, Already: p.Already}
}

func webErr(err error) error {
	if errors.Is(err, lists.ErrBadToken) {
		return web.ErrBadToken
	}
	return err
}
