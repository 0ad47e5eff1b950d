// Package lists is in charge of mailing lists on the hub's coded addresses:
// subscriptions by email with double opt-in and a record of consent,
// commands (+subscribe, +unsubscribe, +help, +request, +owner), posting
// policies and moderation by reply, the list header fields (RFC 2369, RFC
// 2919) with a personal one-click unsubscribe (RFC 8058), footers,
// DMARC-safe From rewriting (RFC 7960 §4.1.3), bounce scores, digests
// (RFC 1153 table of contents in a MIME digest, RFC 2046 §5.1.5), pauses,
// territory lists (CODE.groupes) and the archive (mbox export).
//
// Everything it sends goes through the queue: a post is stored once and
// each member's copy is made at send time by Service.Personalize.
package lists

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/audit"
	"codeberg.org/relais/relais/internal/keymac"
	"codeberg.org/relais/relais/mailauth"
	"codeberg.org/relais/relais/queue"
	"codeberg.org/relais/relais/store"
	"codeberg.org/relais/relais/templates"
)

// Sentinel errors of package lists.
var (
	ErrNotFound  = errors.New("lists: no such list")
	ErrExists    = errors.New("lists: address already in use")
	ErrBadToken  = errors.New("lists: unknown or forged token")
	ErrNotMember = errors.New("lists: not a member")
)

// Posting policies.
const (
	Announce  = "announce"  // only owners and moderators post
	Members   = "members"   // members post; others are held
	Moderated = "moderated" // everything from others than owners is held
	Open      = "open"      // anyone posts
)

// Policies lists the posting policies, for help texts and validation.
var Policies = []string{Announce, Members, Moderated, Open}

// Kinds of outbound messages the package queues.
const (
	KindPost   = "list"        // a post, personalised per member
	KindDigest = "list-digest" // a digest, personalised per member
	KindNotice = "list-notice" // confirmations, replies to commands, moderation
	KindOwner  = "list-owner"  // mail to +owner, forwarded as is
	KindZone   = "territory"   // a post to CODE.groupes
)

// List is a mailing list.
type List struct {
	ID            int64
	Code          address.Code
	Name          string
	DisplayName   string
	Policy        string
	ReplyTo       string // "list" or "poster"
	SubjectPrefix bool
	Lang          string
	MaxBytes      int64 // 0: the hub's default
	RatePerHour   int   // 0: the hub's default
	Archive       bool
	Auth          string // how a poster's From is judged: AuthStrict, AuthRelaxed, AuthOff
	Owners        []Owner
	Created       time.Time
	Texts         Texts // its own words, its digest offer
}

// Owner is an owner or a moderator of a list.
type Owner struct {
	Email string
	Role  string // owner, moderator
}

// How a list judges a poster's From (List.Auth).
const (
	// AuthStrict holds a post that is not proven: DMARC pass, or SPF or
	// DKIM aligned with From when its domain publishes no DMARC.
	AuthStrict = "strict"
	// AuthRelaxed holds a post only when it is shown forged: DMARC or SPF
	// fail (for lists whose members write through forwarders that break
	// both).
	AuthRelaxed = "relaxed"
	// AuthOff believes the From line.
	AuthOff = "off"
)

// Local returns the list's local part: "4405.discussion".
func (l List) Local() string { return l.Code.Local() + "." + l.Name }

// Validate checks a list before it is stored, normalising it; errors are
// sentences an operator can act on.
func (l *List) Validate() error {
	var errs []error
	if l.Name == address.TerritoryName {
		errs = append(errs, fmt.Errorf("%q is reserved for territory lists", l.Name))
	}
	if !contains(Policies, l.Policy) {
		errs = append(errs, fmt.Errorf("policy %q: one of %s", l.Policy, strings.Join(Policies, ", ")))
	}
	switch l.ReplyTo {
	case "":
		l.ReplyTo = "poster"
		if l.Policy == Members {
			l.ReplyTo = "list"
		}
	case "list", "poster":
	default:
		errs = append(errs, fmt.Errorf("reply-to %q: list or poster", l.ReplyTo))
	}
	if l.Lang == "" {
		l.Lang = "fr"
	}
	if !contains(templates.Languages, l.Lang) {
		errs = append(errs, fmt.Errorf("language %q: one of %s", l.Lang, strings.Join(templates.Languages, ", ")))
	}
	switch l.Auth {
	case "":
		l.Auth = AuthStrict
	case AuthStrict, AuthRelaxed, AuthOff:
	default:
		errs = append(errs, fmt.Errorf("auth %q: strict, relaxed or off", l.Auth))
	}
	if l.MaxBytes < 0 || l.RatePerHour < 0 {
		errs = append(errs, errors.New("size and rate limits cannot be negative"))
	}
	if len(l.Owners) == 0 {
		errs = append(errs, errors.New("at least one owner is required (--owner)"))
	}
	seen := map[string]bool{}
	clean := l.Owners[:0:0]
	for _, o := range l.Owners {
		a, err := mail.ParseAddress(o.Email)
		if err != nil || !strings.Contains(a.Address, ".") {
			errs = append(errs, fmt.Errorf("owner %q is not an email address", o.Email))
			continue
		}
		if o.Role == "" {
			o.Role = "owner"
		}
		if o.Role != "owner" && o.Role != "moderator" {
			errs = append(errs, fmt.Errorf("role %q: owner or moderator", o.Role))
		}
		o.Email = strings.ToLower(a.Address)
		if !seen[o.Email] {
			seen[o.Email] = true
			clean = append(clean, o)
		}
	}
	l.Owners = clean
	if l.DisplayName == "" {
		l.DisplayName = l.Local()
	}
	if err := checkName(l.DisplayName); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// maxName bounds a list's display name, in characters.
const maxName = 200

// checkName refuses a display name that header fields (List-Id, the
// From of notices) and pages cannot carry: one line of printable
// characters, at most maxName of them. A line break would make every
// copy fail as it is written.
func checkName(n string) error {
	if utf8.RuneCountInString(n) > maxName {
		return fmt.Errorf("a name of at most %d characters", maxName)
	}
	if strings.ContainsFunc(n, func(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' }) || !utf8.ValidString(n) {
		return errors.New("a name of one line, without control characters")
	}
	return nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// Config is what the lists need to know about the hub.
type Config struct {
	Domain   string // the domain lists write from (the hub's first)
	Domains  []string
	Hostname string // for Message-IDs
	// WebURL is the base of the personal unsubscribe links:
	// WebURL + "/u/" + token.
	WebURL string
	Lang   string // default language of messages to people

	ConfirmTTL  time.Duration // how long a confirmation stays valid
	HoldTTL     time.Duration // how long a held post waits for a moderator
	MaxBytes    int64         // default size limit of a post
	RatePerHour int           // default posts per poster and hour
	// A member whose bounce score reaches BounceThreshold is set to
	// "bouncing" and is sent nothing more; scores older than BounceStale
	// start again from zero. At most one bounce counts per day.
	BounceThreshold float64
	BounceStale     time.Duration
	// Operators may post to territory lists, and moderate them.
	Operators []string
	// AuthservID is the id of the Authentication-Results field the hub
	// adds to what it receives: where posters' verdicts are read.
	AuthservID string
	// SubscribePerAddress and SubscribePerIP cap the subscriptions asked
	// for by mail in an hour, per address and per client address (0: no
	// cap).
	SubscribePerAddress int
	SubscribePerIP      int
	// AnswersPerHour caps the answers to commands sent to one address in
	// an hour, across all lists (0: no cap).
	AnswersPerHour int
	// IPExempt says whether a client address is a mail server in front
	// of the hub (everyone's mail comes from it): no per-IP cap there.
	IPExempt func(ip string) bool
	// OnHold, if set, is told the reason of each post held (metrics).
	OnHold func(reason string)
	// Manage, if set, makes the link of a member's footer to their page.
	Manage ManageURL

	Now func() time.Time
}

// Service runs the lists of one hub.
type Service struct {
	db     *store.DB
	q      *queue.Queue
	texts  *templates.Set
	dns    mailauth.Resolver
	cfg    Config
	log    *slog.Logger
	secret []byte

	mu       sync.Mutex
	cache    map[int64]cachedList    // lists, for personalising copies
	policies map[string]cachedPolicy // DMARC policies by domain

	copiesMu sync.Mutex
	copies   map[int64]memberRead // by delivery id: members read for the copies being made (memberOf)
	ahead    readAhead            // the next batch, read while the workers use this one

	lastRef atomic.Pointer[parsedRef] // the ref of the copies being made (readRef)
	macs    keymac.Pool               // HMAC-SHA256 under secret (mac)
}

type cachedList struct {
	l    List
	when time.Time
}

// New returns the list service.
func New(ctx context.Context, db *store.DB, q *queue.Queue, texts *templates.Set, dns mailauth.Resolver, cfg Config, log *slog.Logger) (*Service, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Lang == "" {
		cfg.Lang = "fr"
	}
	secret, err := db.Secret(ctx, "lists")
	if err != nil {
		return nil, fmt.Errorf("lists: %w", err)
	}
	return &Service{db: db, q: q, texts: texts, dns: dns, cfg: cfg, log: log, secret: secret, cache: map[int64]cachedList{}, policies: map[string]cachedPolicy{},
		copies: map[int64]memberRead{}}, nil
}

func (s *Service) now() time.Time { return s.cfg.Now() }

// SetWebURL sets the base of unsubscribe links once the web listener is
// known.
func (s *Service) SetWebURL(u string) {
	s.mu.Lock()
	s.cfg.WebURL = u
	s.mu.Unlock()
}

func (s *Service) webURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.WebURL
}

// Address returns the list's address, with an optional +detail.
func (s *Service) Address(l List, detail string) string {
	if detail != "" {
		return l.Local() + "+" + detail + "@" + s.cfg.Domain
	}
	return l.Local() + "@" + s.cfg.Domain
}

// FromAddress is the list's address with detail as the From of mail the
// hub writes for the list: the letter-first spelling (address.FromPrefix),
// which routes to the same place.
func (s *Service) FromAddress(l List, detail string) string {
	return address.FromPrefix + s.Address(l, detail)
}

// Create stores a new list. Its CODE.NAME must not be a group's.
func Create(ctx context.Context, db *store.DB, l List, a audit.Actor) (List, error) {
	if err := l.Validate(); err != nil {
		return l, err
	}
	err := db.Write(ctx, func(tx *store.Tx) error {
		if err := create(tx, &l); err != nil {
			return err
		}
		return audit.Record(tx, a, time.Now(), "list.create", l.Local(), l.Policy)
	})
	return l, err
}

// Update stores new settings and owners for an existing list.
func Update(ctx context.Context, db *store.DB, l List, a audit.Actor) (List, error) {
	if err := l.Validate(); err != nil {
		return l, err
	}
	err := db.Write(ctx, func(tx *store.Tx) error {
		if err := update(tx, &l); err != nil {
			return err
		}
		return audit.Record(tx, a, time.Now(), "list.settings", l.Local(), "")
	})
	return l, err
}

func create(tx *store.Tx, l *List) error {
	var n int
	if err := tx.QueryRow("list.group-exists", l.Code.String(), l.Name).Scan(&n); err != nil {
		return err
	}
	var id int64
	err := tx.QueryRow("list.id-by-address", l.Code.String(), l.Name).Scan(&id)
	if n > 0 || err == nil {
		return fmt.Errorf("%w: %s", ErrExists, l.Local())
	} else if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	l.Created = time.Now().Truncate(time.Second)
	res, err := tx.Exec("list.insert", l.Code.String(), l.Name, l.DisplayName, l.Policy, l.ReplyTo, l.SubjectPrefix,
		l.Lang, l.MaxBytes, l.RatePerHour, l.Archive, l.Created.Unix(), l.Auth)
	if err != nil {
		return err
	}
	if l.ID, err = res.LastInsertId(); err != nil {
		return err
	}
	return setOwners(tx, l.ID, l.Owners)
}

func update(tx *store.Tx, l *List) error {
	if _, err := tx.Exec("list.update", l.DisplayName, l.Policy, l.ReplyTo, l.SubjectPrefix, l.Lang, l.MaxBytes,
		l.RatePerHour, l.Archive, l.Auth, l.ID); err != nil {
		return err
	}
	return setOwners(tx, l.ID, l.Owners)
}

func setOwners(tx *store.Tx, id int64, owners []Owner) error {
	if _, err := tx.Exec("owner.clear", id); err != nil {
		return err
	}
	for _, o := range owners {
		if _, err := tx.Exec("owner.add", id, o.Email, o.Role); err != nil {
			return err
		}
	}
	return nil
}

// Lookup returns the id of the list with this code and name.
func Lookup(ctx context.Context, db *store.DB, code address.Code, name string) (int64, error) {
	var id int64
	err := db.QueryRow(ctx, "list.id-by-address", code.String(), name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	return id, err
}

// Find returns the list named by "CODE.NAME".
func Find(ctx context.Context, db *store.DB, local string) (List, error) {
	code, name, err := address.GroupLocal(local)
	if err != nil {
		return List{}, err
	}
	id, err := Lookup(ctx, db, code, name)
	if err != nil {
		return List{}, fmt.Errorf("%w: %s", err, local)
	}
	return get(db.Reader(ctx), id)
}

type queryer interface {
	QueryRow(name string, args ...any) *sql.Row
	Query(name string, args ...any) (*sql.Rows, error)
}

type scanner interface{ Scan(...any) error }

func scanList(row scanner) (List, error) {
	var l List
	var code string
	var created int64
	err := row.Scan(&l.ID, &code, &l.Name, &l.DisplayName, &l.Policy, &l.ReplyTo, &l.SubjectPrefix, &l.Lang,
		&l.MaxBytes, &l.RatePerHour, &l.Archive, &created, &l.Auth)
	if err != nil {
		return l, err
	}
	l.Code, err = address.ParseCode(code)
	l.Created = time.Unix(created, 0)
	return l, err
}

func get(tx queryer, id int64) (List, error) {
	l, err := scanList(tx.QueryRow("list.get", id))
	if errors.Is(err, sql.ErrNoRows) {
		return l, fmt.Errorf("%w: id %d", ErrNotFound, id)
	} else if err != nil {
		return l, err
	}
	rows, err := tx.Query("owner.list", id)
	if err != nil {
		return l, err
	}
	defer rows.Close()
	for rows.Next() {
		var o Owner
		if err := rows.Scan(&o.Email, &o.Role); err != nil {
			return l, err
		}
		l.Owners = append(l.Owners, o)
	}
	if err := rows.Err(); err != nil {
		return l, err
	}
	l.Texts, err = listTexts(tx, id)
	return l, err
}

// All returns every list with its owners.
func All(ctx context.Context, db *store.DB) ([]List, error) {
	r := db.Reader(ctx)
	rows, err := r.Query("list.all")
	if err != nil {
		return nil, err
	}
	var out []List
	for rows.Next() {
		l, err := scanList(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, l)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	for i := range out {
		if out[i], err = get(r, out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// cached returns list id from a short-lived cache: personalising ten
// thousand copies reads the list once.
func (s *Service) cached(ctx context.Context, id int64) (List, error) {
	s.mu.Lock()
	c, ok := s.cache[id]
	s.mu.Unlock()
	if ok && s.now().Sub(c.when) < time.Minute && s.now().Sub(c.when) >= 0 {
		return c.l, nil
	}
	l, err := get(s.db.Reader(ctx), id)
	if err != nil {
		return l, err
	}
	s.mu.Lock()
	if len(s.cache) > 1000 {
		clear(s.cache)
	}
	s.cache[id] = cachedList{l: l, when: s.now()}
	s.mu.Unlock()
	return l, nil
}

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newToken returns 100 random bits, lower case: local parts may be folded.
func newToken() string {
	var b [13]byte
	rand.Read(b[:])
	return b32.EncodeToString(b[:])[:20]
}

// UnsubscribeToken is the personal token of a member's one-click
// unsubscribe link: the member id and an HMAC over list, member and
// address under the hub's secret, so links cannot be made for others.
func (s *Service) UnsubscribeToken(listID, memberID int64, email string) string {
	return strconv.FormatInt(memberID, 10) + "-" + s.mac(listID, memberID, email)
}

// mac is the HMAC of "unsubscribe:LIST:MEMBER:email" (the email in lower
// case), its first 10 bytes in base32. It is made for every copy of a
// post: with an HMAC of the pool, reset, rather than a new one.
func (s *Service) mac(listID, memberID int64, email string) string {
	var buf [128]byte
	b := append(buf[:0], "unsubscribe:"...)
	b = strconv.AppendInt(b, listID, 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, memberID, 10)
	b = append(b, ':')
	b = append(b, strings.ToLower(email)...)
	sum := s.macs.Sum(s.secret, b)
	return b32.EncodeToString(sum[:10])
}

// checkToken returns the member an unsubscribe token names.
func (s *Service) checkToken(ctx context.Context, tok string) (Member, error) {
	ids, mac, ok := strings.Cut(strings.ToLower(tok), "-")
	var id int64
	if _, err := fmt.Sscan(ids, &id); !ok || err != nil || id <= 0 {
		return Member{}, ErrBadToken
	}
	m, err := scanMember(s.db.QueryRow(ctx, "member.by-id", id))
	if errors.Is(err, sql.ErrNoRows) {
		return m, ErrBadToken
	} else if err != nil {
		return m, err
	}
	if !hmac.Equal([]byte(mac), []byte(s.mac(m.ListID, m.ID, m.Email))) {
		return Member{}, ErrBadToken
	}
	return m, nil
}
