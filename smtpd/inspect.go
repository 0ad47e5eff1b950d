package smtpd

import (
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-message/textproto"

	"codeberg.org/relais/relais/internal/mailbox"
	"codeberg.org/relais/relais/internal/rawheader"
)

// What Inspect finds wrong with a message; each is permanent.
var (
	ErrHeaderTooLarge = errors.New("smtpd: header too large")
	ErrBadHeader      = errors.New("smtpd: malformed header")
	ErrTooManyHops    = errors.New("smtpd: too many Received fields")
	ErrTwoFrom        = errors.New("smtpd: several From fields")
	ErrNoFrom         = errors.New("smtpd: no From field")
	ErrBadFrom        = errors.New("smtpd: From is not one well-formed mailbox")
)

// LoopError: the message already went through one of its recipients.
type LoopError struct{ Addr string }

func (e *LoopError) Error() string { return "smtpd: mail loop through " + e.Addr }

// maxHops is the number of Received fields beyond which a message is taken
// to be looping (RFC 5321 §6.3 suggests at least 100 for a relay; a hub that
// receives mail straight from senders sees a handful, 50 is generous).
const maxHops = 50

// Inspect reads the header of a message for rcpts as the server does
// before storing it, and says what would make the hub bounce it later: a
// header over maxHeader bytes (0: no limit), one that does not parse, a
// loop (too many Received fields, or one of rcpts in Delivered-To), and a
// From that is not exactly one well-formed mailbox (utf8: the message came
// with SMTPUTF8). Its work is linear in the size of body.
func Inspect(body []byte, maxHeader int64, utf8 bool, rcpts []string) (textproto.Header, error) {
	if maxHeader > 0 && int64(rawheader.End(body)) > maxHeader {
		// Every later step reads the header, some of them more than once:
		// its size bounds their work (Postfix's header_size_limit).
		return textproto.Header{}, ErrHeaderTooLarge
	}
	h, err := textproto.ReadHeader(rawheader.Reader(body))
	if err != nil {
		return h, fmt.Errorf("%w: %w", ErrBadHeader, err)
	}
	if len(h.Values("Received")) >= maxHops {
		return h, ErrTooManyHops
	}
	switch froms := h.Values("From"); {
	case len(froms) > 1:
		// RFC 5322 §3.6: one From field. Two let a forger show one and
		// have DMARC judge none (RFC 7489 §6.6.1 allows refusing).
		return h, ErrTwoFrom
	case len(froms) == 0:
		return h, ErrNoFrom
	default:
		// Exactly one mailbox, that every reader reads alike: what a lax
		// reader takes for the hub's own address must not reach it
		// signed by the hub.
		if _, err := mailbox.Parse(froms[0], utf8); err != nil {
			return h, fmt.Errorf("%w: %w", ErrBadFrom, err)
		}
	}
	// Delivered-To is the trace field forwarders add (as Postfix does):
	// seeing one of our recipients there means the message came back.
	if len(rcpts) > 0 {
		for _, d := range h.Values("Delivered-To") {
			d = strings.TrimSpace(d)
			for _, r := range rcpts {
				if strings.EqualFold(d, r) {
					return h, &LoopError{Addr: r}
				}
			}
		}
	}
	return h, nil
}
