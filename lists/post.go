package lists

import (
	"context"
	"errors"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-message/textproto"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/mailauth"
	"codeberg.org/relais/relais/store"
	"codeberg.org/relais/relais/templates"
)

// Reasons a post is held, as the templates word them.
const (
	HoldNonMember = "non-member"
	HoldModerated = "moderated"
	HoldAnnounce  = "announce" // a stranger writing to an announce list
	HoldSize      = "size"
	HoldRate      = "rate"
	HoldLoop      = "loop"
	HoldBadInput  = "bad-input"
	HoldZone      = "territory" // a stranger writing to CODE.groupes
	HoldAuth      = "auth"      // From not proven (SPF, DKIM, DMARC)
	HoldAuto      = "automatic" // sent by a program: kept silently
	HoldBanned    = "banned"    // the list's moderators banned the sender: rejected at once, silently
)

// Post handles a message sent to a list's address: it is checked, then
// delivered, held for a moderator, or refused with a notice.
func (s *Service) Post(ctx context.Context, tx *store.Tx, listID int64, in Inbound) error {
	l, err := get(tx, listID)
	if err != nil {
		return err
	}
	h, err := header(in.Body)
	if err != nil {
		return s.hold(tx, l, in, nil, HoldBadInput, "header")
	}
	poster, _ := sender(h, in.MailFrom)
	for _, v := range h.Values(LoopHeader) {
		if strings.EqualFold(strings.TrimSpace(v), s.Address(l, "")) {
			return s.hold(tx, l, in, poster, HoldLoop, "")
		}
	}
	if autoReply(h, in.MailFrom) {
		// Vacation replies and bounces sent to the list: never passed on
		// (an autoresponder would answer every post), kept for a
		// moderator without a word to anyone.
		return s.hold(tx, l, in, poster, HoldAuto, "")
	}
	if p := problem(in.Body, in.SMTPUTF8); p != "" {
		return s.hold(tx, l, in, poster, HoldBadInput, p)
	}
	if max := s.maxBytes(l); max > 0 && int64(len(in.Body)) > max {
		return s.hold(tx, l, in, poster, HoldSize, "")
	}
	role := s.role(tx, l, poster.Address)
	switch senderRule(tx, l.ID, poster.Address) {
	case SenderBan:
		// Banned by the list's moderators: kept, decided, nobody told.
		return s.drop(tx, l, in, poster.Address)
	case SenderAccept:
		if role == "" {
			role = "accepted"
		}
	}
	if rate := s.rate(l); rate > 0 && role != "owner" && role != "moderator" {
		var n int
		if err := tx.QueryRow("post.recent-count", l.ID, poster.Address, s.now().Add(-time.Hour).Unix()).Scan(&n); err != nil {
			return err
		}
		if n >= rate {
			return s.hold(tx, l, in, poster, HoldRate, "")
		}
	}
	switch {
	case role == "owner" || role == "moderator":
	case l.Policy == Territory && (role == "animator" || role == "accepted"):
	case l.Policy == Territory:
		return s.hold(tx, l, in, poster, HoldZone, "")
	case l.Policy == Open:
	case role == "accepted":
	case l.Policy == Members && role == "member":
	case l.Policy == Announce && role == "member":
		// A member who thinks the list is a discussion: told, not held.
		return s.refuse(tx, l, in, poster, h)
	case l.Policy == Announce:
		return s.hold(tx, l, in, poster, HoldAnnounce, "")
	case l.Policy == Members:
		return s.hold(tx, l, in, poster, HoldNonMember, "")
	default:
		return s.hold(tx, l, in, poster, HoldModerated, "")
	}
	if !s.trusted(l, in) {
		// Whoever may post, owner included: a From that is not proven
		// could be anyone's.
		return s.hold(tx, l, in, poster, HoldAuth, "")
	}
	return s.distribute(ctx, tx, l, in.Body, poster)
}

// drop keeps a banned sender's post as rejected, with no notice to
// anyone: a moderator may still read it in the console.
func (s *Service) drop(tx *store.Tx, l List, in Inbound, who string) error {
	now := s.now()
	res, err := tx.Exec("held.insert", l.ID, in.MessageID, who, HoldBanned, now.Unix(), now.Add(s.cfg.HoldTTL).Unix())
	if err != nil {
		return err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return err
	}
	s.log.Info("post from a banned sender dropped", "list", l.Local(), "held", id, "qid", in.MessageID, "from", address.Redact(who))
	_, err = tx.Exec("held.decide", "rejected", now.Unix(), "ban", id)
	return err
}

// trusted judges the poster's From as the list asks (List.Auth), from the
// verdict the hub recorded when the message came in.
func (s *Service) trusted(l List, in Inbound) bool {
	if l.Auth == AuthOff || s.cfg.AuthservID == "" {
		return true
	}
	res, ok := mailauth.Read(in.Body, s.cfg.AuthservID)
	switch {
	case !ok:
		// No verdict recorded: nothing proves the From.
		return l.Auth == AuthRelaxed
	case l.Auth == AuthRelaxed:
		// Shown forged: SPF or DMARC fail; a DMARC that cannot be
		// evaluated (several From fields) is not given the benefit.
		return res.DMARC != "fail" && res.DMARC != "permerror" && res.SPF != "fail"
	}
	return res.Proven()
}

// forged says whether the verdict shows the sender forged (SPF fail and
// no DMARC pass): such a sender is sent nothing back, since the address is
// probably someone else's (no backscatter).
func (s *Service) forged(in Inbound) bool {
	if s.cfg.AuthservID == "" {
		return false
	}
	res, ok := mailauth.Read(in.Body, s.cfg.AuthservID)
	return ok && res.Failed()
}

// role is what addr is to l: owner, moderator, member (active, bouncing
// or paused), for a territory list animator (of a group inside it), or "".
func (s *Service) role(tx queryer, l List, addr string) string {
	for _, o := range l.Owners {
		if o.Email == addr {
			return o.Role
		}
	}
	if l.Policy == Territory {
		groups, err := zoneAnimators(tx, l.Code)
		if err == nil && groups[addr] {
			return "animator"
		}
		return ""
	}
	if m, err := member(tx, l.ID, addr); err == nil && m.State != "unsubscribed" {
		return "member"
	}
	return ""
}

func (s *Service) maxBytes(l List) int64 {
	if l.MaxBytes > 0 {
		return l.MaxBytes
	}
	return s.cfg.MaxBytes
}

func (s *Service) rate(l List) int {
	if l.RatePerHour > 0 {
		return l.RatePerHour
	}
	return s.cfg.RatePerHour
}

// refuse tells a member that an announce list takes no posts; only a
// proven From is told, since the notice echoes the subject under the
// hub's signature.
func (s *Service) refuse(tx *store.Tx, l List, in Inbound, poster *mail.Address, h textproto.Header) error {
	if automatic(h, in.MailFrom) || !s.proven(in.Body) {
		return nil
	}
	return s.notify(tx, l, poster.Address, s.langFor(tx, l, poster.Address, h), "list-refused", map[string]any{
		"Subject": decode(h.Get("Subject")),
	}, strings.TrimSpace(h.Get("Message-Id")))
}

// langFor is a person's language on a list: theirs if a member, else
// guessed from their message.
func (s *Service) langFor(tx queryer, l List, addr string, h textproto.Header) string {
	if m, err := member(tx, l.ID, addr); err == nil {
		return m.Lang
	}
	return langOf(h, "", l.Lang)
}

// hold keeps a post for the moderators: they get a notice with the post
// attached and two single-use addresses, approve and reject; the poster is
// told it waits, unless it was sent by a program, is a loop, or its From
// is not proven: the notice echoes the poster's subject, signed by the
// hub, and must not go to an address someone merely typed.
func (s *Service) hold(tx *store.Tx, l List, in Inbound, poster *mail.Address, reason, detail string) error {
	who := in.MailFrom
	if poster != nil {
		who = poster.Address
	}
	now := s.now()
	res, err := tx.Exec("held.insert", l.ID, in.MessageID, who, reason, now.Unix(), now.Add(s.cfg.HoldTTL).Unix())
	if err != nil {
		return err
	}
	heldID, err := res.LastInsertId()
	if err != nil {
		return err
	}
	if s.cfg.OnHold != nil {
		s.cfg.OnHold(reason)
	}
	s.log.Info("post held", "list", l.Local(), "held", heldID, "qid", in.MessageID, "reason", reason, "from", address.Redact(who))
	approve, reject := newToken(), newToken()
	for _, t := range [][2]string{{"approve", approve}, {"reject", reject}} {
		if _, err := tx.Exec("token.insert", t[1], t[0], l.ID, who, l.Lang, heldID, now.Unix(), now.Add(s.cfg.HoldTTL).Unix(), ""); err != nil {
			return err
		}
	}
	h, _ := header(in.Body)
	if reason == HoldAuto {
		return nil // no notice: nothing a moderator needs to act on
	}
	subject := decode(h.Get("Subject"))
	data := map[string]any{
		"Poster": who, "Subject": subject, "Reason": reason, "Detail": detail,
		"Approve": s.Address(l, "approve-"+approve), "Reject": s.Address(l, "reject-"+reject),
		"Expires": s.date(l.Lang, now.Add(s.cfg.HoldTTL)), "Held": heldID,
	}
	for _, m := range s.moderators(l) {
		err := s.notice(tx, l, m, l.Lang, "list-held", data, "", templates.Envelope{
			From:          quoteName(l.DisplayName) + " <" + s.FromAddress(l, "owner") + ">",
			AutoSubmitted: "auto-generated",
			Attach:        in.Body,
			// Pressing Reply and writing "ok" (or "non, because…") decides.
			Header: [][2]string{{"Reply-To", s.Address(l, "approve-"+approve)}},
		})
		if err != nil {
			return err
		}
	}
	if reason == HoldLoop || poster == nil || automatic(h, in.MailFrom) || !s.proven(in.Body) {
		return nil
	}
	return s.notify(tx, l, who, s.langFor(tx, l, who, h), "list-held-poster", data, strings.TrimSpace(h.Get("Message-Id")))
}

// moderators are who decides on held posts: the list's owners and
// moderators; for a territory list, the hub's operators.
func (s *Service) moderators(l List) []string {
	var out []string
	for _, o := range l.Owners {
		out = append(out, o.Email)
	}
	return out
}

// ErrDecided is returned by Moderate for a post already approved,
// rejected or expired.
var ErrDecided = errors.New("lists: already decided")

// decideHeld approves or rejects a held post; when it was already decided
// it changes nothing and returns its state.
func (s *Service) decideHeld(ctx context.Context, tx *store.Tx, l List, heldID int64, approve bool, byAddr, why string, tell bool) (string, error) {
	var id, listID, heldAt, expires int64
	var msgID, poster, reason, state string
	err := tx.QueryRow("held.get", heldID).Scan(&id, &listID, &msgID, &poster, &reason, &heldAt, &expires, &state)
	if err != nil {
		return "", err
	}
	now := s.now()
	if _, err := tx.Exec("token.use-held", now.Unix(), heldID); err != nil {
		return "", err
	}
	if state != "held" {
		return state, nil
	}
	decision := "rejected"
	if approve {
		decision = "approved"
	}
	if _, err := tx.Exec("held.decide", decision, now.Unix(), byAddr, heldID); err != nil {
		return "", err
	}
	s.log.Info("held post decided", "list", l.Local(), "held", heldID, "decision", decision, "by", address.Redact(byAddr))
	var raw []byte
	if err := tx.QueryRow("message.body", msgID).Scan(&raw); err != nil {
		return "", err
	}
	ph, _ := header(raw)
	if approve {
		p, ok := sender(ph, poster)
		if !ok {
			p = &mail.Address{Address: poster}
		}
		return "", s.distribute(ctx, tx, l, raw, p)
	}
	if !tell || automatic(ph, poster) || reason == HoldLoop || !s.proven(raw) {
		return "", nil // as for the held notice: no echo to a From not proven
	}
	return "", s.notify(tx, l, poster, s.langFor(tx, l, poster, ph), "list-rejected", map[string]any{
		"Subject": decode(ph.Get("Subject")), "Why": why,
	}, strings.TrimSpace(ph.Get("Message-Id")))
}

// ExpireHeld drops held posts nobody decided on in time, telling their
// posters; it returns how many.
func (s *Service) ExpireHeld(ctx context.Context) (int, error) {
	n := 0
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		n = 0
		rows, err := tx.Query("held.expired", s.now().Unix())
		if err != nil {
			return err
		}
		type item struct {
			id, list            int64
			msg, poster, reason string
		}
		var items []item
		for rows.Next() {
			var it item
			var heldAt, exp int64
			var state string
			if err := rows.Scan(&it.id, &it.list, &it.msg, &it.poster, &it.reason, &heldAt, &exp, &state); err != nil {
				rows.Close()
				return err
			}
			items = append(items, it)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		for _, it := range items {
			if _, err := tx.Exec("held.decide", "expired", s.now().Unix(), "", it.id); err != nil {
				return err
			}
			if _, err := tx.Exec("token.use-held", s.now().Unix(), it.id); err != nil {
				return err
			}
			n++
			l, err := get(tx, it.list)
			if err != nil {
				continue
			}
			var raw []byte
			if err := tx.QueryRow("message.body", it.msg).Scan(&raw); err != nil {
				return err
			}
			h, _ := header(raw)
			if automatic(h, it.poster) || it.reason == HoldLoop || !s.proven(raw) {
				continue
			}
			if err := s.notify(tx, l, it.poster, s.langFor(tx, l, it.poster, h), "list-expired", map[string]any{
				"Subject": decode(h.Get("Subject")),
			}, strings.TrimSpace(h.Get("Message-Id"))); err != nil {
				return err
			}
		}
		return nil
	})
	if n > 0 {
		s.q.Kick()
	}
	return n, err
}

// firstLines returns up to n lines of a moderator's message that are not
// quotes or signatures: the reason they give for rejecting.
func firstLines(raw []byte, n int) string {
	text := plainText(raw)
	var out []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r ")
		if strings.HasPrefix(line, ">") || line == "--" || line == "-- " {
			break
		}
		if strings.TrimSpace(line) == "" {
			if len(out) > 0 {
				break
			}
			continue
		}
		out = append(out, line)
		if len(out) == n {
			break
		}
	}
	return strings.Join(out, "\n")
}
