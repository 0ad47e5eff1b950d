package smtpd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-smtp"

	"codeberg.org/relais/relais/address"
)

type session struct {
	s      *Server
	log    *slog.Logger
	remote string
	helo   string
	tls    bool
	conn   *guardConn // nil if not ours (tests)

	from    string
	opts    smtp.MailOptions
	rcpts   []Rcpt
	seen    map[string]bool
	refused int // recipients refused in the whole session
}

// maxRefused is how many recipients a session may have refused before it
// is ended (Postfix's smtpd_hard_error_limit): each costs a lookup, and a
// client guessing addresses (group names, tokens) or keeping a
// connection busy with them is not sending mail. Clients in
// smtp.limit_exempt (a front MTA, whose sessions carry everyone's mail)
// are not counted.
const maxRefused = 20

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	cid := s.cid.Add(1)
	s.cfg.Observer.Session()
	remote := remoteIP(c.Conn().RemoteAddr())
	_, isTLS := c.TLSConnectionState()
	return &session{
		s:      s,
		log:    s.log.With("cid", cid, "remote", remote),
		remote: remote,
		helo:   c.Hostname(),
		tls:    isTLS,
		conn:   guarded(c.Conn()),
	}, nil
}

func (ss *session) Reset() {
	ss.from, ss.opts, ss.rcpts, ss.seen = "", smtp.MailOptions{}, nil, nil
}

func (ss *session) Logout() error { return nil }

func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	ss.Reset()
	if s := ss.s; !s.exempt(ss.remote) {
		now := s.cfg.Now()
		if !s.ipRate.allow(clientKey(ss.remote), now) {
			ss.log.Warn("message refused", "from", address.Redact(from), "reason", "message rate per client address")
			return s.errRate()
		}
		// A sender counts with the messages accepted in its name, not its
		// MAIL FROM commands: anyone can type someone's address, and that
		// must not lock its owner out.
		if from != "" && s.senderRate.over(strings.ToLower(from), now) {
			ss.log.Warn("message refused", "from", address.Redact(from), "reason", "message rate per sender")
			return s.errRate()
		}
	}
	ss.from = from
	if opts != nil {
		ss.opts = *opts
	}
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if ss.refused >= maxRefused {
		// No lookup: the session ends after this answer (and answers the
		// same to what the client pipelined behind it).
		if ss.refused == maxRefused {
			ss.refused++
			ss.log.Warn("too many recipients refused, closing", "refused", maxRefused)
		}
		if ss.conn != nil {
			ss.conn.hangUp()
		}
		return ss.s.errTooManyRefused()
	}
	ctx, cancel := context.WithTimeout(ss.s.ctx, 30*time.Second)
	defer cancel()
	route, err := ss.s.router.Route(ctx, to)
	if (errors.Is(err, ErrUnknownRecipient) || errors.Is(err, ErrRelayDenied)) && !ss.s.exempt(ss.remote) {
		ss.refused++
	}
	var re *RecipientError
	switch {
	case err == nil:
	case errors.As(err, &re):
		ss.log.Info("recipient refused", "rcpt", address.Redact(to), "reason", re.Reason)
		return ss.s.errBadAddress(to, re)
	case errors.Is(err, ErrUnknownRecipient):
		ss.log.Info("recipient refused", "rcpt", address.Redact(to), "reason", "unknown")
		return ss.s.errUnknownUser(to)
	case errors.Is(err, ErrRelayDenied):
		ss.log.Warn("relay denied", "from", address.Redact(ss.from), "rcpt", address.Redact(to))
		return ss.s.errRelayDenied(to)
	default:
		ss.log.Error("routing failed", "rcpt", address.Redact(to), "err", err)
		return ss.s.errTemp()
	}
	// The same destination named twice (RCPT TO repeated, or the same group
	// under two of the hub's domains): one delivery.
	key := route.Kind + "\x00" + route.Target
	if ss.seen == nil {
		ss.seen = make(map[string]bool)
	}
	if !ss.seen[key] {
		ss.seen[key] = true
		ss.rcpts = append(ss.rcpts, Rcpt{Addr: to, Route: route})
	}
	return nil
}

// readBuffers hold messages as they are read, reused from one message to
// the next: reading into a new slice grows it by doubling, three times the
// message's size allocated for each.
var readBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// putReadBuffer gives buf back, unless a large message made it large.
func putReadBuffer(buf *bytes.Buffer) {
	if buf.Cap() > 1<<20 {
		return
	}
	buf.Reset()
	readBuffers.Put(buf)
}

func (ss *session) Data(r io.Reader) error {
	s := ss.s
	if len(ss.rcpts) == 0 {
		return s.errNoRecipients()
	}
	if ss.conn != nil {
		ss.conn.dataPhase(true)
	}
	buf := readBuffers.Get().(*bytes.Buffer)
	defer putReadBuffer(buf)
	_, err := buf.ReadFrom(r)
	body := buf.Bytes() // the buffer's: what is kept is copied (msg below)
	if ss.conn != nil {
		ss.conn.dataPhase(false)
	}
	if err != nil {
		switch {
		case errors.Is(err, smtp.ErrDataTooLarge):
			ss.log.Info("message refused", "from", address.Redact(ss.from), "reason", "too large")
			return s.errTooLarge()
		case errors.Is(err, smtp.ErrTooLongLine):
			return s.errLineTooLong()
		case errors.Is(err, os.ErrDeadlineExceeded):
			ss.log.Info("message not stored", "from", address.Redact(ss.from), "reason", "too slow")
			return s.errTimeout()
		}
		ss.log.Warn("data transfer failed", "err", err)
		return s.errTemp()
	}
	if ss.conn != nil && ss.conn.eof.Load() {
		// The client went away during the message. go-smtp v0.25.1 ends a
		// BDAT chunk cut short by the end of the connection as if it were
		// whole: what was read may be a truncated message, not stored.
		ss.log.Warn("client gone before the end of the message, not stored", "from", address.Redact(ss.from))
		return s.errTemp()
	}
	h, serr := ss.check(body)
	if serr != nil {
		ss.log.Info("message refused", "from", address.Redact(ss.from), "reason", serr.Message)
		return serr
	}
	now := time.Now()
	env := &Envelope{
		ID:       s.cfg.NewID(),
		From:     ss.from,
		Rcpts:    ss.rcpts,
		RemoteIP: ss.remote,
		Helo:     ss.helo,
		TLS:      ss.tls,
		SMTPUTF8: ss.opts.UTF8,
		Body8Bit: ss.opts.Body == smtp.Body8BitMIME || ss.opts.Body == smtp.BodyBinaryMIME,
		Received: now,
	}
	ctx, cancel := context.WithTimeout(s.ctx, time.Minute)
	defer cancel()
	var field []byte
	if s.cfg.Checker != nil {
		var refusal *Refusal
		field, body, refusal = s.cfg.Checker.Check(ctx, env, body)
		if refusal != nil {
			ss.log.Info("message refused", "from", address.Redact(ss.from), "reason", refusal.Why, "detail", refusal.Detail)
			return s.errRefused(refusal)
		}
	}
	// What is stored, made once: body is the read buffer's.
	rec, miss := ss.received(env), ss.missing(h, env)
	msg := make([]byte, 0, len(rec)+len(miss)+len(field)+len(body))
	msg = append(append(append(append(msg, rec...), miss...), field...), body...)
	if err := s.spool.Accept(ctx, env, msg); err != nil {
		if s.ctx.Err() != nil {
			return s.errShuttingDown()
		}
		ss.log.Error("message not stored", "from", address.Redact(ss.from), "err", err)
		return s.errTemp()
	}
	if env.From != "" && !s.exempt(ss.remote) {
		s.senderRate.add(strings.ToLower(env.From), s.cfg.Now())
	}
	if ss.conn != nil {
		ss.conn.delivered()
	}
	rcpts := make([]string, len(env.Rcpts))
	for i, r := range env.Rcpts {
		rcpts[i] = address.Redact(r.Addr)
	}
	s.cfg.Observer.Accepted()
	ss.log.Info("accepted", "qid", env.ID, "from", address.Redact(env.From), "rcpts", strings.Join(rcpts, ","), "size", len(msg))
	ss.Reset()
	return nil
}

// check refuses, while the sender is still there to hear it, what the hub
// would otherwise have to bounce (Inspect says what).
func (ss *session) check(body []byte) (textproto.Header, *smtp.SMTPError) {
	rcpts := make([]string, len(ss.rcpts))
	for i, r := range ss.rcpts {
		rcpts[i] = r.Addr
	}
	h, err := Inspect(body, ss.s.cfg.MaxHeaderBytes, ss.opts.UTF8, rcpts)
	var loop *LoopError
	switch {
	case err == nil:
		return h, nil
	case errors.As(err, &loop):
		return h, ss.s.errLoop(loop.Addr)
	case errors.Is(err, ErrHeaderTooLarge):
		return h, ss.s.errHeaderTooLarge()
	case errors.Is(err, ErrTooManyHops):
		return h, ss.s.errTooManyHops()
	case errors.Is(err, ErrTwoFrom):
		return h, ss.s.errTwoFrom()
	case errors.Is(err, ErrNoFrom):
		return h, ss.s.errNoFrom()
	case errors.Is(err, ErrBadFrom):
		// The parser's error may quote the client's words: logged, never
		// echoed (a reply is 512 octets at most).
		ss.log.Info("malformed From", "err", err)
		return h, ss.s.errBadFrom()
	}
	ss.log.Info("malformed header", "err", err)
	return h, ss.s.errBadHeader()
}

// missing returns the Date and Message-ID fields a message lacks (RFC 5322
// §3.6: Date is required, Message-ID expected), as a receiving MTA adds
// them: what the hub passes on must have both, or large providers refuse
// it.
func (ss *session) missing(h textproto.Header, env *Envelope) []byte {
	var b []byte
	if !h.Has("Date") {
		b = append(b, "Date: "+env.Received.Format(time.RFC1123Z)+"\r\n"...)
	}
	if !h.Has("Message-Id") {
		b = append(b, "Message-ID: <"+env.ID+"@"+ss.s.cfg.Hostname+">\r\n"...)
	}
	return b
}

// received builds the trace field (RFC 5321 §4.4).
func (ss *session) received(env *Envelope) []byte {
	with := "ESMTP"
	if env.TLS {
		with = "ESMTPS"
	}
	if env.SMTPUTF8 {
		with = "UTF8SMTP"
		if env.TLS {
			with = "UTF8SMTPS"
		}
	}
	forClause := ""
	if len(env.Rcpts) == 1 {
		forClause = fmt.Sprintf("\r\n\tfor <%s>", env.Rcpts[0].Addr)
	}
	ip := env.RemoteIP
	if p := net.ParseIP(ip); p != nil && p.To4() == nil {
		ip = "IPv6:" + ip
	}
	return []byte(fmt.Sprintf("Received: from %s ([%s])\r\n\tby %s (relais) with %s id %s%s;\r\n\t%s\r\n",
		sanitize(env.Helo), ip, ss.s.cfg.Hostname, with, env.ID, forClause, env.Received.Format(time.RFC1123Z)))
}

// sanitize keeps a client-supplied name from breaking the header.
func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x21 || r > 0x7e || r == '(' || r == ')' {
			return -1
		}
		return r
	}, s)
	if s == "" {
		return "unknown"
	}
	return s
}
