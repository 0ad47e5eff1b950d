package lists

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"

	"codeberg.org/relais/relais/internal/automail"
	"codeberg.org/relais/relais/internal/mailbox"
	"codeberg.org/relais/relais/store"
)

// Inbound is an accepted message for one of a list's addresses.
type Inbound struct {
	ID        int64  // the inbound recipient row
	MessageID string // the body in the messages table
	Rcpt      string
	MailFrom  string // envelope sender, "" for the null sender
	RemoteIP  string
	SMTPUTF8  bool
	Body      []byte
	Received  time.Time
}

// Load reads the message of an inbound recipient inside tx.
func Load(tx *store.Tx, id int64, messageID, rcpt string) (Inbound, error) {
	m, err := tx.Received(messageID)
	return Inbound{ID: id, MessageID: messageID, Rcpt: rcpt, MailFrom: m.MailFrom, RemoteIP: m.RemoteIP,
		SMTPUTF8: m.SMTPUTF8, Body: m.Body, Received: m.At}, err
}

// Commands sent to LIST+detail addresses, with their French aliases.
var details = map[string]string{
	"subscribe": "subscribe", "inscription": "subscribe", "join": "subscribe",
	"unsubscribe": "unsubscribe", "desinscription": "unsubscribe", "désinscription": "unsubscribe", "leave": "unsubscribe",
	"help": "help", "aide": "help",
	"request": "request", "commande": "request",
	"owner": "owner",
}

// Detail says what LIST+detail is: a command ("subscribe"…), a token
// ("confirm", TOKEN), or nothing ("", "").
func Detail(d string) (cmd, token string) {
	if c, ok := details[d]; ok {
		return c, ""
	}
	for _, k := range []string{"confirm", "approve", "reject"} {
		if t, ok := strings.CutPrefix(d, k+"-"); ok && t != "" {
			return k, t
		}
	}
	return "", ""
}

// TokenExists says whether LIST+KIND-TOKEN names a token of that list, at
// RCPT time: unknown ones are refused there rather than answered later.
func TokenExists(ctx context.Context, db *store.DB, listID int64, kind, token string) (bool, error) {
	var k string
	var lid int64
	err := db.QueryRow(ctx, "token.get", token).Scan(&k, &lid, new(string), new(string), new(int64), new(int64), new(int64), new(int64), new(string))
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil && k == kind && lid == listID, err
}

// sender is who wrote a message: the From address, else the envelope
// sender.
func sender(h textproto.Header, mailFrom string) (*mail.Address, bool) {
	if a, err := mailbox.Parse(h.Get("From"), true); err == nil {
		a.Address = strings.ToLower(a.Address)
		return a, true
	}
	if mailFrom != "" {
		return &mail.Address{Address: strings.ToLower(mailFrom)}, false
	}
	return nil, false
}

// automatic says whether a message was sent by a program: such mail
// never confirms, never runs a command and is never answered.
func automatic(h textproto.Header, mailFrom string) bool { return automail.Marked(h, mailFrom) }

// autoReply is the narrower test for posts: what a program sent in reply
// to something (RFC 3834 Auto-Submitted, vacation marks, bounces). Bulk or
// list mail may be a newsletter or another list forwarding, which the
// posting policy judges like any post.
func autoReply(h textproto.Header, mailFrom string) bool {
	switch strings.ToLower(strings.TrimSpace(h.Get("Precedence"))) {
	case "bulk", "list":
		h = h.Copy()
		h.Del("Precedence")
	}
	return automatic(h, mailFrom)
}

// langOf guesses the language of a person's message: Content-Language or
// Accept-Language, else English when the words are English, else def.
func langOf(h textproto.Header, words string, def string) string {
	for _, k := range []string{"Content-Language", "Accept-Language"} {
		v := strings.ToLower(strings.TrimSpace(h.Get(k)))
		if strings.HasPrefix(v, "en") {
			return "en"
		}
		if strings.HasPrefix(v, "fr") {
			return "fr"
		}
	}
	w := strings.ToLower(words)
	for _, en := range []string{"subscribe", "help", "digest", "leave", "join"} {
		if strings.Contains(w, en) && !strings.Contains(w, "inscription") {
			return "en"
		}
	}
	return def
}

func header(raw []byte) (textproto.Header, error) {
	return textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
}

// problem returns why a post cannot go to a list as it is, or "": a
// header that does not parse, 8-bit bytes in the header of a message not
// sent with SMTPUTF8 (RFC 6532 needs it), no From, or MIME that does not
// hold together.
func problem(raw []byte, smtputf8 bool) string {
	head := raw[:headerLen(raw)]
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(head)))
	if err != nil {
		return "header"
	}
	if !smtputf8 {
		for _, c := range head {
			if c >= 0x80 {
				return "8bit-header"
			}
		}
	}
	if _, ok := sender(h, ""); !ok {
		return "no-from"
	}
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return "mime"
	}
	if walkMIME(e, 0) != nil {
		return "mime"
	}
	return ""
}

// walkMIME reads every part of e, to find MIME that does not hold
// together (a multipart without its closing boundary, a bad encoding).
func walkMIME(e *message.Entity, depth int) error {
	if depth > maxDepth {
		return errors.New("too deep")
	}
	if mr := e.MultipartReader(); mr != nil {
		t, params, _ := e.Header.ContentType()
		if params["boundary"] == "" {
			return fmt.Errorf("%s without boundary", t)
		}
		n := 0
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
				return err
			}
			if p == nil {
				return errors.New("unreadable part")
			}
			n++
			if err := walkMIME(p, depth+1); err != nil {
				return err
			}
		}
		if n == 0 {
			return errors.New("multipart without parts")
		}
		return nil
	}
	_, err := io.Copy(io.Discard, e.Body)
	return err
}

// headerLen returns the length of a message's header with the blank line
// that ends it: where the body starts (RFC 5322 §2.1); len(raw) when there
// is no body.
func headerLen(raw []byte) int {
	if bytes.HasPrefix(raw, []byte("\r\n")) {
		return 2
	}
	if bytes.HasPrefix(raw, []byte("\n")) {
		return 1
	}
	for i := 0; i < len(raw); {
		j := bytes.IndexByte(raw[i:], '\n')
		if j < 0 {
			return len(raw)
		}
		i += j + 1
		if bytes.HasPrefix(raw[i:], []byte("\r\n")) {
			return i + 2
		}
		if bytes.HasPrefix(raw[i:], []byte("\n")) {
			return i + 1
		}
	}
	return len(raw)
}
