package hub

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/groups"
	"codeberg.org/relais/relais/queue"
	"codeberg.org/relais/relais/store"
)

func (h *Hub) forwardToGroup(tx *store.Tx, in inbound) error {
	id, err := targetID(in)
	if err != nil {
		return err
	}
	fwd := groups.Inbound{ID: in.id, MessageID: in.messageID, Rcpt: in.rcpt}
	err = groups.Forward(tx, h.Queue, id, fwd)
	if errors.Is(err, groups.ErrNotFound) {
		if now, ok := h.regroup(tx, in, id); ok {
			return groups.Forward(tx, h.Queue, now, fwd)
		}
	}
	return err
}

// regroup returns the group that has, now, the address in.rcpt was
// written to, when it is no longer group id, found at RCPT: the router
// keeps what it found a moment (groups.LookupCached), and another
// process may have removed the group and made a new one with its address
// meanwhile. Read inside tx, like the group the handler did not find.
func (h *Hub) regroup(tx *store.Tx, in inbound, id int64) (int64, bool) {
	a, err := address.Parse(in.rcpt, h.Config.Domains)
	if err != nil || a.Kind != address.Group {
		return 0, false
	}
	now, err := groups.LookupTx(tx, a.Code, a.Name)
	return now, err == nil && now != id
}

// forwardToPostmaster sends mail for postmaster@ and abuse@ (RFC 5321
// §4.5.1, RFC 2142) to the configured operators, or keeps it for them.
func (h *Hub) forwardToPostmaster(tx *store.Tx, in inbound) error {
	if len(h.Config.Postmaster) == 0 {
		_, err := tx.Exec("inbound.mark", "kept", "no postmaster configured", in.id)
		return err
	}
	rcpt := strings.ToLower(in.rcpt)
	if !strings.Contains(rcpt, "@") { // <postmaster>, RFC 5321 §4.1.1.3
		rcpt += "@" + h.Config.Domains[0]
	}
	_, err := h.Queue.Enqueue(tx, queue.Message{
		MessageID: in.messageID,
		Prefix:    []byte("Delivered-To: " + rcpt + "\r\n"),
		To:        h.Config.Postmaster,
		Kind:      "postmaster",
		InboundID: in.id,
	})
	return err
}

// recordBounce ties a bounce received on bounces+TOKEN@ to its delivery.
func (h *Hub) recordBounce(tx *store.Tx, in inbound) error {
	id, err := targetID(in)
	if err != nil {
		return err
	}
	var body []byte
	if err := tx.QueryRow("message.body", in.messageID).Scan(&body); err != nil {
		return err
	}
	b := parseDSN(body)
	b.MessageID = in.messageID
	err = h.Queue.RecordBounce(tx, id, b)
	if errors.Is(err, queue.ErrNoDelivery) {
		// The delivery was cleaned up since: nothing to tie it to, and
		// nobody to tell (a bounce is never answered).
		_, err = tx.Exec("inbound.mark", "done", "bounce for a delivery no longer kept", in.id)
	}
	return err
}

// parseDSN reads a delivery status notification (RFC 3464): the Action,
// Status and Diagnostic-Code of its first recipient. Anything else is an
// "unknown" bounce.
func parseDSN(raw []byte) queue.Bounce {
	unknown := queue.Bounce{Action: "unknown"}
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return unknown
	}
	if as := strings.ToLower(strings.TrimSpace(e.Header.Get("Auto-Submitted"))); strings.HasPrefix(as, "auto-replied") {
		if t, _, _ := e.Header.ContentType(); !strings.EqualFold(t, "multipart/report") {
			return queue.Bounce{Action: "auto-reply"}
		}
	}
	var found *queue.Bounce
	var walk func(e *message.Entity, depth int)
	walk = func(e *message.Entity, depth int) {
		if found != nil || depth > 5 {
			return
		}
		t, _, _ := e.Header.ContentType()
		switch {
		case strings.EqualFold(t, "message/delivery-status") || strings.EqualFold(t, "message/global-delivery-status"):
			if b, ok := readStatus(e.Body); ok {
				found = &b
			}
		case strings.HasPrefix(strings.ToLower(t), "multipart/"):
			mr := e.MultipartReader()
			for {
				p, err := mr.NextPart()
				if err != nil {
					return
				}
				walk(p, depth+1)
			}
		}
	}
	walk(e, 0)
	if found == nil {
		return unknown
	}
	return *found
}

// readStatus reads the per-message block, then the first per-recipient
// block, of a message/delivery-status body (RFC 3464 §2.1).
func readStatus(r io.Reader) (queue.Bounce, bool) {
	br := bufio.NewReader(r)
	if _, err := textproto.ReadHeader(br); err != nil { // per-message fields
		return queue.Bounce{}, false
	}
	// Some generators put more than one blank line between blocks.
	for {
		b, err := br.Peek(1)
		if err != nil || (b[0] != '\r' && b[0] != '\n') {
			break
		}
		br.ReadByte()
	}
	rh, err := textproto.ReadHeader(br)
	if err != nil && rh.Len() == 0 {
		return queue.Bounce{}, false
	}
	action := strings.ToLower(strings.TrimSpace(rh.Get("Action")))
	if action == "" {
		return queue.Bounce{}, false
	}
	if i := strings.IndexAny(action, " ("); i > 0 {
		action = action[:i]
	}
	status := strings.TrimSpace(rh.Get("Status"))
	if i := strings.IndexAny(status, " ("); i > 0 {
		status = status[:i]
	}
	diag := strings.TrimSpace(rh.Get("Diagnostic-Code"))
	if _, rest, ok := strings.Cut(diag, ";"); ok {
		diag = strings.TrimSpace(rest)
	}
	return queue.Bounce{Action: action, Status: status, Diagnostic: strings.Join(strings.Fields(diag), " ")}, true
}

// header reads the header of a stored message.
func header(raw []byte) textproto.Header {
	h, _ := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	return h
}

// decodeHeader turns RFC 2047 encoded words into text.
func decodeHeader(s string) string {
	dec := mime.WordDecoder{CharsetReader: message.CharsetReader}
	if out, err := dec.DecodeHeader(s); err == nil {
		return out
	}
	return s
}

func isNotFound(err error) bool { return errors.Is(err, groups.ErrNotFound) }
