package tickets

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"codeberg.org/relais/relais/mailauth"
	"codeberg.org/relais/relais/queue"
	"codeberg.org/relais/relais/store"
	"codeberg.org/relais/relais/templates"
)

// person returns the ticket_people row of email on ticket t, creating it
// with role (requester, operator, other).
func (s *Service) person(tx *store.Tx, t Ticket, email, role string) (int64, error) {
	var id int64
	var got string
	err := tx.QueryRow("person.add", t.ID, email, role).Scan(&id, &got)
	return id, err
}

// key seals a reply key for email on ticket t with role r.
func (s *Service) key(tx *store.Tx, t Ticket, email string, r Role) (string, error) {
	personRole := "operator"
	if r == Requester {
		personRole = "requester"
	}
	id, err := s.person(tx, t, email, personRole)
	if err != nil {
		return "", err
	}
	exp := s.now().Add(s.cfg.KeyTTL).UTC().Truncate(24 * time.Hour)
	return ReplyKey{Ticket: t.ID, Person: id, Role: r, Expires: exp}.Seal(s.secret, email), nil
}

// messageID is a Message-ID carrying key, so that threading finds the
// ticket and the person when a provider drops the +KEY of the address.
func (s *Service) messageID(key string) string {
	var b [6]byte
	rand.Read(b[:])
	return "<" + key + "." + hex.EncodeToString(b[:]) + "@" + s.cfg.Hostname + ">"
}

// data is what every desk template may use, plus its own fields.
func (s *Service) data(q Queue, t Ticket, extra map[string]any) map[string]any {
	name := q.DisplayName
	if name == "" {
		name = q.Name
	}
	d := map[string]any{
		"Number":    t.ID,
		"Subject":   t.Subject,
		"Queue":     s.Address(q, ""),
		"QueueName": name,
		"State":     t.State,
		"Requester": t.Requester,
		"Assignee":  t.Assignee,
	}
	for k, v := range extra {
		d[k] = v
	}
	return d
}

func quoteName(n string) string {
	return `"` + strings.NewReplacer(`"`, `'`, `\`, ``, "\r", "", "\n", "").Replace(n) + `"`
}

// from is the queue's address with its name, as the requester sees it.
func (s *Service) from(q Queue) string {
	name := q.DisplayName
	if name == "" {
		name = q.Name
	}
	return quoteName(name) + " <" + s.Address(q, "") + ">"
}

// send composes template name for to and queues it inside tx.
func (s *Service) send(tx *store.Tx, q Queue, t Ticket, to, lang, name string, data map[string]any, env templates.Envelope) error {
	env.To = to
	env.Hostname = s.cfg.Hostname
	env.Date = s.now()
	env.Header = append(env.Header, [2]string{LoopHeader, s.Address(q, "")})
	msg, err := s.texts.Compose(lang, name, data, env)
	if err != nil {
		return err
	}
	id := store.NewID()
	utf8, eight := queue.Needs(msg)
	if _, err := tx.Exec("message.insert", id, s.now().Unix(), "", "", "", utf8, eight, len(msg), msg); err != nil {
		return err
	}
	_, err = s.q.Enqueue(tx, queue.Message{MessageID: id, To: []string{to}, Kind: KindTicket, Ref: fmt.Sprint(t.ID)})
	return err
}

// toRequester sends template name to the requester of t, from the queue,
// replies going to the requester's key.
func (s *Service) toRequester(tx *store.Tx, q Queue, t Ticket, name string, extra map[string]any, env templates.Envelope) error {
	if !strings.Contains(t.Requester, "@") {
		// An erased requester ("effacé-N", package privacy): the thread
		// stays for the operators, nothing is sent.
		s.log.Info("nothing sent to an erased requester", "ticket", t.ID, "template", name)
		return nil
	}
	k, err := s.key(tx, t, t.Requester, Requester)
	if err != nil {
		return err
	}
	env.From = s.from(q)
	env.MessageID = s.messageID(k)
	env.Header = append(env.Header, [2]string{"Reply-To", s.Address(q, k)})
	return s.send(tx, q, t, t.Requester, t.Lang, name, s.data(q, t, extra), env)
}

// acknowledge tells the requester their ticket is open (RFC 3834: an
// automatic reply, to the From of a person's message).
//
// Only a proven From gets back words of its message (the subject, the
// Message-ID it answers). Anyone can write any From: an acknowledgement
// that repeats the subject, signed by the hub, would carry a forger's text
// (a phishing link) to whomever they name, under the hub's name. A From
// that is not proven, but not shown forged either, gets an acknowledgement
// of ours alone (ticket-ack-unproven), which repeats nothing of the
// message: no subject, no text, no threading. Many real requesters cannot
// be proven (a small association's domain without SPF or DKIM, a
// forwarding address): they still learn that their request arrived and its
// number, rather than writing again or believing it lost, and they get the
// reply key that lets them add to it. Someone whose address was used gets
// a few fixed lines that say so and can be ignored, at most acks_per_hour
// an hour. Sending nothing would leave the first without an answer to
// spare the second those lines. A From shown forged (Result.Failed) gets
// nothing at all: see open.
func (s *Service) acknowledge(tx *store.Tx, q Queue, t Ticket, in incoming) error {
	if !in.proven {
		return s.toRequester(tx, q, t, "ticket-ack-unproven", unechoed(nil), templates.Envelope{
			AutoSubmitted: "auto-replied",
		})
	}
	return s.toRequester(tx, q, t, "ticket-ack", nil, templates.Envelope{
		AutoSubmitted: "auto-replied",
		References:    in.headerID,
	})
}

// unechoed adds to the data of a template what keeps it from repeating
// words of a writer whose From is not proven: an empty Subject, so that
// even an operator's own version of the template has none to show.
func unechoed(extra map[string]any) map[string]any {
	if extra == nil {
		extra = map[string]any{}
	}
	extra["Subject"] = ""
	return extra
}

// requesterProven says whether anything the requester of t wrote in it
// came with a proven From (mailauth): until then, what the desk sends them
// repeats none of their words (an operator's answer is titled "Your
// request", not with the subject they gave, and threads under nothing of
// theirs).
func (s *Service) requesterProven(tx querier, t Ticket) (bool, error) {
	if s.cfg.AuthservID == "" {
		return true, nil
	}
	rows, err := tx.Query("tmsg.head-by-author", t.ID, t.Requester)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	for rows.Next() {
		var head []byte
		if err := rows.Scan(&head); err != nil {
			return false, err
		}
		if res, ok := mailauth.Read(head, s.cfg.AuthservID); ok && res.Proven() {
			return true, nil
		}
	}
	return false, rows.Err()
}

// answer sends an operator's public answer to the requester, from the
// queue's address: the operator's own address never shows.
func (s *Service) answer(tx *store.Tx, q Queue, t Ticket, op, text string, in incoming) error {
	var last string
	if err := tx.QueryRow("tmsg.last-from", t.ID, t.Requester).Scan(&last); err != nil {
		last = ""
	}
	refs := t.RootMsgID
	if last != "" && last != refs {
		refs += " " + last
	}
	extra := map[string]any{"Text": text}
	proven, err := s.requesterProven(tx, t)
	if err != nil {
		return err
	}
	if !proven {
		// The operator's words, nothing of the requester's: no subject,
		// and not threaded under Message-IDs they chose (see acknowledge).
		extra, refs = unechoed(extra), ""
	}
	return s.toRequester(tx, q, t, "ticket-answer", extra, templates.Envelope{
		References: refs,
		Files:      files(in.content.Files),
	})
}

func files(fs []File) []templates.File {
	var out []templates.File
	for _, f := range fs {
		out = append(out, templates.File{Name: f.Name, Type: f.Type, Data: f.Data})
	}
	return out
}

// notify tells the operators of a new message in t: the assignee if there
// is one, else every operator of the queue; never except, who wrote it.
// Each gets a reply key for public answers (the From and Reply-To) and one
// for internal notes (in the text).
func (s *Service) notify(tx *store.Tx, q Queue, t Ticket, kind, author string, in incoming, except string) error {
	to := q.Operators
	if t.Assignee != "" {
		to = []string{t.Assignee}
	}
	var names []string
	for _, f := range in.content.Files {
		names = append(names, f.Name)
	}
	who := author
	if author == t.Requester && t.RequesterName != "" {
		who = t.RequesterName
	}
	refs := t.RootMsgID
	if in.headerID != "" && in.headerID != refs {
		refs = strings.TrimSpace(refs + " " + in.headerID)
	}
	for _, op := range to {
		if op == except {
			continue
		}
		if ok, err := s.allow(tx, ticketKey(t), sendsPerTicketHour); err != nil || !ok {
			return err
		}
		ok, err := s.key(tx, t, op, Operator)
		if err != nil {
			return err
		}
		nk, err := s.key(tx, t, op, Note)
		if err != nil {
			return err
		}
		data := s.data(q, t, map[string]any{
			"Kind":     kind,
			"Author":   author,
			"Text":     in.content.Text,
			"Files":    names,
			"Withheld": in.withheld,
			// The operators see everything, and are told when nothing
			// proves who wrote it.
			"Unproven": (kind == "request" || kind == "reply") && !in.proven,
			"Reply":    s.Address(q, ok),
			"Note":     s.Address(q, nk),
		})
		env := templates.Envelope{
			From:          quoteName(who+" via "+q.Name) + " <" + s.Address(q, ok) + ">",
			MessageID:     s.messageID(ok),
			AutoSubmitted: "auto-generated",
			References:    refs,
			Header:        [][2]string{{"Reply-To", s.Address(q, ok)}},
			Files:         files(in.content.Files),
		}
		lang := q.Lang
		if err := s.send(tx, q, t, op, lang, "ticket-notify", data, env); err != nil {
			return err
		}
	}
	return nil
}

// tellOperator tells an operator which command lines were not understood.
func (s *Service) tellOperator(tx *store.Tx, q Queue, t Ticket, op string, lines []string) error {
	ok, err := s.key(tx, t, op, Operator)
	if err != nil {
		return err
	}
	return s.send(tx, q, t, op, q.Lang, "ticket-commands", s.data(q, t, map[string]any{"Lines": lines}), templates.Envelope{
		From:          s.from(q),
		MessageID:     s.messageID(ok),
		AutoSubmitted: "auto-replied",
		Header:        [][2]string{{"Reply-To", s.Address(q, ok)}},
	})
}

// tellWithheld tells the writer of in that its attachments were too
// large to pass on.
func (s *Service) tellWithheld(tx *store.Tx, q Queue, t Ticket, in incoming) error {
	if in.forged {
		return nil // no backscatter
	}
	if ok, err := s.mayAck(tx, in.from.Address); err != nil || !ok {
		return err
	}
	// Fixed lines of ours; to a From that is not proven, not even threaded
	// under its message (see acknowledge).
	extra := map[string]any{"MaxMB": s.maxMB()}
	env := templates.Envelope{AutoSubmitted: "auto-replied", References: in.headerID}
	if !in.proven {
		extra, env.References = unechoed(extra), ""
	}
	if in.from.Address == t.Requester {
		return s.toRequester(tx, q, t, "ticket-withheld", extra, env)
	}
	env.From = s.from(q)
	return s.send(tx, q, t, in.from.Address, t.Lang, "ticket-withheld", s.data(q, t, extra), env)
}

func (s *Service) maxMB() int64 { return (s.cfg.MaxFileBytes + 1<<20 - 1) >> 20 }
