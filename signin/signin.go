// Package signin is in charge of how a person proves, on the web, that an
// address is theirs, with no password: a single-use link the hub mails to
// the address (to sign in, or to confirm they will attend an event), the
// links to a member's page that footers and digests carry, and the
// sessions a link opens.
//
// No link names an address. A mailed link is 128 random bits, of which the
// hub keeps only a hash, with the address, its purpose and its expiry
// (web.signin_ttl, 15 minutes). A footer's or a digest's link names the
// member by an opaque id (their list membership's, their agenda's) and its
// expiry under a MAC; used once, or seen quoted in a post to a list
// (Spend), it is spent. Asking for a link answers the same whether the
// address is known or not, and is capped per address and per client
// address and hour; a link is mailed only to an address the hub knows.
//
// A session is a random cookie value, of which the hub keeps a hash. It
// ends at its expiry (web.session_ttl), when its person signs out, or
// signs out everywhere (which ends the links made before too), or is
// erased. A session opened by a mailed link
// is strong: only it may download or erase the person's data.
package signin

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"codeberg.org/relais/relais/internal/keymac"
	"codeberg.org/relais/relais/queue"
	"codeberg.org/relais/relais/store"
	"codeberg.org/relais/relais/templates"
)

// Sentinel errors of package signin.
var (
	// ErrBadLink: the link is not one the hub made, or is used, expired,
	// spent, or names nobody any more. The four are one answer.
	ErrBadLink = errors.New("signin: unknown, used or expired link")
	// ErrNoSession: no session has that cookie (never had, or ended).
	ErrNoSession = errors.New("signin: no session")
)

// Purposes of a link.
const (
	PurposeSignIn = "signin" // opens a session
	PurposeAttend = "attend" // confirms an attendance, opens nothing
)

// Kinds of the footer and digest links: what their opaque id is.
const (
	KindList   = "l" // a list membership's id (lists.Member.ID)
	KindAgenda = "a" // an agenda member's link id (digest.Member.Link)
)

// Config is what sign-in needs to know about the hub.
type Config struct {
	Domain   string // the hub's first: From of the links' mail
	Hostname string // of Message-IDs
	WebURL   string // base of the links
	Lang     string // default language

	LinkTTL    time.Duration // a mailed link (15 minutes)
	FooterTTL  time.Duration // a footer's or digest's link (7 days)
	SessionTTL time.Duration // a session (7 days)
	// PerAddressHour and PerIPHour cap the links asked for in an hour,
	// per address and per client address (0: no cap).
	PerAddressHour int
	PerIPHour      int
	// Operators are the hub's operators: known to it, though the data
	// may name them nowhere, so that they can sign in to the console.
	Operators []string

	Now func() time.Time
}

// Service signs people in for one hub.
type Service struct {
	db     *store.DB
	q      *queue.Queue
	texts  *templates.Set
	log    *slog.Logger
	secret []byte
	person []byte // store.ErasureSecret: the keyed hash of counters

	mu  sync.Mutex
	cfg Config

	macs keymac.Pool // HMAC-SHA256 under secret (mac)
}

// New returns the service.
func New(ctx context.Context, db *store.DB, q *queue.Queue, texts *templates.Set, cfg Config, log *slog.Logger) (*Service, error) {
	secret, err := db.Secret(ctx, "signin")
	if err != nil {
		return nil, fmt.Errorf("signin: %w", err)
	}
	person, err := db.Secret(ctx, store.ErasureSecret)
	if err != nil {
		return nil, fmt.Errorf("signin: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Lang == "" {
		cfg.Lang = "fr"
	}
	if cfg.LinkTTL <= 0 {
		cfg.LinkTTL = 15 * time.Minute
	}
	if cfg.FooterTTL <= 0 {
		cfg.FooterTTL = 7 * 24 * time.Hour
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 7 * 24 * time.Hour
	}
	return &Service{db: db, q: q, texts: texts, log: log, secret: secret, person: person, cfg: cfg}, nil
}

func (s *Service) now() time.Time { return s.cfg.Now() }

// SetWebURL sets the base of the links once the web listener is known.
func (s *Service) SetWebURL(u string) {
	s.mu.Lock()
	s.cfg.WebURL = strings.TrimSuffix(u, "/")
	s.mu.Unlock()
}

func (s *Service) webURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.WebURL
}

// Link is what a link names.
type Link struct {
	Purpose string // PurposeSignIn or PurposeAttend
	Email   string
	Lang    string
	EventID int64 // PurposeAttend
	Strong  bool  // mailed on request (not a footer's)
	hash    string
	expires time.Time
	footer  bool
}

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newToken returns 128 random bits, lower-case base32.
func newToken() string {
	var b [16]byte
	rand.Read(b[:])
	return b32.EncodeToString(b[:])
}

// hash is how a token or a cookie is kept: SHA-256, hex.
func hash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// Request answers someone who typed email on the sign-in page (purpose
// PurposeSignIn) or on an event's page (PurposeAttend, eventID and what
// describes the event to the template): when the address is known to the
// hub (for attending, any address), and neither it nor client asked for
// more than their hourly cap, a link goes to it. Whatever happens, the
// caller says the same to the person; the error is only an internal
// failure. lang is the page's language, used when the person chose none.
func (s *Service) Request(ctx context.Context, purpose, email, lang, client string, eventID int64, event map[string]any) error {
	email = strings.ToLower(strings.TrimSpace(email))
	if purpose != PurposeSignIn && purpose != PurposeAttend {
		return fmt.Errorf("signin: purpose %q", purpose)
	}
	sent := false
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		sent = false
		now := s.now()
		since := now.Add(-time.Hour).Unix()
		byAddr, byIP := "mac:"+store.PersonMAC(s.person, email), "ip:"+client
		var nAddr, nIP int
		if err := tx.QueryRow("weblink.requests", byAddr, since).Scan(&nAddr); err != nil {
			return err
		}
		if err := tx.QueryRow("weblink.requests", byIP, since).Scan(&nIP); err != nil {
			return err
		}
		for _, who := range []string{byAddr, byIP} {
			if _, err := tx.Exec("weblink.request", now.Unix(), who); err != nil {
				return err
			}
		}
		switch {
		case s.cfg.PerAddressHour > 0 && nAddr >= s.cfg.PerAddressHour:
			s.log.Warn("web links asked for over the hourly cap for an address", "email", email, "count", nAddr+1)
			return nil
		case s.cfg.PerIPHour > 0 && nIP >= s.cfg.PerIPHour:
			s.log.Warn("web links asked for over the hourly cap for a client address", "client", client, "count", nIP+1)
			return nil
		case !strings.Contains(email, "@") || len(email) > 254 || strings.ContainsAny(email, " \t\r\n<>,;\""):
			return nil
		}
		var known bool
		if err := tx.QueryRow("person.known", email).Scan(&known); err != nil {
			return err
		}
		for _, o := range s.cfg.Operators {
			known = known || strings.EqualFold(strings.TrimSpace(o), email)
		}
		if !known && purpose == PurposeSignIn {
			return nil
		}
		if !known {
			// An erased address is sent nothing, until its person comes
			// back of their own accord (subscribes again, by mail): then
			// they are known again, and a member like any other.
			var erased bool
			if err := tx.QueryRow("erasure.has", store.PersonMAC(s.person, email), 0).Scan(&erased); err != nil || erased {
				return err
			}
		}
		var chosen string
		if err := tx.QueryRow("person.lang", email).Scan(&chosen); err == nil && chosen != "" {
			lang = chosen
		} else if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if lang == "" {
			lang = s.cfg.Lang
		}
		tok := newToken()
		if _, err := tx.Exec("weblink.insert", hash(tok), purpose, email, lang, eventID, now.Unix(), now.Add(s.cfg.LinkTTL).Unix()); err != nil {
			return err
		}
		data := map[string]any{"Link": s.webURL() + "/signin/" + tok, "Minutes": int(s.cfg.LinkTTL / time.Minute),
			"Web": s.webURL(), "Event": event}
		name := "signin-link"
		if purpose == PurposeAttend {
			name = "attend-confirm"
			data["Link"] = s.webURL() + "/agenda/confirm/" + tok
		}
		msg, err := s.texts.Compose(lang, name, data, templates.Envelope{
			From: "relais <ne-pas-repondre@" + s.cfg.Domain + ">", To: email, Hostname: s.cfg.Hostname,
			AutoSubmitted: "auto-generated", Date: now,
		})
		if err != nil {
			return err
		}
		id := store.NewID()
		utf8, eight := queue.Needs(msg)
		if _, err := tx.Exec("message.insert", id, now.Unix(), "", "", "", utf8, eight, len(msg), msg); err != nil {
			return err
		}
		if _, err := s.q.Enqueue(tx, queue.Message{MessageID: id, To: []string{email}, Kind: "signin"}); err != nil {
			return err
		}
		sent = true
		return nil
	})
	if err == nil && sent {
		s.q.Kick()
		s.log.Info("web link mailed", "purpose", purpose, "email", email)
	}
	return err
}

// FooterURL is the link to a member's page that a footer (kind KindList,
// id a membership's) or a digest (KindAgenda, id an agenda link id) of
// email carries: the opaque id, the link's expiry and a MAC over both and
// the address.
func (s *Service) FooterURL(kind, id, email string) string {
	exp := strconv.FormatInt(s.now().Add(s.cfg.FooterTTL).Unix(), 36)
	return s.webURL() + "/signin/" + kind + "." + id + "." + exp + "." + s.mac(kind, id, exp, email)
}

// mac is the HMAC of "manage", kind, id, exp and the email in lower case,
// separated by NULs, its first 16 bytes in base32 (a footer link is made
// for every copy of a list post).
func (s *Service) mac(kind, id, exp, email string) string {
	var buf [160]byte
	b := append(buf[:0], "manage\x00"...)
	for _, p := range [...]string{kind, id, exp} {
		b = append(append(b, p...), 0)
	}
	sum := s.macs.Sum(s.secret, append(b, strings.ToLower(email)...))
	return b32.EncodeToString(sum[:16])
}

// Peek says what a link names without using it: the page a GET shows.
func (s *Service) Peek(ctx context.Context, token string) (Link, error) {
	return s.read(s.db.Reader(ctx), token)
}

type queryer interface {
	QueryRow(name string, args ...any) *sql.Row
}

// read returns the link token names, if it may still be used.
func (s *Service) read(q queryer, token string) (Link, error) {
	now := s.now()
	if len(token) > 200 {
		return Link{}, ErrBadLink
	}
	if parts := strings.Split(token, "."); len(parts) == 4 {
		return s.readFooter(q, parts, now)
	}
	l := Link{hash: hash(token), Strong: true}
	var exp, used int64
	err := q.QueryRow("weblink.get", l.hash).Scan(&l.Purpose, &l.Email, &l.Lang, &l.EventID, &exp, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return Link{}, ErrBadLink
	} else if err != nil {
		return Link{}, err
	}
	if used != 0 || now.Unix() >= exp {
		return Link{}, ErrBadLink
	}
	l.expires = time.Unix(exp, 0)
	return l, nil
}

// readFooter checks a footer's or digest's link: its MAC, its expiry, that
// it is not spent, and that its id still names the address it was made
// for.
func (s *Service) readFooter(q queryer, parts []string, now time.Time) (Link, error) {
	kind, id, exp, mac := parts[0], parts[1], parts[2], parts[3]
	at, err := strconv.ParseInt(exp, 36, 64)
	if err != nil || now.Unix() >= at || (kind != KindList && kind != KindAgenda) {
		return Link{}, ErrBadLink
	}
	var email string
	switch kind {
	case KindList:
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return Link{}, ErrBadLink
		}
		err = q.QueryRow("person.by-member-id", n).Scan(&email)
		if errors.Is(err, sql.ErrNoRows) {
			return Link{}, ErrBadLink
		} else if err != nil {
			return Link{}, err
		}
	case KindAgenda:
		err := q.QueryRow("person.by-agenda-link", id).Scan(&email)
		if errors.Is(err, sql.ErrNoRows) {
			return Link{}, ErrBadLink
		} else if err != nil {
			return Link{}, err
		}
	}
	if !hmac.Equal([]byte(mac), []byte(s.mac(kind, id, exp, email))) {
		return Link{}, ErrBadLink
	}
	// Made before its person signed out everywhere: it ended then.
	var out int64
	err = q.QueryRow("weblink.signed-out", store.PersonMAC(s.person, email)).Scan(&out)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Link{}, err
	}
	if out > 0 && at-int64(s.cfg.FooterTTL/time.Second) <= out {
		return Link{}, ErrBadLink
	}
	l := Link{Purpose: PurposeSignIn, Email: email, hash: hash(strings.Join(parts, ".")), expires: time.Unix(at, 0), footer: true}
	var spent int
	if err := q.QueryRow("weblink.spent", l.hash).Scan(&spent); err != nil {
		return Link{}, err
	}
	if spent > 0 {
		return Link{}, ErrBadLink
	}
	if err := q.QueryRow("person.lang", email).Scan(&l.Lang); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Link{}, err
	}
	return l, nil
}

// use marks l used inside tx: ErrBadLink when someone used it first.
func use(tx *store.Tx, l Link, now time.Time) error {
	if l.footer {
		res, err := tx.Exec("weblink.spend", l.hash, l.expires.Unix())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrBadLink
		}
		return nil
	}
	res, err := tx.Exec("weblink.use", now.Unix(), l.hash)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrBadLink
	}
	return nil
}

// Use uses a link of purpose PurposeAttend (the caller records the
// attendance in fn, in the same transaction) and returns what it named.
func (s *Service) Use(ctx context.Context, token, purpose string, fn func(tx *store.Tx, l Link) error) (Link, error) {
	var l Link
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		var err error
		if l, err = s.read(tx, token); err != nil {
			return err
		}
		if l.Purpose != purpose {
			return ErrBadLink
		}
		if err := use(tx, l, s.now()); err != nil {
			return err
		}
		return fn(tx, l)
	})
	return l, err
}

// Session is a signed-in browser.
type Session struct {
	Email   string
	Lang    string // chosen on the pages; "" for none
	Strong  bool   // opened by a link mailed on request
	Created time.Time
	Expires time.Time
	// Key is the hash of the cookie: what a CSRF token is bound to.
	Key string
}

// Open uses a sign-in link and opens a session for its address. It
// returns the session and the cookie's value, which the hub keeps only
// hashed.
func (s *Service) Open(ctx context.Context, token string) (Session, string, error) {
	cookie := newToken() + newToken()
	var sess Session
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		l, err := s.read(tx, token)
		if err != nil {
			return err
		}
		if l.Purpose != PurposeSignIn {
			return ErrBadLink
		}
		now := s.now()
		if err := use(tx, l, now); err != nil {
			return err
		}
		sess = Session{Email: l.Email, Lang: l.Lang, Strong: l.Strong, Created: now, Expires: now.Add(s.cfg.SessionTTL), Key: hash(cookie)}
		_, err = tx.Exec("session.insert", sess.Key, sess.Email, sess.Lang, sess.Strong, now.Unix(), sess.Expires.Unix())
		return err
	})
	if err != nil {
		return Session{}, "", err
	}
	s.log.Info("signed in", "email", sess.Email, "strong", sess.Strong)
	return sess, cookie, nil
}

// Session returns the session of a cookie's value.
func (s *Service) Session(ctx context.Context, cookie string) (Session, error) {
	if cookie == "" || len(cookie) > 100 {
		return Session{}, ErrNoSession
	}
	sess := Session{Key: hash(cookie)}
	var created, expires int64
	err := s.db.QueryRow(ctx, "session.get", sess.Key).Scan(&sess.Email, &sess.Lang, &sess.Strong, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrNoSession
	} else if err != nil {
		return Session{}, err
	}
	sess.Created, sess.Expires = time.Unix(created, 0), time.Unix(expires, 0)
	if !s.now().Before(sess.Expires) {
		return Session{}, ErrNoSession
	}
	return sess, nil
}

// Close ends the session of a cookie's value (signing out).
func (s *Service) Close(ctx context.Context, cookie string) error {
	return s.db.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec("session.delete", hash(cookie))
		return err
	})
}

// CloseAll ends every session of email ("sign out everywhere"), and
// every link to their page made until now: the sign-in links mailed and
// not used yet, and the footers' and digests' links, which are not stored
// (the moment is, under the keyed hash of the address, as long as a link
// made before it could last).
func (s *Service) CloseAll(ctx context.Context, email string) error {
	email = strings.ToLower(strings.TrimSpace(email))
	return s.db.Write(ctx, func(tx *store.Tx) error {
		if err := CloseAllTx(tx, email); err != nil {
			return err
		}
		if _, err := tx.Exec("weblink.drop-signin", email); err != nil {
			return err
		}
		now := s.now()
		_, err := tx.Exec("weblink.signout", store.PersonMAC(s.person, email), now.Unix(), now.Add(s.cfg.FooterTTL).Unix())
		return err
	})
}

// CloseAllTx ends every session of email inside tx.
func CloseAllTx(tx *store.Tx, email string) error {
	_, err := tx.Exec("session.delete-all", strings.ToLower(strings.TrimSpace(email)))
	return err
}

// SetLang records the language email chose on the pages, in their
// sessions.
func SetLang(tx *store.Tx, email, lang string) error {
	_, err := tx.Exec("session.set-lang", lang, strings.ToLower(strings.TrimSpace(email)))
	return err
}
