package lists

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-message/textproto"

	"codeberg.org/relais/relais/internal/automail"
	"codeberg.org/relais/relais/internal/mimetext"
	"codeberg.org/relais/relais/queue"
	"codeberg.org/relais/relais/store"
	"codeberg.org/relais/relais/templates"
)

// Command handles mail to LIST+subscribe, +unsubscribe, +help, +request and
// +owner (cmd is what Detail returned). Mail sent by programs is recorded
// and left unanswered: a vacation reply must not subscribe anyone, nor
// start a conversation between two robots. Nor is a message that carries a
// list's X-Loop or replies to an answer of the lists (see answers.go);
// answers are capped per address and hour.
//
// Subscribing always takes a confirmation from the address. Leaving,
// pausing, resuming and changing the mode act at once only when the From
// is proven; otherwise the member is asked, at their address, to confirm,
// and nothing changes before.
func (s *Service) Command(ctx context.Context, tx *store.Tx, listID int64, cmd string, in Inbound) error {
	l, err := get(tx, listID)
	if err != nil {
		return err
	}
	if cmd == "owner" {
		return s.toOwners(tx, l, in)
	}
	h, err := header(in.Body)
	if err != nil {
		return nil // nothing to answer to
	}
	from, _ := sender(h, in.MailFrom)
	if from == nil || automatic(h, in.MailFrom) {
		return nil
	}
	if s.forged(in) {
		// SPF failed and DMARC did not pass: the From is probably someone
		// else's, who must not receive a confirmation or an answer.
		s.log.Info("command from a forged sender ignored", "list", l.Local(), "from", from.Address, "qid", in.MessageID)
		return nil
	}
	if s.looped(h) {
		// Mail from here come back (a forwarder, or a robot copying the
		// header): answering would go round again.
		s.log.Info("command carrying our X-Loop ignored", "list", l.Local(), "qid", in.MessageID)
		return nil
	}
	if s.repliesToUs(h) {
		// A reply to an answer: what a vacation program that marks
		// nothing sends. Commands come in new messages.
		s.log.Info("reply to an answer of the lists not run as a command", "list", l.Local(), "qid", in.MessageID)
		return nil
	}
	ref := strings.TrimSpace(h.Get("Message-Id"))
	// The words the person chose (+subscribe or +inscription, the
	// subject) say their language when nothing else does.
	wrote := in.Rcpt
	if i := strings.IndexByte(wrote, '+'); i >= 0 {
		wrote = wrote[i+1:]
	}
	if i := strings.IndexByte(wrote, '@'); i >= 0 {
		wrote = wrote[:i]
	}
	lang := langOf(h, wrote+" "+decode(h.Get("Subject")), l.Lang)
	if m, err := member(tx, l.ID, from.Address); err == nil {
		lang = m.Lang
	}
	proven := s.proven(in.Body)
	switch cmd {
	case "subscribe":
		_, err := s.askConfirm(tx, l, from.Address, langOf(h, wrote+" "+decode(h.Get("Subject")), l.Lang), in, ref)
		return err
	case "unsubscribe":
		if !proven {
			return s.askLeave(tx, l, from.Address, in, ref)
		}
		_, err := s.unsubscribe(tx, l, from.Address, "mail to "+s.Address(l, "unsubscribe")+" (message "+in.MessageID+")", ref)
		return err
	case "help":
		cmds, err := s.commands(l, lang)
		if err != nil {
			return err
		}
		return s.answer(tx, l, from.Address, lang, "list-help", map[string]any{"Commands": cmds}, ref)
	case "request":
		return s.request(tx, l, from.Address, lang, h, in, ref, proven)
	}
	return fmt.Errorf("lists: unknown command %q", cmd)
}

// commands is the list of commands and addresses, in lang, that the help
// and the answers to unknown commands show.
func (s *Service) commands(l List, lang string) (string, error) {
	return s.texts.Text(lang, "list-commands", s.data(l, nil))
}

// toOwners forwards mail for LIST+owner to the list's owners as is.
func (s *Service) toOwners(tx *store.Tx, l List, in Inbound) error {
	var to []string
	for _, o := range l.Owners {
		if o.Role == "owner" {
			to = append(to, o.Email)
		}
	}
	if len(to) == 0 {
		to = s.moderators(l)
	}
	if len(to) == 0 {
		return fmt.Errorf("%w: %s has no owner", ErrNotFound, l.Local())
	}
	return s.forward(tx, in, to)
}

// askConfirm starts a subscription: a confirmation goes to addr, from
// LIST+confirm-TOKEN, which a reply (any body) or a mail to that address
// confirms. It reports what it did: "sent", "already" (a member), or
// "pending" (one was sent in the last hour, or the caps say no more).
func (s *Service) askConfirm(tx *store.Tx, l List, addr, lang string, in Inbound, ref string) (string, error) {
	if m, err := member(tx, l.ID, addr); err == nil && m.State != "unsubscribed" {
		return "already", s.answer(tx, l, addr, m.Lang, "list-already", nil, ref)
	}
	now := s.now()
	var n int
	if err := tx.QueryRow("token.recent-confirm", l.ID, addr, now.Add(-time.Hour).Unix()).Scan(&n); err != nil {
		return "", err
	}
	if n > 0 {
		return "pending", nil // one confirmation an hour is enough
	}
	if over, err := s.subscribeFlood(tx, addr, in.RemoteIP); err != nil || over {
		return "pending", err
	}
	if ok, err := s.mayAnswer(tx, addr); err != nil || !ok {
		return "pending", err
	}
	tok := newToken()
	request := fmt.Sprintf("message %s from %s (%s) to %s", in.MessageID, in.MailFrom, in.RemoteIP, in.Rcpt)
	if _, err := tx.Exec("token.insert", tok, "confirm", l.ID, addr, lang, 0, now.Unix(), now.Add(s.cfg.ConfirmTTL).Unix(), request); err != nil {
		return "", err
	}
	confirm := s.Address(l, "confirm-"+tok)
	// From +request, not the confirm address: a random token in From looks
	// like spam to filters (FROM_LOCAL_NOVOWEL); replies go to Reply-To.
	env := templates.Envelope{From: quoteName(l.DisplayName) + " <" + s.FromAddress(l, "request") + ">", Header: [][2]string{{"Reply-To", confirm}}}
	return "sent", s.reply(tx, l, addr, lang, "list-confirm", map[string]any{
		"Confirm": confirm, "Token": tok, "Email": addr, "Expires": s.date(lang, now.Add(s.cfg.ConfirmTTL)),
	}, ref, env)
}

// subscribeFlood records a subscription request and says whether it goes
// beyond the hourly caps, per address (across all lists: someone
// subscribed to every list at once by a stranger) and per client address
// (a bot). Over a cap, no confirmation is sent, and nothing is answered.
func (s *Service) subscribeFlood(tx *store.Tx, addr, ip string) (bool, error) {
	now := s.now()
	since := now.Add(-time.Hour).Unix()
	var byAddr, byIP int
	if err := tx.QueryRow("subscribe.count-email", addr, since).Scan(&byAddr); err != nil {
		return false, err
	}
	if err := tx.QueryRow("subscribe.count-ip", ip, since).Scan(&byIP); err != nil {
		return false, err
	}
	if _, err := tx.Exec("subscribe.record", now.Unix(), addr, ip); err != nil {
		return false, err
	}
	switch {
	case s.cfg.SubscribePerAddress > 0 && byAddr >= s.cfg.SubscribePerAddress:
		s.log.Warn("subscription requests over the hourly cap for an address", "email", addr, "count", byAddr+1)
		return true, nil
	case s.cfg.SubscribePerIP > 0 && byIP >= s.cfg.SubscribePerIP && (s.cfg.IPExempt == nil || !s.cfg.IPExempt(ip)):
		s.log.Warn("subscription requests over the hourly cap for a client address", "remote", ip, "count", byIP+1)
		return true, nil
	}
	return false, nil
}

// Token handles mail to LIST+confirm-TOKEN, +approve-TOKEN, +reject-TOKEN.
// A confirmation token confirms a subscription, or the changes a member
// asked for from a From that was not proven (askChange).
func (s *Service) Token(ctx context.Context, tx *store.Tx, listID int64, kind, token string, in Inbound) error {
	l, err := get(tx, listID)
	if err != nil {
		return err
	}
	h, err := header(in.Body)
	if err != nil {
		return nil
	}
	if automatic(h, in.MailFrom) {
		return nil // an autoresponder answering a confirmation confirms nothing
	}
	if kind == "confirm" && automail.Vacation(decode(h.Get("Subject"))) {
		return nil // nor does an out-of-office reply that marks nothing else
	}
	from, _ := sender(h, in.MailFrom)
	var tk struct {
		kind, email, lang, request string
		list, held                 int64
		created, expires, used     int64
	}
	err = tx.QueryRow("token.get", token).Scan(&tk.kind, &tk.list, &tk.email, &tk.lang, &tk.held, &tk.created, &tk.expires, &tk.used, &tk.request)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && (tk.kind != kind || tk.list != l.ID)) {
		return nil // refused at RCPT; gone since: nothing to say
	} else if err != nil {
		return err
	}
	if kind == "approve" || kind == "reject" {
		return s.moderateByMail(ctx, tx, l, kind, token, tk.held, tk.used != 0 || s.now().Unix() > tk.expires, in, h)
	}
	var action string
	if err := tx.QueryRow("token.action", token).Scan(&action); err != nil {
		return err
	}
	ref := strings.TrimSpace(h.Get("Message-Id"))
	now := s.now()
	replyTo := in.MailFrom
	if from != nil {
		replyTo = from.Address
	}
	if tk.used != 0 || now.Unix() > tk.expires {
		if kind == "confirm" {
			// Used or expired: it does nothing more. It is said only to
			// the address the token was sent to, when the mail comes from
			// it: anyone who once had a token of their own could
			// otherwise make the hub write to whomever they name in From.
			// The answer counts as one to a command: a robot replying to
			// it again and again gets no more than the hourly cap.
			if !strings.EqualFold(replyTo, tk.email) {
				s.log.Info("used or expired confirmation from another address, not answered", "list", l.Local(), "qid", in.MessageID)
				return nil
			}
			return s.answer(tx, l, tk.email, tk.lang, "list-token-expired", map[string]any{"Change": action != ""}, ref)
		}
		return nil
	}
	if _, err := tx.Exec("token.use", now.Unix(), token); err != nil {
		return err
	}
	how := fmt.Sprintf("confirmed %s by message %s from %s (%s) to %s; requested %s by %s",
		now.UTC().Format(time.RFC3339), in.MessageID, in.MailFrom, in.RemoteIP, in.Rcpt,
		time.Unix(tk.created, 0).UTC().Format(time.RFC3339), tk.request)
	switch {
	case kind == "confirm" && action != "":
		return s.confirmChanges(tx, l, tk.email, tk.lang, decodeChanges(action), how, ref)
	case kind == "confirm":
		// An owner's invitation admits: the owner chose the person.
		admitted := strings.HasPrefix(tk.request, invitedBy)
		if _, err := tx.Exec("member.subscribe", l.ID, tk.email, tk.lang, now.Unix(), how, admitted); err != nil {
			return err
		}
		return s.welcome(tx, l, tk.email, tk.lang, ref)
	}
	return nil
}

// welcome sends the list's welcome message, with its own words in the
// member's language.
func (s *Service) welcome(tx *store.Tx, l List, email, lang, ref string) error {
	t, err := listTexts(tx, l.ID)
	if err != nil {
		return err
	}
	if lang == "" {
		lang = l.Lang
	}
	return s.notify(tx, l, email, lang, "list-welcome", map[string]any{"Email": email, "Welcome": t.in(t.Welcome, lang)}, ref)
}

// unsubscribe takes addr off l and says goodbye; a non-member is told so.
func (s *Service) unsubscribe(tx *store.Tx, l List, addr, how, ref string) (bool, error) {
	m, err := member(tx, l.ID, addr)
	if errors.Is(err, ErrNotMember) || (err == nil && m.State == "unsubscribed") {
		return false, s.answer(tx, l, addr, l.Lang, "list-not-member", map[string]any{"Email": addr}, ref)
	} else if err != nil {
		return false, err
	}
	if _, err := leave(tx, m, how, s.now()); err != nil {
		return false, err
	}
	return true, s.answer(tx, l, addr, m.Lang, "list-goodbye", nil, ref)
}

// askLeave answers mail to LIST+unsubscribe whose From is not proven: the
// member is asked at their address to confirm, and stays on the list
// until they do. A non-member is told so, as when proven.
func (s *Service) askLeave(tx *store.Tx, l List, addr string, in Inbound, ref string) error {
	m, err := member(tx, l.ID, addr)
	if errors.Is(err, ErrNotMember) || (err == nil && m.State == "unsubscribed") {
		return s.answer(tx, l, addr, l.Lang, "list-not-member", map[string]any{"Email": addr}, ref)
	} else if err != nil {
		return err
	}
	changes := []change{{Action: actLeave}}
	if waiting, err := s.changeWaiting(tx, l, addr, changes); err != nil || waiting {
		return err // the same confirmation went out less than an hour ago
	}
	if ok, err := s.mayAnswer(tx, addr); err != nil || !ok {
		return err
	}
	tok, err := s.askChange(tx, l, addr, m.Lang, changes, in)
	if err != nil {
		return err
	}
	confirm := s.Address(l, "confirm-"+tok)
	return s.reply(tx, l, addr, m.Lang, "list-confirm-leave", map[string]any{
		"Confirm": confirm, "Token": tok, "Email": addr, "Expires": s.date(m.Lang, s.now().Add(s.cfg.ConfirmTTL)),
	}, ref, templates.Envelope{Header: [][2]string{{"Reply-To", confirm}}})
}

// A request line is one command of a mail to LIST+request.
type requestLine struct {
	Line    string // as written
	Outcome string // what came of it, for the template
	Date    string // pause end, formatted
}

// Outcomes of request lines.
const (
	outSubscribeSent  = "subscribe-sent"
	outSubscribeAgain = "subscribe-pending"
	outAlready        = "already"
	outUnsubscribed   = "unsubscribed"
	outNotMember      = "not-member"
	outDaily          = "digest-daily"
	outWeekly         = "digest-weekly"
	outEach           = "each"
	outPaused         = "paused"
	outDigestOff      = "digest-off" // the list offers no digest of that period
	outPausedUntil    = "paused-until"
	outResumed        = "resumed"
	outHelp           = "help"
	outUnknown        = "unknown"
	outBadDate        = "bad-date"
	outConfirm        = "confirm"         // a change that waits for the address's confirmation
	outConfirmWaiting = "confirm-waiting" // the same already waits, asked less than an hour ago
)

// maxRequestLines is how many lines of a request are read: a command mail
// is a few lines; the rest is a signature or a quote.
const maxRequestLines = 5

// request runs the commands in the Subject and the first lines of the body
// of a mail to LIST+request, and answers with one message saying what came
// of each. Changes asked from a From that is not proven are not made: the
// answer asks for a confirmation (its Reply-To is LIST+confirm-TOKEN).
func (s *Service) request(tx *store.Tx, l List, addr, lang string, h textproto.Header, in Inbound, ref string, proven bool) error {
	var lines []string
	subj := stripReply(decode(h.Get("Subject")))
	if subj != "" {
		lines = append(lines, subj)
	}
	for _, line := range strings.Split(plainText(in.Body), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, ">") || line == "--" || strings.HasPrefix(strings.ToLower(line), "end") || strings.HasPrefix(strings.ToLower(line), "fin") {
			break
		}
		lines = append(lines, line)
		if len(lines) >= maxRequestLines+1 {
			break
		}
	}
	var results []requestLine
	var pending []change
	unknown, help := false, false
	for _, line := range lines {
		r, err := s.run(tx, l, addr, lang, line, in, ref, proven, &pending)
		if err != nil {
			return err
		}
		if r.Outcome == outUnknown {
			// A subject that is not a command ("Question") is not one.
			if line == subj && len(lines) > 1 {
				continue
			}
			unknown = true
		}
		help = help || r.Outcome == outHelp
		results = append(results, r)
	}
	if len(results) == 0 {
		results = append(results, requestLine{Line: "", Outcome: outUnknown})
		unknown = true
	}
	if ok, err := s.mayAnswer(tx, addr); err != nil || !ok {
		return err // and no confirmation is asked without its message
	}
	data := map[string]any{"Results": results, "ShowHelp": unknown || help, "Commands": "", "Confirm": "", "Expires": "", "Confirmed": false}
	if unknown || help {
		cmds, err := s.commands(l, lang)
		if err != nil {
			return err
		}
		data["Commands"] = cmds
	}
	var env templates.Envelope
	if len(pending) > 0 {
		waiting, err := s.changeWaiting(tx, l, addr, pending)
		if err != nil {
			return err
		}
		if waiting {
			for i := range results {
				if results[i].Outcome == outConfirm {
					results[i].Outcome = outConfirmWaiting
				}
			}
		} else {
			tok, err := s.askChange(tx, l, addr, lang, pending, in)
			if err != nil {
				return err
			}
			confirm := s.Address(l, "confirm-"+tok)
			data["Confirm"], data["Expires"] = confirm, s.date(lang, s.now().Add(s.cfg.ConfirmTTL))
			env.Header = [][2]string{{"Reply-To", confirm}}
		}
	}
	return s.reply(tx, l, addr, lang, "list-request", data, ref, env)
}

var dateRE = regexp.MustCompile(`(\d{4})-(\d{1,2})-(\d{1,2})|(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?`)

// run carries out one request line. A change of the subscription is made
// at once when the From is proven (it says how it went), else appended to
// pending for the address to confirm (outConfirm).
func (s *Service) run(tx *store.Tx, l List, addr, lang, line string, in Inbound, ref string, proven bool, pending *[]change) (requestLine, error) {
	r := requestLine{Line: line}
	words := strings.Fields(strings.ToLower(strings.Trim(line, " .!")))
	if len(words) == 0 {
		r.Outcome = outUnknown
		return r, nil
	}
	verb := words[0]
	if verb == "mode" && len(words) > 1 { // "mode on", "mode off"
		verb = map[string]string{"on": "reprendre", "off": "pause"}[words[1]]
	}
	if !proven {
		// Nothing a stranger may have written goes back to the From under
		// the hub's signature: only the command word, from the list below.
		r.Line = words[0]
		if verb != words[0] {
			r.Line += " " + words[1]
		}
	}
	m, merr := member(tx, l.ID, addr)
	isMember := merr == nil && m.State != "unsubscribed"
	var action string
	switch verb {
	case "subscribe", "inscription", "abonnement", "join", "s'inscrire":
		out, err := s.askConfirm(tx, l, addr, lang, in, ref)
		if err != nil {
			return r, err
		}
		switch {
		case out == "already":
			r.Outcome = outAlready
		case out == "pending":
			r.Outcome = outSubscribeAgain
		default:
			r.Outcome = outSubscribeSent
		}
		return r, nil
	case "help", "aide", "?":
		r.Outcome = outHelp
		return r, nil
	case "unsubscribe", "desinscription", "désinscription", "leave", "quitter", "signoff":
		action = actLeave
	case "digest", "resume", "résumé":
		action = actMode + " daily"
		for _, w := range words[1:] {
			switch w {
			case "weekly", "hebdo", "hebdomadaire", "semaine", "week":
				action = actMode + " weekly"
			}
		}
	case "normal", "each", "chaque", "nodigest", "tous":
		action = actMode + " each"
	case "pause", "vacances", "vacation", "off":
		action = actPause
		if !isMember {
			break
		}
		if rest := strings.Join(words[1:], " "); rest != "" && (words[0] != "mode" || len(words) > 2) {
			t, ok := parseDate(rest, s.now())
			if !ok {
				r.Outcome = outBadDate
				return r, nil
			}
			action += " " + strconv.FormatInt(t.Unix(), 10)
			r.Date = s.date(m.Lang, t)
		}
	case "reprendre", "unpause", "on", "continue", "reprise":
		action = actResume
	default:
		if !proven {
			r.Line = ""
		}
		r.Outcome = outUnknown
		return r, nil
	}
	if !isMember {
		r.Outcome = outNotMember
		return r, nil
	}
	c := change{Action: action, Line: r.Line}
	if !proven {
		*pending = append(*pending, c)
		r.Outcome = outConfirm
		return r, nil
	}
	return s.apply(tx, l, m, c, "command in mail to "+s.Address(l, "request")+" (message "+in.MessageID+")")
}

// parseDate reads the end of a pause: 2026-12-24, 24/12/2026, 24/12/26 or
// 24/12 (the next such day); the pause ends at the start of that day,
// Paris time.
func parseDate(s string, now time.Time) (time.Time, bool) {
	m := dateRE.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, false
	}
	var y, mo, d int
	if m[1] != "" {
		fmt.Sscan(m[1], &y)
		fmt.Sscan(m[2], &mo)
		fmt.Sscan(m[3], &d)
	} else {
		fmt.Sscan(m[4], &d)
		fmt.Sscan(m[5], &mo)
		if m[6] != "" {
			fmt.Sscan(m[6], &y)
			if y < 100 {
				y += 2000
			}
		}
	}
	now = now.In(paris)
	if y == 0 {
		y = now.Year()
		if time.Date(y, time.Month(mo), d, 0, 0, 0, 0, paris).Before(now) {
			y++
		}
	}
	t := time.Date(y, time.Month(mo), d, 0, 0, 0, 0, paris)
	if t.Month() != time.Month(mo) || t.Day() != d || !t.After(now) || t.After(now.AddDate(2, 0, 0)) {
		return time.Time{}, false
	}
	return t, true
}

// paris is the time zone dates are shown in.
var paris = func() *time.Location {
	l, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		return time.FixedZone("CET", 3600)
	}
	return l
}()

// date formats a day for a person: "jeudi 24 décembre 2026" or "Thursday
// 24 December 2026".
func (s *Service) date(lang string, t time.Time) string { return templates.Day(lang, t.In(paris)) }

var replyRE = regexp.MustCompile(`(?i)^\s*((re|tr|fwd?|aw|sv)\s*:\s*)+`)

func stripReply(s string) string { return strings.TrimSpace(replyRE.ReplaceAllString(s, "")) }

// plainText returns the first text/plain part of a message, decoded, with
// LF line ends; "" if there is none.
func plainText(raw []byte) string { return mimetext.First(raw, 64<<10) }

// forward sends an accepted message as is to addresses (mail for +owner),
// as a group's mail goes to its animators.
func (s *Service) forward(tx *store.Tx, in Inbound, to []string) error {
	_, err := s.q.Enqueue(tx, queue.Message{
		MessageID: in.MessageID,
		Prefix:    []byte("Delivered-To: " + strings.ToLower(in.Rcpt) + "\r\n"),
		To:        to,
		Kind:      KindOwner,
		InboundID: in.ID,
	})
	return err
}
