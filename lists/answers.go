package lists

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"strings"
	"time"

	"github.com/emersion/go-message/textproto"

	"codeberg.org/relais/relais/mailauth"
	"codeberg.org/relais/relais/store"
	"codeberg.org/relais/relais/templates"
)

// What keeps the list command addresses from talking for ever with a
// program that marks nothing (no Auto-Submitted, no Precedence, a plain
// From): three things, each enough alone for the robots seen so far.
//
//   - Everything the lists write carries Auto-Submitted (RFC 3834 §5) and
//     X-Loop naming the list; mail that comes back with an X-Loop naming
//     one of the hub's addresses runs no command and is not answered.
//   - Every answer to a command (what Command and a confirmation send
//     back) has a Message-ID of the lists' making, a random part and an
//     HMAC of it under the lists' secret: a message whose In-Reply-To or
//     References names one is a reply to an answer (a vacation program
//     answering it), and runs no command. The MAC means nobody can make
//     such an ID without having received one, so no one can silence
//     someone else's commands; nothing is stored. Other notices (welcome,
//     bounces, moderation) keep plain IDs: a member who replies to one
//     with "reprendre" is heard, and a robot doing so gets one answer.
//   - At most Config.AnswersPerHour answers to commands go to one address
//     in an hour, across all lists (a robot that writes fresh messages).

// answerIDLen is the length of each half of an answer's Message-ID local
// part: 80 bits of randomness, 80 bits of MAC, in base32.
const answerIDLen = 16

// answerID returns a fresh Message-ID for an answer to a command:
// "<RANDOM.MAC@hostname>".
func (s *Service) answerID() string {
	var b [10]byte
	rand.Read(b[:])
	nonce := b32.EncodeToString(b[:])
	return "<" + nonce + "." + s.answerMAC(nonce) + "@" + s.cfg.Hostname + ">"
}

func (s *Service) answerMAC(nonce string) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte("answer-id:" + nonce))
	return b32.EncodeToString(m.Sum(nil)[:10])
}

// maxReferences bounds the Message-IDs of a thread that are looked at: a
// reply to an answer names it last (RFC 5322 §3.6.4), or nearly.
const maxReferences = 50

// repliesToUs says whether h's In-Reply-To or References names the
// Message-ID of an answer to a command, whatever its host part.
func (s *Service) repliesToUs(h textproto.Header) bool {
	ids := append(lastIDs(h.Get("In-Reply-To"), maxReferences), lastIDs(h.Get("References"), maxReferences)...)
	for _, id := range ids {
		local, _, ok := strings.Cut(strings.ToLower(id), "@")
		nonce, mac, ok2 := strings.Cut(local, ".")
		if !ok || !ok2 || len(nonce) != answerIDLen || len(mac) != answerIDLen {
			continue
		}
		if hmac.Equal([]byte(mac), []byte(s.answerMAC(nonce))) {
			return true
		}
	}
	return false
}

// lastIDs returns the last n "<...>" parts of a field, without the
// brackets, last first.
func lastIDs(v string, n int) []string {
	var out []string
	for len(out) < n {
		j := strings.LastIndexByte(v, '>')
		if j < 0 {
			break
		}
		i := strings.LastIndexByte(v[:j], '<')
		if i < 0 {
			break
		}
		out = append(out, v[i+1:j])
		v = v[:i]
	}
	return out
}

// looped says whether h carries an X-Loop naming an address on one of the
// hub's domains: it went out from here and came back.
func (s *Service) looped(h textproto.Header) bool {
	domains := s.cfg.Domains
	if len(domains) == 0 {
		domains = []string{s.cfg.Domain}
	}
	for _, v := range h.Values(LoopHeader) {
		v = strings.Trim(strings.TrimSpace(v), "<>")
		at := strings.LastIndexByte(v, '@')
		if at < 0 {
			continue
		}
		for _, d := range domains {
			if strings.EqualFold(v[at+1:], d) {
				return true
			}
		}
	}
	return false
}

// mayAnswer says whether one more answer to a command may go to addr this
// hour, and counts it when it may.
func (s *Service) mayAnswer(tx *store.Tx, addr string) (bool, error) {
	if s.cfg.AnswersPerHour <= 0 {
		return true, nil
	}
	addr = strings.ToLower(addr)
	now := s.now()
	var n int
	if err := tx.QueryRow("answer.count", addr, now.Add(-time.Hour).Unix()).Scan(&n); err != nil {
		return false, err
	}
	if n >= s.cfg.AnswersPerHour {
		s.log.Warn("list answers over the hourly cap for an address, not answered", "email", addr, "limit", s.cfg.AnswersPerHour)
		return false, nil
	}
	_, err := tx.Exec("answer.record", addr, now.Unix())
	return err == nil, err
}

// answer is notify for what a command sends back: within the hourly cap
// per address, else nothing; with an answer's Message-ID.
func (s *Service) answer(tx *store.Tx, l List, to, lang, name string, extra map[string]any, references string) error {
	ok, err := s.mayAnswer(tx, to)
	if err != nil || !ok {
		return err
	}
	return s.reply(tx, l, to, lang, name, extra, references, templates.Envelope{})
}

// reply is notice with an answer's Message-ID, for what a command or a
// confirmation sends back (not counted: callers that answer a stranger's
// message count it first with mayAnswer).
func (s *Service) reply(tx *store.Tx, l List, to, lang, name string, extra map[string]any, references string, env templates.Envelope) error {
	env.MessageID = s.answerID()
	return s.notice(tx, l, to, lang, name, extra, references, env)
}

// proven says whether the verdict the hub recorded on a message proves
// its From (mailauth.Result.Proven: DMARC pass, or SPF or DKIM aligned
// when the domain publishes no DMARC). Only then do changes asked by mail
// act at once, and only then does the hub echo a poster's words back.
func (s *Service) proven(raw []byte) bool {
	if s.cfg.AuthservID == "" {
		return true // the hub judges nothing (a bare test set-up)
	}
	res, ok := mailauth.Read(raw, s.cfg.AuthservID)
	return ok && res.Proven()
}
