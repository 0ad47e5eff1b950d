package lists

import (
	"strings"

	"codeberg.org/relais/relais/queue"
	"codeberg.org/relais/relais/store"
	"codeberg.org/relais/relais/templates"
)

// data is what every list template may use, plus its own fields.
func (s *Service) data(l List, extra map[string]any) map[string]any {
	d := map[string]any{
		"List":        s.Address(l, ""),
		"Name":        l.DisplayName,
		"Local":       l.Local(),
		"Policy":      l.Policy,
		"Subscribe":   s.Address(l, "subscribe"),
		"Unsubscribe": s.unsubscribeAddress(l),
		"Help":        s.Address(l, "help"),
		"Request":     s.Address(l, "request"),
		"Owner":       s.Address(l, "owner"),
	}
	for k, v := range extra {
		d[k] = v
	}
	return d
}

// notice composes template name for one person and queues it inside tx.
// Replies to commands come from LIST+request, so that writing to it is
// another command; references is the Message-ID answered, if any.
func (s *Service) notice(tx *store.Tx, l List, to, lang, name string, extra map[string]any, references string, env templates.Envelope) error {
	if lang == "" {
		lang = l.Lang
	}
	if env.From == "" {
		env.From = quoteName(l.DisplayName) + " <" + s.FromAddress(l, "request") + ">"
	}
	if env.AutoSubmitted == "" {
		env.AutoSubmitted = "auto-replied" // RFC 3834 §5
	}
	env.To = to
	env.Hostname = s.cfg.Hostname
	env.References = references
	env.Date = s.now()
	hs := s.listHeaders(l)
	// List-Post and Precedence: list are for posts; a notice is personal.
	for _, f := range hs {
		if f[0] == "List-Id" || f[0] == "List-Help" || f[0] == LoopHeader {
			env.Header = append(env.Header, f)
		}
	}
	msg, err := s.texts.Compose(lang, name, s.data(l, extra), env)
	if err != nil {
		return err
	}
	id := store.NewID()
	utf8, eight := queue.Needs(msg)
	if _, err := tx.Exec("message.insert", id, s.now().Unix(), "", "", "", utf8, eight, len(msg), msg); err != nil {
		return err
	}
	_, err = s.q.Enqueue(tx, queue.Message{MessageID: id, To: []string{to}, Kind: KindNotice})
	return err
}

// notify is notice with the usual envelope.
func (s *Service) notify(tx *store.Tx, l List, to, lang, name string, extra map[string]any, references string) error {
	return s.notice(tx, l, to, lang, name, extra, references, templates.Envelope{})
}

func quoteName(n string) string {
	return `"` + strings.NewReplacer(`"`, `'`, `\`, ``, "\r", "", "\n", "").Replace(n) + `"`
}
