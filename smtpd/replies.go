package smtpd

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-smtp"
)

// Every answer a session gives is built here, from the texts in
// templates/replies.tmpl.

func ec(a, b, c int) smtp.EnhancedCode { return smtp.EnhancedCode{a, b, c} }

func (s *Server) reply(code int, enh smtp.EnhancedCode, name string, data any) *smtp.SMTPError {
	if code >= 400 {
		s.cfg.Observer.Refused(name)
	}
	return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: s.texts.Reply(name, data)}
}

// RFC 5321 §4.2.2 and RFC 3463 for the codes.

func (s *Server) errUnknownUser(rcpt string) *smtp.SMTPError {
	return s.reply(550, ec(5, 1, 1), "unknown-user", echo(rcpt))
}

// errBadAddress refuses an address with its reason, which the template
// says in French and in English from re.Reason and re.Data.
func (s *Server) errBadAddress(rcpt string, re *RecipientError) *smtp.SMTPError {
	data := make(map[string]any, len(re.Data)+2)
	for k, v := range re.Data {
		if str, ok := v.(string); ok {
			v = echo(str)
		}
		data[k] = v
	}
	data["Addr"], data["Reason"] = echo(rcpt), echo(re.Reason)
	return s.reply(550, ec(5, 1, 1), "bad-address", data)
}

func (s *Server) errRelayDenied(rcpt string) *smtp.SMTPError {
	return s.reply(554, ec(5, 7, 1), "relay-denied", echo(rcpt))
}

func (s *Server) errTooLarge() *smtp.SMTPError {
	return s.reply(552, ec(5, 3, 4), "too-large", humanBytes(s.cfg.MaxMessageBytes))
}

func (s *Server) errLoop(addr string) *smtp.SMTPError {
	return s.reply(554, ec(5, 4, 6), "loop", echo(addr))
}

func (s *Server) errTooManyHops() *smtp.SMTPError {
	return s.reply(554, ec(5, 4, 6), "too-many-hops", nil)
}

func (s *Server) errBadHeader() *smtp.SMTPError {
	return s.reply(554, ec(5, 6, 0), "bad-header", nil)
}

func (s *Server) errTwoFrom() *smtp.SMTPError {
	return s.reply(554, ec(5, 6, 0), "two-from", nil)
}

// errNoFrom, errBadFrom: RFC 5322 §3.6.2, a message has one From field
// holding one mailbox.
func (s *Server) errNoFrom() *smtp.SMTPError {
	return s.reply(554, ec(5, 6, 0), "no-from", nil)
}

func (s *Server) errBadFrom() *smtp.SMTPError {
	return s.reply(554, ec(5, 6, 0), "bad-from", nil)
}

// errHeaderTooLarge: RFC 3463 X.3.4, too big for the system.
func (s *Server) errHeaderTooLarge() *smtp.SMTPError {
	return s.reply(552, ec(5, 3, 4), "header-too-large", humanBytes(s.cfg.MaxHeaderBytes))
}

func (s *Server) errLineTooLong() *smtp.SMTPError {
	return s.reply(500, ec(5, 5, 6), "line-too-long", nil)
}

// errRefused answers a Checker's refusal. Mail not proven where proof is
// needed gets the code large providers use (X.7.26, "multiple
// authentication checks failed", IANA registry); a display name that
// borrows the hub's address, X.7.1 (delivery not authorized).
func (s *Server) errRefused(r *Refusal) *smtp.SMTPError {
	switch r.Why {
	case HubFrom:
		return s.reply(550, ec(5, 7, 26), "hub-from", echo(r.Detail))
	case HubName:
		return s.reply(550, ec(5, 7, 1), "hub-name", echo(r.Detail))
	case HubSender:
		return s.reply(550, ec(5, 7, 1), "hub-sender", echo(r.Detail))
	}
	return s.reply(550, ec(5, 7, 26), "auth-refused", echo(r.Detail))
}

// errRate defers a client or sender over its hourly message rate (RFC
// 5321 §4.2.5: 450, the client retries later).
func (s *Server) errRate() *smtp.SMTPError {
	return s.reply(450, ec(4, 7, 1), "message-rate", nil)
}

// errTooManyRefused ends a session that has had too many recipients
// refused (RFC 5321 §3.8: 421, and the server closes).
func (s *Server) errTooManyRefused() *smtp.SMTPError {
	return s.reply(421, ec(4, 7, 0), "too-many-refused", nil)
}

func (s *Server) errNoRecipients() *smtp.SMTPError {
	return s.reply(554, ec(5, 5, 1), "no-recipients", nil)
}

// errTemp is the answer to any internal failure: the sender keeps the
// message and retries; the detail goes to the log, not to the client.
func (s *Server) errTemp() *smtp.SMTPError {
	return s.reply(451, ec(4, 3, 0), "temp-failure", nil)
}

// errTimeout: the client took longer than the limits allow (RFC 5321
// §4.5.3.2); it may come back and send faster.
func (s *Server) errTimeout() *smtp.SMTPError {
	return s.reply(421, ec(4, 4, 2), "timeout", nil)
}

func (s *Server) errShuttingDown() *smtp.SMTPError {
	return s.reply(421, ec(4, 3, 2), "shutting-down", nil)
}

// maxEcho bounds what a reply quotes of the client's words: a reply line is
// 512 octets at most (RFC 5321 §4.5.3.1.5), and the loop reply quotes the
// address twice.
const maxEcho = 100

// echo makes client-supplied text fit to quote in a reply: control
// characters and invalid UTF-8 become '?', and it is cut to maxEcho octets.
func echo(s string) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
	if len(s) <= maxEcho {
		return s
	}
	cut := maxEcho
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d kB", n>>10)
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
