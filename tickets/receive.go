package tickets

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-message/textproto"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/internal/automail"
	"codeberg.org/relais/relais/internal/mailbox"
	"codeberg.org/relais/relais/mailauth"
	"codeberg.org/relais/relais/store"
)

// incoming is an accepted message for a queue, read once.
type incoming struct {
	m        store.Received
	h        textproto.Header
	from     *mail.Address // lower-case address
	subject  string        // decoded
	headerID string
	auto     bool
	content  Content
	withheld bool // attachments too large to pass on
	proven   bool // SPF, DKIM or DMARC prove the From (mailauth)
	forged   bool // SPF failed and DMARC did not pass: send nothing back
}

// match is what the matcher found: a ticket (or none), and who writes.
type match struct {
	ticket Ticket
	found  bool
	role   Role   // Requester, Operator or Note; 0: someone without powers
	person string // the key holder, for Operator and Note
	how    string // key, header-key, msgid, subject
}

// Receive handles one accepted message for queue target (from Route),
// inside the dispatcher's transaction.
func (s *Service) Receive(tx *store.Tx, target string, m store.Received) error {
	qids, key, _ := strings.Cut(target, ":")
	qid, err := strconv.ParseInt(qids, 10, 64)
	if err != nil {
		// Only the queue part: what follows is a reply key, which no error
		// (logged, stored) may carry.
		return fmt.Errorf("tickets: bad target %q: %w", qids, ErrNotFound)
	}
	q, err := loadQueue(tx, "queue.by-id", qid)
	if err != nil {
		return err
	}
	in, err := s.read(m)
	if err != nil {
		return err
	}
	log := s.log.With("qid", m.ID, "queue", q.Name)
	// Our own mail back (a forward loop, an operator's rule): dropped.
	for _, v := range in.h.Values(LoopHeader) {
		if strings.EqualFold(strings.TrimSpace(v), s.Address(q, "")) {
			log.Info("own mail came back, dropped")
			return nil
		}
	}
	if in.from == nil {
		log.Info("no sender, dropped")
		return nil
	}
	// The same message twice (to support+KEY@ and Cc support@, or sent
	// again): once is enough, whichever ticket it went to.
	if in.headerID != "" {
		var seen int
		if err := tx.QueryRow("tmsg.seen", q.ID, in.headerID).Scan(&seen); err != nil {
			return err
		}
		if seen > 0 {
			log.Info("already in a ticket, dropped", "message_id", s.loggedID(in.headerID))
			return nil
		}
	}
	mt := s.match(tx, q, key, in)
	if (mt.role == Operator || mt.role == Note) && (!in.proven || in.from.Address != mt.person) {
		// A key can be forwarded, quoted, stolen: an operator's powers
		// also need the operator's own From, proven.
		log.Warn("operator key without a proven From: no powers", "ticket", mt.ticket.ID, "from", address.Redact(in.from.Address), "holder", mt.person)
		mt.role, mt.person = 0, ""
	}
	if mt.role == Requester && mt.how == "subject" && !in.proven {
		// A subject number is public: it names the requester only when
		// their From is proven.
		mt.role = 0
	}
	if mt.found && mt.ticket.State == StateClosed && !mt.ticket.Closed.IsZero() &&
		s.now().Sub(mt.ticket.Closed) > s.cfg.ReopenWithin && mt.role == Requester {
		// Too late to reopen: a new ticket that follows the old one.
		if in.auto {
			_, err := s.record(tx, mt.ticket, "auto", in, in.from.Address)
			return err
		}
		return s.open(tx, q, in, mt.ticket.ID)
	}
	switch {
	case in.auto && mt.found:
		// Attached as such; never answered, never reopens.
		log.Info("automatic mail attached", "ticket", mt.ticket.ID)
		_, err := s.record(tx, mt.ticket, "auto", in, in.from.Address)
		return err
	case in.auto:
		log.Info("automatic mail without a ticket, ignored", "from", address.Redact(in.from.Address))
		return nil
	case !mt.found:
		return s.open(tx, q, in, 0)
	case mt.role == Operator || mt.role == Note:
		return s.fromOperator(tx, q, mt, in)
	default:
		return s.reply(tx, q, mt, in)
	}
}

func (s *Service) read(m store.Received) (incoming, error) {
	in := incoming{m: m}
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(m.Body)))
	if err != nil {
		// Unreadable header: nothing to thread on; a ticket whose text is
		// what could be read, from the envelope sender.
		h = textproto.Header{}
	}
	in.h = h
	if a, err := mailbox.Parse(h.Get("From"), true); err == nil {
		in.from = a
	} else if m.MailFrom != "" {
		in.from = &mail.Address{Address: m.MailFrom}
	}
	if in.from != nil {
		in.from.Address = strings.ToLower(in.from.Address)
	}
	in.subject = h.Get("Subject")
	if d, err := new(mime.WordDecoder).DecodeHeader(in.subject); err == nil {
		in.subject = d
	}
	in.subject = strings.Join(strings.Fields(in.subject), " ")
	if ids := msgIDs(h.Get("Message-ID")); len(ids) > 0 {
		in.headerID = ids[0]
	}
	in.auto = automail.Marked(h, m.MailFrom) || automail.Vacation(in.subject) ||
		(in.from != nil && automail.From(in.from.Address))
	in.proven = true
	if s.cfg.AuthservID != "" {
		res, ok := mailauth.Read(m.Body, s.cfg.AuthservID)
		in.proven, in.forged = ok && res.Proven(), ok && res.Failed()
	}
	in.content = Read(m.Body)
	if s.cfg.MaxFileBytes > 0 && int64(len(m.Body)) > s.cfg.MaxFileBytes && len(in.content.Files) > 0 {
		in.content.Files, in.withheld = nil, true
	}
	return in, nil
}

// match finds the ticket of an incoming message and who writes it, in
// this order: the key of the recipient address, a key in a To or Cc
// address, a key in a Message-ID of ours under In-Reply-To or References,
// a [#123] in the subject from the requester or someone on the ticket.
func (s *Service) match(tx *store.Tx, q Queue, key string, in incoming) match {
	if key != "" {
		if h, ok := s.verify(tx, q, key, false); ok {
			return match{ticket: h.ticket, found: true, role: s.role(q, h), person: h.email, how: "key"}
		}
	}
	for _, f := range []string{"To", "Cc"} {
		list, _ := (&mail.Header{f: []string{in.h.Get(f)}}).AddressList(f)
		for _, a := range list {
			if k, ok := KeyOfAddress(a.Address, q.Name, s.cfg.Domain); ok {
				if h, ok := s.verify(tx, q, k, false); ok {
					return match{ticket: h.ticket, found: true, role: s.role(q, h), person: h.email, how: "header-key"}
				}
			}
		}
	}
	// A provider that drops the +KEY leaves the threading fields: the
	// last Message-ID of ours names the ticket. It gives a role only to
	// the person it was made for.
	ids := append(msgIDs(in.h.Get("In-Reply-To")), reverse(msgIDs(in.h.Get("References")))...)
	for _, id := range ids {
		k, ok := MessageIDKey(id, s.cfg.Hostname)
		if !ok {
			continue
		}
		h, ok := s.verify(tx, q, k, false)
		if !ok {
			continue
		}
		mt := match{ticket: h.ticket, found: true, how: "msgid"}
		if h.email == in.from.Address {
			mt.role, mt.person = s.role(q, h), h.email
		} else if in.from.Address == h.ticket.Requester {
			mt.role = Requester
		}
		return mt
	}
	if n, ok := SubjectNumber(in.subject); ok {
		t, err := getTicket(tx, n)
		if err != nil || t.QueueID != q.ID {
			return match{}
		}
		if in.from.Address == t.Requester {
			return match{ticket: t, found: true, role: Requester, how: "subject"}
		}
		var id int64
		var role string
		if err := tx.QueryRow("person.by-email", t.ID, in.from.Address).Scan(&id, &role); err == nil {
			// On the ticket, but without a key: no operator powers.
			return match{ticket: t, found: true, how: "subject"}
		}
	}
	return match{}
}

// role is what the holder of a verified key may do now: an operator key
// of someone no longer an operator of the queue gives no powers.
func (s *Service) role(q Queue, h holder) Role {
	if h.key.Role == Requester || slices.Contains(q.Operators, h.email) {
		return h.key.Role
	}
	return 0
}

func reverse(s []string) []string {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
	return s
}

// record stores an incoming message in ticket t, and returns the text
// shown for it.
func (s *Service) record(tx *store.Tx, t Ticket, kind string, in incoming, author string) (string, error) {
	text := in.content.Text
	if kind != "request" || IsReply(in.subject) || in.h.Has("In-Reply-To") {
		text = Trim(text)
	} else {
		text = tidy(splitLines(text))
	}
	if in.withheld {
		text += "\n\n[" + s.withheldNote(t.Lang) + "]"
	}
	now := s.now().Unix()
	if _, err := tx.Exec("tmsg.insert", t.ID, kind, author, in.headerID, text, in.m.Body, now); err != nil {
		return "", err
	}
	_, err := tx.Exec("ticket.touch", now, t.ID)
	return text, err
}

func (s *Service) withheldNote(lang string) string {
	r, err := s.texts.Text(lang, "ticket-withheld-note", nil)
	if err != nil {
		return "attachments withheld"
	}
	return strings.TrimSpace(r)
}

// open opens a ticket for in, acknowledges it and tells the operators.
func (s *Service) open(tx *store.Tx, q Queue, in incoming, follows int64) error {
	now := s.now()
	subject := CleanSubject(in.subject)
	lang := langOf(in.h, in.content.Text, q.Lang)
	res, err := tx.Exec("ticket.insert", q.ID, subject, in.from.Address, in.from.Name, lang, follows, in.headerID, now.Unix(), now.Unix())
	if err != nil {
		return err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return err
	}
	t, err := getTicket(tx, id)
	if err != nil {
		return err
	}
	if _, err := s.person(tx, t, in.from.Address, "requester"); err != nil {
		return err
	}
	if in.content.Text, err = s.record(tx, t, "request", in, in.from.Address); err != nil {
		return err
	}
	s.log.Info("ticket opened", "qid", in.m.ID, "ticket", t.ID, "queue", q.Name, "follows", follows)
	ok, err := s.mayAck(tx, in.from.Address)
	if err != nil {
		return err
	}
	if ok && !in.forged {
		if err := s.acknowledge(tx, q, t, in); err != nil {
			return err
		}
	}
	return s.notify(tx, q, t, "request", in.from.Address, in, "")
}

// reply handles a message from the requester's side (or from someone on
// the ticket without an operator key).
func (s *Service) reply(tx *store.Tx, q Queue, mt match, in incoming) error {
	t := mt.ticket
	var err error
	if in.content.Text, err = s.record(tx, t, "reply", in, in.from.Address); err != nil {
		return err
	}
	if mt.role == Requester {
		switch t.State {
		case StatePending, StateSolved, StateClosed:
			if err := setState(tx, t.ID, StateOpen, s.now()); err != nil {
				return err
			}
			t.State = StateOpen
		}
	}
	if _, err := s.person(tx, t, in.from.Address, "other"); err != nil {
		return err
	}
	s.log.Info("reply added", "qid", in.m.ID, "ticket", t.ID, "matched", mt.how, "requester", mt.role == Requester)
	if in.withheld {
		if err := s.tellWithheld(tx, q, t, in); err != nil {
			return err
		}
	}
	return s.notify(tx, q, t, "reply", in.from.Address, in, "")
}

// fromOperator handles a message through an operator's key: commands,
// then a public answer (Operator key) or an internal note (Note key, or
// #note).
func (s *Service) fromOperator(tx *store.Tx, q Queue, mt match, in incoming) error {
	t := mt.ticket
	cmds, text := Commands(Trim(in.content.Text))
	// An operator answering inside a quote quotes the notification: notes
	// and addresses the requester must never see. Answers keep only what
	// the operator wrote.
	text = unquoted(text)
	note := mt.role == Note
	for _, c := range cmds {
		if c.Name == "note" {
			note = true
		}
	}
	now := s.now()
	kind := "answer"
	if note {
		kind = "note"
	}
	if text != "" || len(in.content.Files) > 0 || note {
		if _, err := tx.Exec("tmsg.insert", t.ID, kind, mt.person, in.headerID, text, in.m.Body, now.Unix()); err != nil {
			return err
		}
	}
	state := t.State
	var problems []string
	for _, c := range cmds {
		switch c.Name {
		case "close":
			state = StateClosed
		case "solve":
			state = StateSolved
		case "pending":
			state = StatePending
		case "open":
			state = StateOpen
		case "assign":
			who, err := assignee(q, c.Arg, mt.person)
			if err != nil {
				problems = append(problems, c.Line)
				continue
			}
			if _, err := tx.Exec("ticket.assign", who, now.Unix(), t.ID); err != nil {
				return err
			}
			t.Assignee = who
		case "note":
		default:
			problems = append(problems, c.Line)
		}
	}
	answering := !note && (text != "" || len(in.content.Files) > 0)
	if answering && state == StateNew {
		state = StateOpen
	}
	if state != t.State {
		if err := setState(tx, t.ID, state, now); err != nil {
			return err
		}
		t.State = state
	} else if _, err := tx.Exec("ticket.touch", now.Unix(), t.ID); err != nil {
		return err
	}
	if answering {
		ok, err := s.allow(tx, ticketKey(t), sendsPerTicketHour)
		if err != nil {
			return err
		}
		if ok {
			if err := s.answer(tx, q, t, mt.person, s.redact(q, text), in); err != nil {
				return err
			}
		}
	}
	s.log.Info("operator message", "qid", in.m.ID, "ticket", t.ID, "kind", kind, "commands", len(cmds), "state", t.State, "matched", mt.how)
	if len(problems) > 0 {
		if err := s.tellOperator(tx, q, t, mt.person, problems); err != nil {
			return err
		}
	}
	if in.withheld {
		if err := s.tellWithheld(tx, q, t, in); err != nil {
			return err
		}
	}
	if text == "" && len(cmds) > 0 && !note {
		return nil // commands only: nothing to tell the others
	}
	in.content.Text = text
	return s.notify(tx, q, t, kind, mt.person, in, mt.person)
}

// assignee resolves the argument of #assigner: an operator of the queue by
// full address, by the part before '@' ("camille@" or "camille"), or "moi".
func assignee(q Queue, arg, self string) (string, error) {
	arg = strings.ToLower(strings.TrimSpace(arg))
	switch arg {
	case "", "moi", "me", "myself":
		return self, nil
	}
	var found []string
	for _, op := range q.Operators {
		local, _, _ := strings.Cut(op, "@")
		if op == arg || local == strings.TrimSuffix(arg, "@") || strings.HasPrefix(op, arg) && strings.HasSuffix(arg, "@") {
			found = append(found, op)
		}
	}
	if len(found) != 1 {
		return "", errors.New("no single operator")
	}
	return found[0], nil
}

// sendsPerTicketHour caps the answers and notifications one ticket sends
// in an hour: two operators' auto-responders that mark nothing would
// otherwise answer each other through the ticket for ever.
const sendsPerTicketHour = 30

func ticketKey(t Ticket) string { return "#" + strconv.FormatInt(t.ID, 10) }

// mayAck says whether one more acknowledgement may go to addr this hour,
// and counts it.
func (s *Service) mayAck(tx *store.Tx, addr string) (bool, error) {
	return s.allow(tx, addr, s.cfg.AcksPerHour)
}

// allow says whether one more message counted under key (an address, or
// a ticket's "#N") may go out this hour, at most limit, and counts it.
func (s *Service) allow(tx *store.Tx, key string, limit int) (bool, error) {
	now := s.now()
	var n int
	if err := tx.QueryRow("ack.count", key, now.Add(-time.Hour).Unix()).Scan(&n); err != nil {
		return false, err
	}
	if n >= limit {
		s.log.Warn("hourly limit reached, not sent", "key", address.Redact(key), "limit", limit)
		return false, nil
	}
	_, err := tx.Exec("ack.insert", key, now.Unix())
	return err == nil, err
}

// unquoted drops the quoted lines of text.
func unquoted(text string) string {
	lines := splitLines(text)
	out := lines[:0]
	for _, l := range lines {
		if !quoted(l) {
			out = append(out, l)
		}
	}
	return tidy(out)
}

// langOf guesses the language of a request: Content-Language, else the
// words of its text, else def.
func langOf(h textproto.Header, text, def string) string {
	v := strings.ToLower(strings.TrimSpace(h.Get("Content-Language")))
	switch {
	case strings.HasPrefix(v, "en"):
		return "en"
	case strings.HasPrefix(v, "fr"):
		return "fr"
	}
	en, fr := 0, 0
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicodeLetter(r) }) {
		switch w {
		case "the", "and", "you", "please", "thanks", "thank", "hello", "is", "my", "would", "could", "with", "have":
			en++
		case "le", "la", "les", "et", "vous", "je", "merci", "bonjour", "est", "pour", "une", "des", "nous", "avec":
			fr++
		}
	}
	if en >= 3 && en > 2*fr {
		return "en"
	}
	return def
}

func unicodeLetter(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 0xc0 && r != 0xd7 && r != 0xf7 || r == '\''
}

// redact replaces reply addresses of the queue left in an operator's text
// (a quote the trimmer did not recognise) with the queue's address: a key
// given to an operator must never reach the requester.
func (s *Service) redact(q Queue, text string) string {
	re := regexp.MustCompile(`(?i)\b` + regexp.QuoteMeta(q.Name) + `\+[a-z2-7]{20,48}@` + regexp.QuoteMeta(s.cfg.Domain))
	return re.ReplaceAllString(text, s.Address(q, ""))
}

// loggedID is Message-ID id as a log line may show it: one of the desk's
// own carries a reply key ("<KEY.RANDOM@host>"), which is replaced by
// address.Redacted.
func (s *Service) loggedID(id string) string {
	key, ok := MessageIDKey(id, s.cfg.Hostname)
	if !ok || key == "" {
		return id
	}
	if i := strings.Index(strings.ToLower(id), key); i >= 0 {
		return id[:i] + address.Redacted + id[i+len(key):]
	}
	return address.Redacted
}
