package lists

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"codeberg.org/relais/relais/audit"
	"codeberg.org/relais/relais/store"
	"codeberg.org/relais/relais/templates"
)

// What list owners and moderators do from the console and the REST API,
// and operators from the command line: the same changes as the mail
// commands, each in one transaction with its audit record (package
// audit). Whether the actor may do it is package access's question, asked
// before.

// Rules a list keeps for a sender (list_senders).
const (
	SenderAccept = "accept" // posts go through as a member's would
	SenderBan    = "ban"    // posts are dropped without a word
)

// Texts are a list's own words and digest offer.
type Texts struct {
	Welcome     map[string]string `json:"welcome"` // by language: added to the welcome message
	Footer      map[string]string `json:"footer"`  // by language: added to every copy's footer
	DigestModes []string          `json:"digest_modes"`
}

// DigestModes are the digest modes a list may offer.
var DigestModes = []string{"daily", "weekly"}

func listTexts(q queryer, id int64) (Texts, error) {
	var wfr, wen, ffr, fen, modes string
	err := q.QueryRow("list.texts", id).Scan(&wfr, &wen, &ffr, &fen, &modes)
	if errors.Is(err, sql.ErrNoRows) {
		return Texts{}, fmt.Errorf("%w: id %d", ErrNotFound, id)
	}
	t := Texts{Welcome: map[string]string{"fr": wfr, "en": wen}, Footer: map[string]string{"fr": ffr, "en": fen}, DigestModes: []string{}}
	for _, m := range strings.Split(modes, ",") {
		if slices.Contains(DigestModes, m) {
			t.DigestModes = append(t.DigestModes, m)
		}
	}
	return t, err
}

// ListTexts returns list id's own words and digest offer.
func ListTexts(ctx context.Context, db *store.DB, id int64) (Texts, error) {
	return listTexts(db.Reader(ctx), id)
}

// in returns the text in lang, else in the other language.
func (t Texts) in(m map[string]string, lang string) string {
	if v := strings.TrimSpace(m[lang]); v != "" {
		return v
	}
	for _, l := range templates.Languages {
		if v := strings.TrimSpace(m[l]); v != "" {
			return v
		}
	}
	return ""
}

// Settings is what an owner may change of a list.
type Settings struct {
	Name          string `json:"name"`
	Policy        string `json:"policy"`
	ReplyTo       string `json:"reply_to"`
	SubjectPrefix bool   `json:"subject_prefix"`
	Lang          string `json:"lang"`
	Auth          string `json:"auth"`
	MaxKB         int64  `json:"max_kb"`
	RatePerHour   int    `json:"rate_per_hour"`
	Texts
}

// SettingsOf returns list id's settings.
func SettingsOf(ctx context.Context, db *store.DB, id int64) (List, Settings, error) {
	r := db.Reader(ctx)
	l, err := get(r, id)
	if err != nil {
		return l, Settings{}, err
	}
	t, err := listTexts(r, id)
	return l, Settings{Name: l.DisplayName, Policy: l.Policy, ReplyTo: l.ReplyTo, SubjectPrefix: l.SubjectPrefix, Lang: l.Lang,
		Auth: l.Auth, MaxKB: l.MaxBytes / 1024, RatePerHour: l.RatePerHour, Texts: t}, err
}

// maxText bounds a list's own welcome or footer text.
const maxText = 2000

// Configure stores new settings for list id (owners are kept): the same
// checks as `relais list update`.
func (s *Service) Configure(ctx context.Context, id int64, st Settings, a audit.Actor) (List, error) {
	return s.Reconfigure(ctx, id, nil, st, a)
}

// Reconfigure stores new settings for list id and, when owners is not
// nil, its owners and moderators, in one transaction: a refusal of either
// changes neither.
func (s *Service) Reconfigure(ctx context.Context, id int64, owners []Owner, st Settings, a audit.Actor) (List, error) {
	var l List
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		if owners != nil {
			if err := s.replaceOwners(tx, id, owners, a); err != nil {
				return err
			}
		}
		var err error
		l, err = s.configure(tx, id, st, a)
		return err
	})
	if err == nil {
		s.forget(id)
	}
	return l, err
}

// CreateConfigured creates list l with settings st, in one transaction:
// a refused setting leaves no list behind.
func (s *Service) CreateConfigured(ctx context.Context, l List, st Settings, a audit.Actor) (List, error) {
	if err := l.Validate(); err != nil {
		return l, err
	}
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		if err := create(tx, &l); err != nil {
			return err
		}
		if err := audit.Record(tx, a, s.now(), "list.create", l.Local(), l.Policy); err != nil {
			return err
		}
		var err error
		l, err = s.configure(tx, l.ID, st, a)
		return err
	})
	return l, err
}

// configure is Configure inside tx.
func (s *Service) configure(tx *store.Tx, id int64, st Settings, a audit.Actor) (List, error) {
	l, err := get(tx, id)
	if err != nil {
		return l, err
	}
	if l.Policy == Territory {
		return l, fmt.Errorf("%w: territory lists follow the groups", ErrNotFound)
	}
	old := l
	if st.Name != "" {
		l.DisplayName = strings.TrimSpace(st.Name)
	}
	l.Policy, l.ReplyTo, l.SubjectPrefix, l.Auth = st.Policy, st.ReplyTo, st.SubjectPrefix, st.Auth
	if st.Lang != "" {
		l.Lang = st.Lang
	}
	l.MaxBytes, l.RatePerHour = st.MaxKB*1024, st.RatePerHour
	if err := l.Validate(); err != nil {
		return l, err
	}
	var errs []error
	for _, m := range [](map[string]string){st.Welcome, st.Footer} {
		for lang, v := range m {
			if !slices.Contains(templates.Languages, lang) {
				errs = append(errs, fmt.Errorf("language %q: fr or en", lang))
			}
			if utf8.RuneCountInString(v) > maxText {
				errs = append(errs, fmt.Errorf("a text of at most %d characters", maxText))
			}
		}
	}
	for _, m := range st.DigestModes {
		if !slices.Contains(DigestModes, m) {
			errs = append(errs, fmt.Errorf("digest mode %q: daily or weekly", m))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return l, err
	}
	if err := update(tx, &l); err != nil {
		return l, err
	}
	clean := func(m map[string]string, lang string) string {
		return strings.TrimSpace(strings.ReplaceAll(m[lang], "\r\n", "\n"))
	}
	if _, err := tx.Exec("list.set-texts", clean(st.Welcome, "fr"), clean(st.Welcome, "en"), clean(st.Footer, "fr"),
		clean(st.Footer, "en"), strings.Join(st.DigestModes, ","), id); err != nil {
		return l, err
	}
	return l, audit.Record(tx, a, s.now(), "list.settings", l.Local(), changed(old, l))
}

// changed says which settings differ, for the audit record.
func changed(a, b List) string {
	var out []string
	add := func(k string, x, y any) {
		if fmt.Sprint(x) != fmt.Sprint(y) {
			out = append(out, fmt.Sprintf("%s: %v → %v", k, x, y))
		}
	}
	add("name", a.DisplayName, b.DisplayName)
	add("policy", a.Policy, b.Policy)
	add("reply-to", a.ReplyTo, b.ReplyTo)
	add("prefix", a.SubjectPrefix, b.SubjectPrefix)
	add("lang", a.Lang, b.Lang)
	add("auth", a.Auth, b.Auth)
	add("max-bytes", a.MaxBytes, b.MaxBytes)
	add("rate", a.RatePerHour, b.RatePerHour)
	if len(out) == 0 {
		return "texts or digest modes"
	}
	return strings.Join(out, "; ")
}

// forget drops list id from the cache of personalised copies: a change is
// seen by the next copy.
func (s *Service) forget(id int64) {
	s.mu.Lock()
	delete(s.cache, id)
	s.mu.Unlock()
}

// SetOwners replaces the owners and moderators of list id.
func (s *Service) SetOwners(ctx context.Context, id int64, owners []Owner, a audit.Actor) error {
	err := s.db.Write(ctx, func(tx *store.Tx) error { return s.replaceOwners(tx, id, owners, a) })
	if err == nil {
		s.forget(id)
	}
	return err
}

func (s *Service) replaceOwners(tx *store.Tx, id int64, owners []Owner, a audit.Actor) error {
	l, err := get(tx, id)
	if err != nil {
		return err
	}
	l.Owners = owners
	if err := l.Validate(); err != nil {
		return err
	}
	if err := setOwners(tx, id, l.Owners); err != nil {
		return err
	}
	var names []string
	for _, o := range l.Owners {
		names = append(names, o.Role+" "+o.Email)
	}
	return audit.Record(tx, a, s.now(), "list.owners", l.Local(), strings.Join(names, ", "))
}

// Sender is a list's rule for a sender.
type Sender struct {
	Email string    `json:"email"`
	Rule  string    `json:"rule"`
	Since time.Time `json:"since"`
	By    string    `json:"by"`
}

// Senders returns list id's rules for senders.
func Senders(ctx context.Context, db *store.DB, id int64) ([]Sender, error) {
	rows, err := db.Query(ctx, "sender.list", id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Sender{}
	for rows.Next() {
		var x Sender
		var at int64
		if err := rows.Scan(&x.Email, &x.Rule, &at, &x.By); err != nil {
			return nil, err
		}
		x.Since = time.Unix(at, 0)
		out = append(out, x)
	}
	return out, rows.Err()
}

// SetSender sets list id's rule for email: SenderAccept, SenderBan, or ""
// to remove it.
func (s *Service) SetSender(ctx context.Context, id int64, email, rule string, a audit.Actor) error {
	addr, err := cleanAddress(email)
	if err != nil {
		return err
	}
	return s.db.Write(ctx, func(tx *store.Tx) error {
		l, err := get(tx, id)
		if err != nil {
			return err
		}
		return s.setSender(tx, l, addr, rule, a)
	})
}

func (s *Service) setSender(tx *store.Tx, l List, addr, rule string, a audit.Actor) error {
	var err error
	switch rule {
	case SenderAccept, SenderBan:
		_, err = tx.Exec("sender.set", l.ID, addr, rule, s.now().Unix(), a.Who)
	case "":
		_, err = tx.Exec("sender.delete", l.ID, addr)
		rule = "none"
	default:
		return fmt.Errorf("rule %q: accept, ban or none", rule)
	}
	if err != nil {
		return err
	}
	return audit.Record(tx, a, s.now(), "sender."+rule, l.Local(), addr)
}

// senderRule is list l's rule for addr, "" for none.
func senderRule(q queryer, listID int64, addr string) string {
	var rule string
	if err := q.QueryRow("sender.get", listID, addr).Scan(&rule); err != nil {
		return ""
	}
	return rule
}

func cleanAddress(s string) (string, error) {
	a, err := mail.ParseAddress(strings.TrimSpace(s))
	if err != nil || !strings.Contains(a.Address, ".") || !strings.Contains(a.Address, "@") {
		return "", fmt.Errorf("%q is not an email address", s)
	}
	return strings.ToLower(a.Address), nil
}

// Decision is what a moderator decides on a held post.
type Decision struct {
	Approve bool
	Why     string // told to the poster of a rejected post
	// Sender, if set, is the rule the list keeps for the poster from now
	// on: SenderAccept with an approval ("always accept this sender"),
	// SenderBan with a rejection (the poster is then told nothing).
	Sender string
}

// Moderate carries out a decision on held post id, as a moderator's mail
// does (the same tokens are used up, so a post decided here shows as
// decided to the mail and the reverse): ErrDecided when it was already
// approved, rejected or expired.
func (s *Service) Moderate(ctx context.Context, id int64, d Decision, a audit.Actor) error {
	var msgID string
	if err := s.db.QueryRow(ctx, "held.get", id).Scan(new(int64), new(int64), &msgID, new(string), new(string),
		new(int64), new(int64), new(string)); err == nil {
		if err := s.Prefetch(ctx, msgID); err != nil {
			return err
		}
	}
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		var listID int64
		var poster string
		if err := tx.QueryRow("held.get", id).Scan(new(int64), &listID, new(string), &poster, new(string), new(int64), new(int64), new(string)); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("%w: no held post %d", ErrNotFound, id)
			}
			return err
		}
		l, err := get(tx, listID)
		if err != nil {
			return err
		}
		state, err := s.decideHeld(ctx, tx, l, id, d.Approve, a.Who, d.Why, d.Sender != SenderBan)
		if err != nil {
			return err
		}
		if state != "" {
			return fmt.Errorf("%w: post %d is %s", ErrDecided, id, state)
		}
		action := "held.reject"
		if d.Approve {
			action = "held.approve"
		}
		if err := audit.Record(tx, a, s.now(), action, l.Local(), fmt.Sprintf("post %d from %s %s", id, poster, oneLine(d.Why))); err != nil {
			return err
		}
		if d.Sender != "" && poster != "" {
			return s.setSender(tx, l, strings.ToLower(poster), d.Sender, a)
		}
		return nil
	})
	if err == nil {
		s.q.Kick()
	}
	return err
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// AddOutcome is what became of one address given to AddMembers.
type AddOutcome struct {
	Email   string `json:"email"`
	Outcome string `json:"outcome"` // added, already, left, erased, invited, invite-pending, bad
}

// Outcomes of AddMembers and Invite.
const (
	AddAdded         = "added"
	AddAlready       = "already"        // on the list
	AddLeft          = "left"           // left it: their withdrawal stands
	AddErased        = "erased"         // erased from the hub
	AddInvited       = "invited"        // a confirmation went
	AddInvitePending = "invite-pending" // one went less than an hour ago
	AddBad           = "bad"            // not an address
)

// AddMembers subscribes addresses whose consent the actor holds, consent
// saying where it is recorded: as `relais list subscribe --consent` does
// (nobody is written to; those who left, and erased addresses, are left
// as they are).
func (s *Service) AddMembers(ctx context.Context, id int64, consent string, emails []string, a audit.Actor) ([]AddOutcome, error) {
	consent = strings.TrimSpace(consent)
	if consent == "" {
		return nil, errors.New("say where these addresses' consent is recorded")
	}
	secret, err := s.db.Secret(ctx, store.ErasureSecret)
	if err != nil {
		return nil, err
	}
	var out []AddOutcome
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		out = nil
		l, err := get(tx, id)
		if err != nil {
			return err
		}
		if l.Policy == Territory {
			return fmt.Errorf("%w: territory lists have no members", ErrNotFound)
		}
		for _, e := range emails {
			addr, err := cleanAddress(e)
			if err != nil {
				out = append(out, AddOutcome{Email: e, Outcome: AddBad})
				continue
			}
			o, err := s.admissible(tx, l, addr, secret)
			if err != nil {
				return err
			}
			if o == "" {
				if _, err := tx.Exec("member.subscribe", l.ID, addr, l.Lang, s.now().Unix(), "owner "+a.String()+": "+consent, true); err != nil {
					return err
				}
				if err := audit.Record(tx, a, s.now(), "member.add", l.Local(), addr+": "+oneLine(consent)); err != nil {
					return err
				}
				o = AddAdded
			}
			out = append(out, AddOutcome{Email: addr, Outcome: o})
		}
		return nil
	})
	return out, err
}

// admissible says why addr cannot be added to l ("" when it can).
func (s *Service) admissible(tx *store.Tx, l List, addr string, secret []byte) (string, error) {
	if m, err := member(tx, l.ID, addr); err == nil {
		if m.State == "unsubscribed" {
			return AddLeft, nil
		}
		return AddAlready, nil
	} else if !errors.Is(err, ErrNotMember) {
		return "", err
	}
	var erased bool
	if err := tx.QueryRow("erasure.has", store.PersonMAC(secret, addr), l.ID).Scan(&erased); err != nil {
		return "", err
	} else if erased {
		return AddErased, nil
	}
	return "", nil
}

// MaxInvite is how many addresses one invitation may name.
const MaxInvite = 200

// Invite sends each address a confirmation (list-invite, with Reply-To
// LIST+confirm-TOKEN): nobody is subscribed until they confirm, as when
// they write to LIST+subscribe. Those who left are invited again (they
// choose); erased addresses are not.
func (s *Service) Invite(ctx context.Context, id int64, emails []string, note string, a audit.Actor) ([]AddOutcome, error) {
	if len(emails) > MaxInvite {
		return nil, fmt.Errorf("at most %d addresses at once", MaxInvite)
	}
	secret, err := s.db.Secret(ctx, store.ErasureSecret)
	if err != nil {
		return nil, err
	}
	var out []AddOutcome
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		out = nil
		l, err := get(tx, id)
		if err != nil {
			return err
		}
		if l.Policy == Territory {
			return fmt.Errorf("%w: territory lists have no members", ErrNotFound)
		}
		now := s.now()
		for _, e := range emails {
			addr, err := cleanAddress(e)
			if err != nil {
				out = append(out, AddOutcome{Email: e, Outcome: AddBad})
				continue
			}
			o, err := s.admissible(tx, l, addr, secret)
			if err != nil {
				return err
			}
			if o == "" || o == AddLeft {
				var n int
				if err := tx.QueryRow("token.recent-confirm", l.ID, addr, now.Add(-time.Hour).Unix()).Scan(&n); err != nil {
					return err
				}
				o = AddInvitePending
				if n == 0 {
					if err := s.invite(tx, l, addr, oneLine(note), a); err != nil {
						return err
					}
					o = AddInvited
				}
			}
			out = append(out, AddOutcome{Email: addr, Outcome: o})
		}
		return nil
	})
	if err == nil {
		s.q.Kick()
	}
	return out, err
}

func (s *Service) invite(tx *store.Tx, l List, addr, note string, a audit.Actor) error {
	now := s.now()
	tok := newToken()
	request := invitedBy + a.String()
	if _, err := tx.Exec("token.insert", tok, "confirm", l.ID, addr, l.Lang, 0, now.Unix(), now.Add(s.cfg.ConfirmTTL).Unix(), request); err != nil {
		return err
	}
	confirm := s.Address(l, "confirm-"+tok)
	env := templates.Envelope{From: quoteName(l.DisplayName) + " <" + s.FromAddress(l, "request") + ">", Header: [][2]string{{"Reply-To", confirm}}}
	if err := s.reply(tx, l, addr, l.Lang, "list-invite", map[string]any{
		"Confirm": confirm, "Email": addr, "Note": note, "Expires": s.date(l.Lang, now.Add(s.cfg.ConfirmTTL)),
	}, "", env); err != nil {
		return err
	}
	return audit.Record(tx, a, now, "member.invite", l.Local(), addr)
}

// Remove unsubscribes email from list id for its owner (recorded as their
// doing, with why); nobody is written to. ErrNotMember when the address is
// not, or no longer, on the list.
func (s *Service) Remove(ctx context.Context, id int64, email, why string, a audit.Actor) error {
	return s.db.Write(ctx, func(tx *store.Tx) error {
		l, err := get(tx, id)
		if err != nil {
			return err
		}
		m, err := member(tx, id, email)
		if err != nil {
			return err
		}
		ok, err := leave(tx, m, "removed by "+a.String()+": "+oneLine(why), s.now())
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: %s left on %s", ErrNotMember, m.Email, m.LeftAt.Format("2006-01-02"))
		}
		return audit.Record(tx, a, s.now(), "member.remove", l.Local(), m.Email+": "+oneLine(why))
	})
}

// Enable sends mail again to a member set to bouncing (ErrNotBouncing for
// another).
func (s *Service) Enable(ctx context.Context, id int64, email string, a audit.Actor) error {
	return EnableMember(ctx, s.db, id, email, a, s.now())
}

// invitedBy begins the request of an owner's invitation: the member who
// confirms it is admitted.
const invitedBy = "invitation by "

// Admit makes a member of the list one of its groups' members: they see
// the members-only events of the groups of the list's code (digest), as
// those an owner added do. Someone who subscribed themselves is not
// admitted until an owner says so (ErrNotMember for one who left;
// admitting twice is no error).
func (s *Service) Admit(ctx context.Context, id int64, email string, a audit.Actor) error {
	return s.db.Write(ctx, func(tx *store.Tx) error {
		l, err := get(tx, id)
		if err != nil {
			return err
		}
		m, err := member(tx, id, email)
		if err != nil {
			return err
		}
		if m.State == "unsubscribed" {
			return fmt.Errorf("%w: %s left", ErrNotMember, m.Email)
		}
		res, err := tx.Exec("member.admit", m.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return audit.Record(tx, a, s.now(), "member.admit", l.Local(), m.Email)
	})
}

// SetMode changes a member's mode for their owner or the API: each,
// daily, weekly; or pause / resume.
func (s *Service) SetMode(ctx context.Context, id int64, email, mode string, a audit.Actor) (string, error) {
	var out string
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		l, err := get(tx, id)
		if err != nil {
			return err
		}
		m, err := member(tx, id, email)
		if err != nil {
			return err
		}
		if m.State == "unsubscribed" {
			return fmt.Errorf("%w: %s left", ErrNotMember, m.Email)
		}
		var c change
		switch mode {
		case "each", "daily", "weekly":
			c.Action = actMode + " " + mode
		case "pause":
			c.Action = actPause
		case "resume":
			c.Action = actResume
		default:
			return fmt.Errorf("mode %q: each, daily, weekly, pause or resume", mode)
		}
		r, err := s.apply(tx, l, m, c, "")
		if err != nil {
			return err
		}
		out = r.Outcome
		return audit.Record(tx, a, s.now(), "member.mode", l.Local(), m.Email+": "+mode)
	})
	return out, err
}

// Search returns the members of list id whose address contains q (every
// address when empty), in state ("" any), at most limit from offset, in
// address order.
func Search(ctx context.Context, db *store.DB, id int64, q, state string, limit, offset int) ([]Member, error) {
	rows, err := db.Query(ctx, "member.search", id, strings.ToLower(strings.TrimSpace(q)), state, limit, offset)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Member{}
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// MemberOf returns email's record on list id (ErrNotMember).
func MemberOf(ctx context.Context, db *store.DB, id int64, email string) (Member, error) {
	return member(db.Reader(ctx), id, email)
}

// MemberByID returns member id of list listID (ErrNotMember).
func MemberByID(ctx context.Context, db *store.DB, listID, id int64) (Member, error) {
	m, err := scanMember(db.QueryRow(ctx, "member.by-id", id))
	if errors.Is(err, sql.ErrNoRows) || (err == nil && m.ListID != listID) {
		return Member{}, ErrNotMember
	}
	return m, err
}

// BounceEvent is one bounce of a member's copies.
type BounceEvent struct {
	At     time.Time `json:"at"`
	Action string    `json:"action"` // failed, delayed, refused (5xx at delivery)…
	Status string    `json:"status"`
	Detail string    `json:"detail"`
}

// Bounces returns the bounces of the copies of list id sent to email, as
// long as the queue keeps their deliveries (queue.keep), newest first.
func Bounces(ctx context.Context, db *store.DB, id int64, email string) ([]BounceEvent, error) {
	rows, err := db.Query(ctx, "member.bounces", id, strings.ToLower(email))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []BounceEvent{}
	for rows.Next() {
		var b BounceEvent
		var at int64
		if err := rows.Scan(&at, &b.Action, &b.Status, &b.Detail); err != nil {
			return nil, err
		}
		b.At = time.Unix(at, 0)
		out = append(out, b)
	}
	return out, rows.Err()
}

// Week is one week's activity of a list.
type Week struct {
	Start   time.Time `json:"week"`
	Posts   int       `json:"posts"`
	Joins   int       `json:"joins"`
	Leaves  int       `json:"leaves"`
	Bounces int       `json:"bounces"`
}

// Activity is a list's life of late.
type Activity struct {
	Weeks      []Week         `json:"weeks"` // the last ones, newest first
	Members    map[string]int `json:"members"`
	Held       int            `json:"held"`
	OldestHeld time.Time      `json:"oldest_held,omitzero"`
}

// ActivityOf returns list id's activity over the last weeks.
func ActivityOf(ctx context.Context, db *store.DB, id int64, weeks int, now time.Time) (Activity, error) {
	const week = 7 * 24 * 3600
	first := now.Unix()/week - int64(weeks) + 1
	act := Activity{Members: map[string]int{}}
	byWeek := map[int64]*Week{}
	for i := int64(0); i < int64(weeks); i++ {
		w := first + int64(weeks) - 1 - i
		act.Weeks = append(act.Weeks, Week{Start: time.Unix(w*week, 0)})
	}
	for i := range act.Weeks {
		byWeek[act.Weeks[i].Start.Unix()/week] = &act.Weeks[i]
	}
	since := first * week
	for _, k := range []struct {
		query string
		field func(*Week) *int
	}{
		{"activity.posts", func(w *Week) *int { return &w.Posts }},
		{"activity.joins", func(w *Week) *int { return &w.Joins }},
		{"activity.leaves", func(w *Week) *int { return &w.Leaves }},
		{"activity.bounces", func(w *Week) *int { return &w.Bounces }},
	} {
		rows, err := db.Query(ctx, k.query, id, since)
		if err != nil {
			return act, err
		}
		for rows.Next() {
			var w int64
			var n int
			if err := rows.Scan(&w, &n); err != nil {
				rows.Close()
				return act, err
			}
			if x := byWeek[w]; x != nil {
				*k.field(x) += n
			}
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return act, err
		}
	}
	rows, err := db.Query(ctx, "member.count", id)
	if err != nil {
		return act, err
	}
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			rows.Close()
			return act, err
		}
		act.Members[state] = n
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return act, err
	}
	var oldest int64
	if err := db.QueryRow(ctx, "activity.held", id).Scan(&act.Held, &oldest); err != nil {
		return act, err
	}
	act.OldestHeld = unix(oldest)
	return act, nil
}
