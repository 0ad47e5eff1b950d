package hub

import (
	"database/sql"
	"errors"
	"regexp"
	"strings"
	"time"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/queue"
	"codeberg.org/relais/relais/store"
	"codeberg.org/relais/relais/templates"
)

// Why a message could not be delivered, as the delivery-failed template
// words it.
const (
	failGone     = "gone"     // the address was removed after the message was accepted
	failRefused  = "refused"  // the recipients' servers refused it
	failExpired  = "expired"  // they could not be reached until the queue gave up
	failInternal = "internal" // the hub could not handle it
)

func undeliverableReason(err error) string {
	if isNotFound(err) {
		return failGone
	}
	return failInternal
}

// deliveryFailed is the queue's FailureHandler: when nobody received a
// forwarded message, its sender is told, as an MTA would.
func (h *Hub) deliveryFailed(tx *store.Tx, f queue.Failure) error {
	if err := h.Lists.DeliveryFailed(tx, f); err != nil {
		return err
	}
	if f.Kind != "forward" || !f.AllFailed || f.InboundID == 0 {
		return nil
	}
	var id int64
	var messageID, rcpt, route, target, state, detail string
	err := tx.QueryRow("inbound.get", f.InboundID).Scan(&id, &messageID, &rcpt, &route, &target, &state, &detail)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	} else if err != nil {
		return err
	}
	// Decide from every recipient's failure, not only the last one: the
	// writer is told if any of them is a reason they can act on.
	rows, err := tx.Query("delivery.replies-of-outbound", f.OutboundID)
	if err != nil {
		return err
	}
	var replies []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			rows.Close()
			return err
		}
		replies = append(replies, r)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	for _, r := range replies {
		if strings.HasPrefix(r, "gave up") {
			return h.notifySender(tx, messageID, rcpt, failExpired, replyCode(r))
		}
	}
	for _, r := range replies {
		if code := replyCode(r); worthNotice(code) {
			return h.notifySender(tx, messageID, rcpt, failRefused, code)
		}
	}
	return nil
}

// worthNotice says whether a refusal is one the sender can act on: an
// address or mailbox problem (RFC 3463 classes 5.1 to 5.5). A policy or
// content refusal (5.7.x, often spam) or one without an enhanced code is
// not answered: the sender of spam is usually forged, and telling them
// would be backscatter.
func worthNotice(code string) bool {
	i := strings.LastIndex(code, " ")
	enh := code[i+1:]
	if len(enh) < 3 || enh[1] != '.' {
		return false
	}
	switch enh[:3] {
	case "5.1", "5.2", "5.3", "5.4", "5.5":
		return true
	}
	return false
}

var codeRE = regexp.MustCompile(`\b[245][0-9][0-9](?: [245]\.[0-9]{1,3}\.[0-9]{1,3})?\b|\b[245]\.[0-9]{1,3}\.[0-9]{1,3}\b`)

// replyCode keeps only the status codes of a remote reply: its text may
// name the animator's private address, which the sender must not learn.
func replyCode(reply string) string {
	return codeRE.FindString(reply)
}

// notifySender queues, inside tx, a notice to the sender of message
// messageID that it could not be delivered to rcpt. It writes nothing when
// the sender should not get one: null or own sender, automatic mail (RFC
// 3834 §2), list or bulk mail.
func (h *Hub) notifySender(tx *store.Tx, messageID, rcpt, why string, code ...string) error {
	var received int64
	var from, remote, helo string
	var utf8, eight bool
	var size int
	err := tx.QueryRow("message.envelope", messageID).Scan(&received, &from, &remote, &helo, &utf8, &eight, &size)
	if err != nil {
		return err
	}
	if from == "" || h.isOurs(from) {
		return nil
	}
	var raw []byte
	if err := tx.QueryRow("message.body", messageID).Scan(&raw); err != nil {
		return err
	}
	if res, ok := h.verdict(raw); ok && res.SPF == "fail" && !res.Proven() {
		// The notice goes to the envelope sender, which SPF says is not
		// this client's to use: probably someone else's address, who must
		// not get our notice.
		h.log.Info("no notice to a forged sender", "qid", messageID, "from", address.Redact(from))
		return nil
	}
	hdr := header(raw)
	if as := strings.ToLower(strings.TrimSpace(hdr.Get("Auto-Submitted"))); as != "" && as != "no" {
		return nil
	}
	switch strings.ToLower(strings.TrimSpace(hdr.Get("Precedence"))) {
	case "bulk", "junk", "list":
		return nil
	}
	lang := h.Config.Language
	if cl := strings.ToLower(hdr.Get("Content-Language")); strings.HasPrefix(cl, "en") {
		lang = "en"
	}
	when := time.Unix(received, 0).In(paris)
	data := map[string]string{
		"Subject":    decodeHeader(hdr.Get("Subject")),
		"To":         strings.ToLower(rcpt),
		"Date":       when.Format("02/01/2006 15:04"),
		"Why":        why,
		"Code":       strings.Join(code, ""),
		"Postmaster": "postmaster@" + h.Config.Domains[0],
		"ID":         messageID,
		"Hub":        h.Config.Domains[0],
	}
	if lang == "en" {
		data["Date"] = when.Format("2 Jan 2006 15:04 MST")
	}
	if data["Subject"] == "" {
		data["Subject"] = "(—)"
	}
	body, err := h.Texts.Compose(lang, "delivery-failed", data, templates.Envelope{
		From:          "relais <postmaster@" + h.Config.Domains[0] + ">",
		To:            from,
		Hostname:      h.Config.Hostname,
		AutoSubmitted: "auto-replied",
		References:    strings.TrimSpace(hdr.Get("Message-Id")),
		Date:          h.now(),
	})
	if err != nil {
		return err
	}
	id := store.NewID()
	now := h.now().Unix()
	if _, err := tx.Exec("message.insert", id, now, "", "", "", false, false, len(body), body); err != nil {
		return err
	}
	_, err = h.Queue.Enqueue(tx, queue.Message{MessageID: id, To: []string{from}, NullSender: true, Kind: "notice"})
	return err
}

// paris is the time zone dates are shown in.
var paris = func() *time.Location {
	l, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		return time.FixedZone("CET", 3600)
	}
	return l
}()

func (h *Hub) isOurs(addr string) bool {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return false
	}
	dom := strings.ToLower(addr[at+1:])
	for _, d := range h.Config.Domains {
		if d == dom {
			return true
		}
	}
	return false
}
