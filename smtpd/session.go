package smtpd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-smtp"
)

// maxHops is the number of Received fields beyond which a message is taken
// to be looping (RFC 5321 §6.3 suggests at least 100 for a relay; a hub that
// receives mail straight from senders sees a handful, 50 is generous).
const maxHops = 50

type session struct {
	s      *Server
	log    *slog.Logger
	remote string
	helo   string
	tls    bool
	conn   *countedConn // nil if not ours (tests)

	from  string
	opts  smtp.MailOptions
	rcpts []Rcpt
	seen  map[string]bool
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	cid := s.cid.Add(1)
	remote := remoteIP(c.Conn().RemoteAddr())
	_, isTLS := c.TLSConnectionState()
	return &session{
		s:      s,
		log:    s.log.With("cid", cid, "remote", remote),
		remote: remote,
		helo:   c.Hostname(),
		tls:    isTLS,
		conn:   counted(c.Conn()),
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
		if !s.ipRate.allow(ss.remote, now) {
			ss.log.Warn("message refused", "from", from, "reason", "message rate per client address")
			return s.errRate()
		}
		// A sender counts with the messages accepted in its name, not its
		// MAIL FROM commands: anyone can type someone's address, and that
		// must not lock its owner out.
		if from != "" && s.senderRate.over(strings.ToLower(from), now) {
			ss.log.Warn("message refused", "from", from, "reason", "message rate per sender")
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
	ctx, cancel := context.WithTimeout(ss.s.ctx, 30*time.Second)
	defer cancel()
	route, err := ss.s.router.Route(ctx, to)
	var re *RecipientError
	switch {
	case err == nil:
	case errors.As(err, &re):
		ss.log.Info("recipient refused", "rcpt", to, "reason", re.Reason)
		return ss.s.errBadAddress(to, re)
	case errors.Is(err, ErrUnknownRecipient):
		ss.log.Info("recipient refused", "rcpt", to, "reason", "unknown")
		return ss.s.errUnknownUser(to)
	case errors.Is(err, ErrRelayDenied):
		ss.log.Warn("relay denied", "from", ss.from, "rcpt", to)
		return ss.s.errRelayDenied(to)
	default:
		ss.log.Error("routing failed", "rcpt", to, "err", err)
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

func (ss *session) Data(r io.Reader) error {
	s := ss.s
	if len(ss.rcpts) == 0 {
		return s.errNoRecipients()
	}
	body, err := io.ReadAll(r)
	if err != nil {
		switch {
		case errors.Is(err, smtp.ErrDataTooLarge):
			ss.log.Info("message refused", "from", ss.from, "reason", "too large")
			return s.errTooLarge()
		case errors.Is(err, smtp.ErrTooLongLine):
			return s.errLineTooLong()
		}
		ss.log.Warn("data transfer failed", "err", err)
		return s.errTemp()
	}
	if ss.conn != nil && ss.conn.eof.Load() {
		// The client went away during the message. go-smtp v0.25.1 ends a
		// BDAT chunk cut short by the end of the connection as if it were
		// whole: what was read may be a truncated message, not stored.
		ss.log.Warn("client gone before the end of the message, not stored", "from", ss.from)
		return s.errTemp()
	}
	h, serr := ss.check(body)
	if serr != nil {
		ss.log.Info("message refused", "from", ss.from, "reason", serr.Message)
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
	if s.cfg.Checker != nil {
		var refusal string
		body, refusal = s.cfg.Checker.Check(ctx, env, body)
		if refusal != "" {
			ss.log.Info("message refused", "from", ss.from, "reason", refusal)
			return s.errAuth(refusal)
		}
	}
	msg := append(ss.received(env), ss.missing(h, env)...)
	msg = append(msg, body...)
	if err := s.spool.Accept(ctx, env, msg); err != nil {
		if s.ctx.Err() != nil {
			return s.errShuttingDown()
		}
		ss.log.Error("message not stored", "from", ss.from, "err", err)
		return s.errTemp()
	}
	if env.From != "" && !s.exempt(ss.remote) {
		s.senderRate.add(strings.ToLower(env.From), s.cfg.Now())
	}
	rcpts := make([]string, len(env.Rcpts))
	for i, r := range env.Rcpts {
		rcpts[i] = r.Addr
	}
	ss.log.Info("accepted", "qid", env.ID, "from", env.From, "rcpts", strings.Join(rcpts, ","), "size", len(msg))
	ss.Reset()
	return nil
}

// check refuses, while the sender is still there to hear it, what the hub
// would otherwise have to bounce: an unreadable header and mail loops.
func (ss *session) check(body []byte) (textproto.Header, *smtp.SMTPError) {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(body)))
	if err != nil {
		// The parser's error quotes the client's line: log it, never echo
		// it (it may be long or 8-bit, and a reply is 512 octets at most).
		ss.log.Info("malformed header", "err", err)
		return h, ss.s.errBadHeader()
	}
	if len(h.Values("Received")) >= maxHops {
		return h, ss.s.errTooManyHops()
	}
	if len(h.Values("From")) > 1 {
		// RFC 5322 §3.6: one From field. Two let a forger show one and
		// have DMARC judge none (RFC 7489 §6.6.1 allows refusing).
		return h, ss.s.errTwoFrom()
	}
	// Delivered-To is the trace field forwarders add (as Postfix does):
	// seeing one of our recipients there means the message came back.
	for _, d := range h.Values("Delivered-To") {
		d = strings.TrimSpace(d)
		for _, r := range ss.rcpts {
			if strings.EqualFold(d, r.Addr) {
				return h, ss.s.errLoop(r.Addr)
			}
		}
	}
	return h, nil
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
