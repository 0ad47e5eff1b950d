package lists

import (
	"encoding/json"
	"errors"
	"regexp"
	"time"

	"codeberg.org/relais/relais/queue"
	"codeberg.org/relais/relais/store"
)

// Bounced is the queue's BounceHandler for copies of posts and digests: a
// failure report, or a bounce too odd to parse, sent to the copy's VERP
// address counts against the member; "delayed" reports, vacation replies
// and the like do not.
func (s *Service) Bounced(tx *store.Tx, d queue.Delivery, b queue.Bounce) error {
	if d.Kind != KindPost && d.Kind != KindDigest {
		return nil
	}
	if b.Action != "failed" && b.Action != "unknown" {
		return nil
	}
	return s.score(tx, d.Ref, d.Rcpt)
}

// DeliveryFailed is told of copies the relay refused for good (5xx): they
// count as bounces too. Failures recorded from a bounce were counted by
// Bounced; a queue that gave up after 4xx replies says nothing about the
// address.
func (s *Service) DeliveryFailed(tx *store.Tx, f queue.Failure) error {
	if f.Kind != KindPost && f.Kind != KindDigest {
		return nil
	}
	if !mailboxRefusal(f.Reply) {
		return nil
	}
	return s.score(tx, f.Ref, f.Rcpt)
}

// score adds a bounce to a member's score, as Mailman does: at most one a
// day, forgotten after BounceStale without bounces; one short of the
// threshold the member is warned, at the threshold they are set to
// "bouncing" and sent nothing more until they ask to resume.
func (s *Service) score(tx *store.Tx, refJSON, rcpt string) error {
	var r ref
	if err := json.Unmarshal([]byte(refJSON), &r); err != nil {
		return nil
	}
	l, err := get(tx, r.List)
	if err != nil {
		return err
	}
	m, err := member(tx, l.ID, rcpt)
	if errors.Is(err, ErrNotMember) {
		return nil
	} else if err != nil {
		return err
	}
	if m.State != "active" {
		return nil
	}
	now := s.now()
	score := m.Bounce
	if !m.BounceAt.IsZero() {
		since := now.Sub(m.BounceAt)
		if since > s.cfg.BounceStale {
			score = 0
		} else if since < 24*time.Hour && score > 0 {
			return nil // this day's bounce is already counted
		}
	}
	score++
	state := "active"
	if score >= s.cfg.BounceThreshold {
		state = "bouncing"
	}
	if _, err := tx.Exec("member.bounce", score, now.Unix(), state, m.ID); err != nil {
		return err
	}
	s.log.Info("list bounce", "list", l.Local(), "rcpt", rcpt, "score", score, "state", state)
	data := map[string]any{"Email": m.Email, "Score": score, "Threshold": s.cfg.BounceThreshold}
	switch {
	case state == "bouncing":
		return s.notify(tx, l, m.Email, m.Lang, "list-disabled", data, "")
	case score == s.cfg.BounceThreshold-1:
		return s.notify(tx, l, m.Email, m.Lang, "list-bounce-warning", data, "")
	}
	return nil
}

var enhancedRE = regexp.MustCompile(`^5[0-9][0-9][ -]5\.([0-9]{1,3})\.[0-9]{1,3}\b`)

// mailboxRefusal says whether a relay's reply refuses the address itself
// (RFC 3463 5.1.x address, 5.2.x mailbox): a refusal of the whole post
// (size, content, the relay's own trouble: 5.3, 5.6, 5.7) says nothing
// about any member.
func mailboxRefusal(reply string) bool {
	m := enhancedRE.FindStringSubmatch(reply)
	return m != nil && (m[1] == "1" || m[1] == "2")
}
