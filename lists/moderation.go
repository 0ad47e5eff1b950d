package lists

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/emersion/go-message/textproto"

	"codeberg.org/relais/relais/audit"
	"codeberg.org/relais/relais/store"
	"codeberg.org/relais/relais/templates"
)

// Moderation by reply. The notice of a held post has Reply-To
// LIST+approve-TOKEN: a moderator presses Reply and writes, on the first
// line, a word that approves (ok, oui, approuver, approve) or one that
// rejects (non, refuser, reject) followed by the reason the poster is
// told. Mail to LIST+reject-TOKEN rejects with its first lines. Anything
// else gets the help, and decides nothing. Only a proven From that is one
// of the list's moderators decides: a token alone, or a moderator's
// address typed in From, does nothing.

var (
	approveWords = map[string]bool{"ok": true, "oui": true, "approuver": true, "approve": true}
	rejectWords  = map[string]bool{"non": true, "refuser": true, "reject": true}
	// attribution is the line a mail client writes above a quote.
	attribution = regexp.MustCompile(`(?i)(a écrit|wrote)\s*:\s*$`)
	// originalBlock starts what Outlook quotes below a reply.
	originalBlock = regexp.MustCompile(`(?i)^(-+ ?(original message|message d'origine) ?-+|(de|from) ?:\s)`)
)

// ModerationReply reads a moderator's answer: "approve", "reject" with its
// reason, or "" when it is neither. body is the answer's text, subject its
// Subject (read when the text says nothing).
func ModerationReply(body, subject string) (verdict, why string) {
	var lines []string
	for _, line := range strings.Split(body, "\n") {
		line = strings.TrimRight(line, "\r \t")
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, ">") || t == "--" || line == "-- " || originalBlock.MatchString(t) {
			break
		}
		if attribution.MatchString(t) {
			break
		}
		if t == "" {
			if len(lines) > 0 {
				break
			}
			continue
		}
		lines = append(lines, t)
		if len(lines) == 5 {
			break
		}
	}
	if len(lines) == 0 {
		if s := strings.TrimSpace(replyRE.ReplaceAllString(subject, "")); s != "" {
			lines = []string{s}
		}
	}
	if len(lines) == 0 {
		return "", ""
	}
	first := lines[0]
	word, rest := first, ""
	if i := strings.IndexFunc(first, func(r rune) bool { return r == ' ' || r == ',' || r == ':' || r == '.' || r == '!' || r == ';' }); i >= 0 {
		word, rest = first[:i], strings.TrimLeft(first[i:], " ,:.!;-")
	}
	word = strings.ToLower(word)
	switch {
	case approveWords[word]:
		return "approve", ""
	case rejectWords[word]:
		reason := append([]string{rest}, lines[1:]...)
		return "reject", strings.TrimSpace(strings.Join(reason, "\n"))
	}
	return "", ""
}

// moderateByMail handles mail to LIST+approve-TOKEN or +reject-TOKEN.
func (s *Service) moderateByMail(ctx context.Context, tx *store.Tx, l List, kind, token string, heldID int64, spent bool, in Inbound, h textproto.Header) error {
	by, _ := sender(h, in.MailFrom)
	if by == nil || !s.isModerator(l, by.Address) || !s.proven(in.Body) {
		// A token is not enough: its notice may have been forwarded, and
		// anyone can write a moderator's address in From.
		s.log.Info("moderation by mail from someone not proven a moderator: nothing decided", "list", l.Local(),
			"held", heldID, "qid", in.MessageID)
		return nil
	}
	ref := strings.TrimSpace(h.Get("Message-Id"))
	verdict, why := "reject", firstLines(in.Body, 5)
	if kind == "approve" {
		verdict, why = ModerationReply(plainText(in.Body), decode(h.Get("Subject")))
	}
	if verdict == "" {
		return s.moderationHelp(tx, l, by.Address, token, ref)
	}
	now := s.now()
	if spent {
		var state string
		if err := tx.QueryRow("held.get", heldID).Scan(new(int64), new(int64), new(string), new(string), new(string), new(int64), new(int64), &state); err != nil {
			return err
		}
		if state == "held" {
			// Expired before ExpireHeld came by: the post is not sent.
			if _, err := tx.Exec("held.decide", "expired", now.Unix(), "", heldID); err != nil {
				return err
			}
			state = "expired"
		}
		return s.toldDecided(tx, l, by.Address, heldID, state, ref)
	}
	state, err := s.decideHeld(ctx, tx, l, heldID, verdict == "approve", by.Address, why, true)
	if err != nil {
		return err
	}
	if state != "" {
		return s.toldDecided(tx, l, by.Address, heldID, state, ref)
	}
	return audit.Record(tx, audit.Actor{Who: by.Address, Via: audit.ViaMail, From: "message " + in.MessageID}, now,
		"held."+verdict, l.Local(), fmt.Sprintf("post %d %s", heldID, oneLine(why)))
}

func (s *Service) isModerator(l List, addr string) bool {
	for _, m := range s.moderators(l) {
		if strings.EqualFold(m, addr) {
			return true
		}
	}
	return false
}

// toldDecided tells a moderator their answer came after a decision.
func (s *Service) toldDecided(tx *store.Tx, l List, to string, heldID int64, state, ref string) error {
	var poster string
	if err := tx.QueryRow("held.get", heldID).Scan(new(int64), new(int64), new(string), &poster, new(string), new(int64), new(int64), new(string)); err != nil {
		return err
	}
	return s.notify(tx, l, to, l.Lang, "list-decided", map[string]any{"State": state, "Poster": poster}, ref)
}

// moderationHelp answers a moderator's reply that said neither yes nor
// no: how to answer, with the same address to reply to.
func (s *Service) moderationHelp(tx *store.Tx, l List, to, token, ref string) error {
	approve := s.Address(l, "approve-"+token)
	return s.notice(tx, l, to, l.Lang, "list-moderation-help", map[string]any{"Approve": approve}, ref, templates.Envelope{
		From:   quoteName(l.DisplayName) + " <" + s.FromAddress(l, "owner") + ">",
		Header: [][2]string{{"Reply-To", approve}},
	})
}
