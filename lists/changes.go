package lists

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"codeberg.org/relais/relais/store"
	"codeberg.org/relais/relais/templates"
)

// A change is what a member asks of their own subscription by mail:
// leave, a mode, a pause, the end of one. It is made at once when the
// message's From is proven; otherwise it waits in a confirmation token
// until the address confirms, by a reply or a mail to LIST+confirm-TOKEN
// (the same single-use tokens as subscriptions). Someone who merely types a
// member's address in From thus changes nothing; the one-click link of
// RFC 8058, which only the member receives, stays one step.
type change struct {
	Action string // actLeave, actMode+" daily", actPause+" UNIX", actResume…
	Line   string // as the member wrote it ("" for mail to LIST+unsubscribe)
}

// Actions of changes, as stored.
const (
	actLeave  = "unsubscribe"
	actMode   = "mode"   // "mode daily", "mode weekly", "mode each"
	actPause  = "pause"  // "pause" until the member says, "pause UNIX" until then
	actResume = "resume" // also what a bouncing member does to be sent mail again
)

// encodeChanges writes changes for the action column: one a line, the
// action, a tab, the line as written (lines of a request hold no line
// break).
func encodeChanges(cs []change) string {
	var b strings.Builder
	for i, c := range cs {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(c.Action + "\t" + strings.ReplaceAll(c.Line, "\n", " "))
	}
	return b.String()
}

func decodeChanges(s string) []change {
	var out []change
	for _, line := range strings.Split(s, "\n") {
		a, l, _ := strings.Cut(line, "\t")
		if a != "" {
			out = append(out, change{Action: a, Line: l})
		}
	}
	return out
}

// changeWaiting says whether the same changes already wait for addr's
// confirmation, asked less than an hour ago: they are not asked again
// (someone sending the same forged command over and over).
func (s *Service) changeWaiting(tx *store.Tx, l List, addr string, cs []change) (bool, error) {
	var n int
	err := tx.QueryRow("token.recent-change", l.ID, addr, encodeChanges(cs), s.now().Add(-time.Hour).Unix()).Scan(&n)
	return n > 0, err
}

// askChange records changes for addr to confirm and returns the token of
// LIST+confirm-TOKEN; the caller sends the message that asks.
func (s *Service) askChange(tx *store.Tx, l List, addr, lang string, cs []change, in Inbound) (string, error) {
	now := s.now()
	tok := newToken()
	request := "message " + in.MessageID + " from " + in.MailFrom + " (" + in.RemoteIP + ") to " + in.Rcpt + ", From not proven"
	_, err := tx.Exec("token.insert-change", tok, l.ID, addr, lang, now.Unix(), now.Add(s.cfg.ConfirmTTL).Unix(), request, encodeChanges(cs))
	if err == nil {
		s.log.Info("list change waits for the member's confirmation", "list", l.Local(), "qid", in.MessageID)
	}
	return tok, err
}

// apply makes change c to member m, recording how for a departure, and
// says how it went.
func (s *Service) apply(tx *store.Tx, l List, m Member, c change, how string) (requestLine, error) {
	r := requestLine{Line: c.Line}
	verb, arg, _ := strings.Cut(c.Action, " ")
	switch verb {
	case actLeave:
		if _, err := leave(tx, m, how, s.now()); err != nil {
			return r, err
		}
		r.Outcome = outUnsubscribed
	case actMode:
		mode, out := "each", outEach
		switch arg {
		case "daily":
			mode, out = "daily", outDaily
		case "weekly":
			mode, out = "weekly", outWeekly
		}
		if mode != "each" && !slices.Contains(l.Texts.DigestModes, mode) {
			r.Outcome = outDigestOff // the list's owners offer no such digest
			return r, nil
		}
		if mode != "each" {
			// The first member in this mode starts the digests from now:
			// posts made while nobody took them are not sent later.
			others, err := recipients(tx, l.ID, mode, s.now())
			if err != nil {
				return r, err
			}
			if len(others) == 0 {
				if err := startDigest(tx, l.ID, mode, s.now(), true); err != nil {
					return r, err
				}
			}
		}
		if _, err := tx.Exec("member.set-mode", mode, m.ID); err != nil {
			return r, err
		}
		r.Outcome = out
	case actPause:
		var at int64
		r.Outcome = outPaused
		if arg != "" {
			t, err := strconv.ParseInt(arg, 10, 64)
			if err != nil {
				r.Outcome = outBadDate
				return r, nil
			}
			at = t
			r.Date = s.date(m.Lang, time.Unix(t, 0))
			r.Outcome = outPausedUntil
		}
		if _, err := tx.Exec("member.pause", at, m.ID); err != nil {
			return r, err
		}
	case actResume:
		if _, err := tx.Exec("member.resume", m.ID); err != nil {
			return r, err
		}
		r.Outcome = outResumed
	default:
		r.Outcome = outUnknown
	}
	return r, nil
}

// confirmChanges makes the changes a confirmation token held, now that
// addr confirmed them, and tells the member what was done: the goodbye
// message when they left, else the list of outcomes.
func (s *Service) confirmChanges(tx *store.Tx, l List, addr, lang string, cs []change, how, ref string) error {
	var results []requestLine
	left := false
	for _, c := range cs {
		m, err := member(tx, l.ID, addr)
		if err != nil && !errors.Is(err, ErrNotMember) {
			return err
		}
		if err != nil || m.State == "unsubscribed" {
			results = append(results, requestLine{Line: c.Line, Outcome: outNotMember})
			continue
		}
		lang = m.Lang
		r, err := s.apply(tx, l, m, c, how)
		if err != nil {
			return err
		}
		left = left || r.Outcome == outUnsubscribed
		results = append(results, r)
	}
	if left {
		return s.reply(tx, l, addr, lang, "list-goodbye", nil, ref, templates.Envelope{})
	}
	return s.reply(tx, l, addr, lang, "list-request", map[string]any{
		"Results": results, "ShowHelp": false, "Commands": "", "Confirm": "", "Expires": "", "Confirmed": true,
	}, ref, templates.Envelope{})
}
