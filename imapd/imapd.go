// Package imapd is in charge of the list archives over IMAP: a read-only
// IMAP4rev1 server (RFC 3501, with IDLE, RFC 2177) built on
// github.com/emersion/go-imap v1's server package, where a member signs
// in with their address and an app password (package signin) and sees one
// folder per list whose archive they may read, named CODE.NAME. A folder's
// messages are the list's posts as archived (package archive): UIDs are
// the posts' ids, which only grow; UIDVALIDITY is the list's creation
// time, stable for the life of the list. FETCH, SEARCH and IDLE work;
// every write (APPEND, STORE, COPY, EXPUNGE, CREATE, DELETE, RENAME) is
// refused with a NO that says the archive is read-only.
//
// A folder's view is per session, as RFC 3501 §7.4.1 wants sequence
// numbers: new posts and removed ones are told (EXISTS, EXPUNGE) at NOOP
// and CHECK, and while the client idles, within a second.
//
// Sign-ins are limited per address and per client address (failed ones,
// an hour), connections per client address (a minute, and at once);
// without TLS a password is taken only from a loopback client. No
// password is ever logged.
package imapd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap"
	"github.com/emersion/go-imap/backend"
	"github.com/emersion/go-imap/backend/backendutil"
	"github.com/emersion/go-imap/responses"
	"github.com/emersion/go-imap/server"
	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"

	"codeberg.org/relais/relais/store"
)

// Archives is what the server asks of the hub.
type Archives interface {
	// Login checks an address and one of its app passwords; any error
	// refuses (ErrBadLogin, or an internal failure).
	Login(ctx context.Context, email, password string) error
	// Folders lists the archives email may read.
	Folders(ctx context.Context, email string) ([]Folder, error)
	// Reads says whether email may still read list's archive (one of
	// its Folders): asked when a selected folder changes.
	Reads(ctx context.Context, email string, list int64) (bool, error)
}

// Folder is a list's archive as a folder.
type Folder struct {
	Name        string // CODE.NAME
	List        int64
	UIDValidity uint32
}

// ErrBadLogin: wrong address or app password.
var ErrBadLogin = errors.New("imapd: wrong address or app password")

// errGone ends a session whose selected folder is no longer the member's.
var errGone = errors.New("this folder is no longer yours to read")

// errReadOnly is the NO of every write.
var errReadOnly = errors.New("the list archives are read-only: write to the list by mail, or on its page")

// Config is how the server treats its clients.
type Config struct {
	TLS *tls.Config // STARTTLS, and the implicit TLS listener; nil: none
	// FailuresPerAddress and FailuresPerIP: failed sign-ins in an hour
	// after which sign-ins are refused until the hour has passed.
	FailuresPerAddress int
	FailuresPerIP      int
	// ConnectionsPerIPMinute and MaxConnectionsPerIP bound connections
	// from one client address.
	ConnectionsPerIPMinute int
	MaxConnectionsPerIP    int
	// MaxSessionsPerAddress bounds the sessions signed in at once with one
	// address (0: no bound).
	MaxSessionsPerAddress int
	// Poll is how often an idle client's folder is looked at (default
	// a second).
	Poll time.Duration
	Now  func() time.Time
}

// Server is the archives' IMAP server.
type Server struct {
	cfg     Config
	db      *store.DB
	arch    Archives
	log     *slog.Logger
	srv     *server.Server
	limits  *limits
	mu      sync.Mutex
	lns     []net.Listener
	changed map[int64]chan struct{} // closed when a list's archive changes
	// searches bounds the searches that read messages (TEXT, BODY,
	// HEADER, sent dates) running at once, across sessions: each reads
	// and parses every message of the folder, and a member's client
	// asking for them in a loop, from every session it may open, would
	// otherwise take every core from mail. Others wait their turn.
	searches chan struct{}
	// searching, when set (tests), runs while a search that reads
	// messages holds its place. searchWait is how long such a search
	// waits for one before it is answered NO.
	searching  func()
	searchWait time.Duration
}

// Bounds on a SEARCH's criteria: each key is evaluated on every message of
// the folder, and a key that reads messages (TEXT, BODY, HEADER) goes
// through each message's text again. A 1 MB command holds about 150,000
// keys.
const (
	maxSearchKeys     = 64
	maxSearchReadKeys = 16
)

var (
	errSearchKeys = fmt.Errorf("too many search keys: at most %d, of which %d TEXT, BODY or HEADER", maxSearchKeys, maxSearchReadKeys)
	errSearchBusy = errors.New("searches that read messages are all under way: try again later")
)

// searchKeys counts c's keys, and those of them that read messages.
func searchKeys(c *imap.SearchCriteria) (all, reading int) {
	reading = len(c.Header) + len(c.Body) + len(c.Text)
	all = reading + len(c.WithFlags) + len(c.WithoutFlags)
	for _, set := range []bool{c.SeqNum != nil, c.Uid != nil, !c.Since.IsZero(), !c.Before.IsZero(),
		!c.SentSince.IsZero(), !c.SentBefore.IsZero(), c.Larger > 0, c.Smaller > 0} {
		if set {
			all++
		}
	}
	add := func(n *imap.SearchCriteria) {
		a, r := searchKeys(n)
		all, reading = all+a+1, reading+r
	}
	for _, n := range c.Not {
		add(n)
	}
	for _, o := range c.Or {
		add(o[0])
		add(o[1])
	}
	return all, reading
}

// zeros reads as zero bytes: the body a search that reads no message
// matches against, as long as the message, for LARGER and SMALLER.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// deepSearches is how many searches that read messages run at once: half
// the cores, at least one.
func deepSearches() int { return max(1, runtime.NumCPU()/2) }

// New returns the server; Serve starts it on a listener.
func New(cfg Config, db *store.DB, arch Archives, log *slog.Logger) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	s := &Server{cfg: cfg, db: db, arch: arch, log: log, changed: map[int64]chan struct{}{},
		limits: newLimits(cfg, cfg.Now), searches: make(chan struct{}, deepSearches())}
	s.srv = server.New(&imapBackend{s: s})
	// TLS is done below go-imap, on guarded connections (guard.go): the
	// implicit TLS port's, and STARTTLS, which the readOnly extension
	// answers. Login is checked in the backend: a password is taken
	// without TLS only from a loopback client.
	s.srv.TLSConfig = nil
	s.srv.AllowInsecureAuth = true
	s.srv.AutoLogout = 30 * time.Minute
	s.srv.MaxLiteralSize = 64 << 10                // a client sends no message here
	s.srv.ErrorLog = stdlog.New(io.Discard, "", 0) // its lines may quote what a client sent
	ro := &readOnly{s: s}
	s.srv.Enable(ro)
	// go-imap v1's Enable skips an extension that answers for IDLE (it
	// took the old IDLE extension for a built-in one): ours answers for
	// it only once enabled.
	ro.enabled = true
	if os.Getenv("RELAIS_IMAP_DEBUG") != "" {
		s.srv.Debug = os.Stderr
	}
	return s
}

// Serve answers IMAP (STARTTLS when configured) on ln until Close.
func (s *Server) Serve(ln net.Listener) error { return s.serve(ln, false) }

// serve answers IMAP on ln, over implicit TLS when implicit. The limits
// wrap the plain connection, under TLS: go-imap tells a TLS connection
// by its type (*tls.Conn), and would take a wrapped one for clear text.
func (s *Server) serve(ln net.Listener, implicit bool) error {
	ln = s.limits.listener(ln, s.log)
	if implicit {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	ln = guardListener{Listener: ln, tls: implicit}
	s.mu.Lock()
	s.lns = append(s.lns, ln)
	s.mu.Unlock()
	err := s.srv.Serve(ln)
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// ServeTLS answers IMAP over implicit TLS on ln.
func (s *Server) ServeTLS(ln net.Listener) error {
	if s.cfg.TLS == nil {
		return errors.New("imapd: no certificate for implicit TLS")
	}
	return s.serve(ln, true)
}

// Addr returns where the server first listens, nil if it does not.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.lns) == 0 {
		return nil
	}
	return s.lns[0].Addr()
}

// Close stops listening and closes every connection.
func (s *Server) Close() error { return s.srv.Close() }

// Changed tells idle clients of list listID to look at it now (a post
// archived or removed) rather than at their next poll.
func (s *Server) Changed(listID int64) {
	s.mu.Lock()
	if c, ok := s.changed[listID]; ok {
		close(c)
		delete(s.changed, listID)
	}
	s.mu.Unlock()
}

func (s *Server) watch(listID int64) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.changed[listID]
	if !ok {
		c = make(chan struct{})
		s.changed[listID] = c
	}
	return c
}

// imapBackend signs members in.
type imapBackend struct{ s *Server }

func (b *imapBackend) Login(info *imap.ConnInfo, username, password string) (backend.User, error) {
	s := b.s
	ip := clientIP(info.RemoteAddr)
	if !secured(info) && !ip.IsLoopback() {
		return nil, errors.New("use STARTTLS (or the TLS port) first: no password in clear text")
	}
	email := strings.ToLower(strings.TrimSpace(username))
	if !s.limits.mayTry(email, ip) {
		s.log.Info("imap: sign-in refused: too many failures", "client", ipKey(ip))
		return nil, errors.New("too many failed sign-ins: try again in an hour")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.arch.Login(ctx, email, password); err != nil {
		s.limits.failed(email, ip)
		if !errors.Is(err, ErrBadLogin) {
			s.log.Error("imap: sign-in", "err", err)
		}
		return nil, backend.ErrInvalidCredentials
	}
	if !s.limits.open1(email) {
		s.log.Info("imap: sign-in refused: too many sessions for the address", "client", ipKey(ip))
		return nil, errors.New("too many sessions open with this address: close one first")
	}
	return &user{s: s, email: email, password: password}, nil
}

type user struct {
	s        *Server
	email    string
	password string // asked again when a folder changes: revoked, it reads no more
	once     sync.Once
}

func (u *user) Username() string { return u.email }

func (u *user) folders() ([]Folder, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return u.s.arch.Folders(ctx, u.email)
}

// reads says whether the member may still read list listID's archive
// with the app password they signed in with (revoked, or the member
// erased: no more).
func (u *user) reads(listID int64) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := u.s.arch.Login(ctx, u.email, u.password); errors.Is(err, ErrBadLogin) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return u.s.arch.Reads(ctx, u.email, listID)
}

func (u *user) ListMailboxes(subscribed bool) ([]backend.Mailbox, error) {
	fs, err := u.folders()
	if err != nil {
		return nil, err
	}
	out := []backend.Mailbox{&mailbox{u: u, f: Folder{Name: "INBOX"}}}
	for _, f := range fs {
		out = append(out, &mailbox{u: u, f: f})
	}
	return out, nil
}

func (u *user) GetMailbox(name string) (backend.Mailbox, error) {
	if strings.EqualFold(name, "INBOX") {
		// RFC 3501 §5.1: every account has an INBOX; here it is empty.
		return &mailbox{u: u, f: Folder{Name: "INBOX"}}, nil
	}
	fs, err := u.folders()
	if err != nil {
		return nil, err
	}
	for _, f := range fs {
		if f.Name == name {
			return &mailbox{u: u, f: f}, nil
		}
	}
	return nil, backend.ErrNoSuchMailbox
}

func (u *user) CreateMailbox(string) error         { return errReadOnly }
func (u *user) DeleteMailbox(string) error         { return errReadOnly }
func (u *user) RenameMailbox(string, string) error { return errReadOnly }
func (u *user) Logout() error {
	u.once.Do(func() { u.s.limits.close1(u.email) })
	return nil
}

// msg is a message of a session's view of a folder.
type msg struct {
	uid  uint32
	date time.Time
	size uint32
}

// mailbox is a folder, and once selected the session's view of it: the
// messages as the client was last told.
type mailbox struct {
	u    *user
	f    Folder
	mu   sync.Mutex
	view []msg
}

func (m *mailbox) Name() string { return m.f.Name }

func (m *mailbox) Info() (*imap.MailboxInfo, error) {
	return &imap.MailboxInfo{Attributes: []string{imap.NoInferiorsAttr}, Delimiter: "/", Name: m.f.Name}, nil
}

// load reads the folder's messages from uid after on.
func (m *mailbox) load(after uint32) ([]msg, error) {
	if m.f.List == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := m.u.s.db.Query(ctx, "imap.since", m.f.List, after)
	if err != nil {
		return nil, err
	}
	var out []msg
	for rows.Next() {
		var id, at, size int64
		if err := rows.Scan(&id, &at, &size); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, msg{uid: uint32(id), date: time.Unix(at, 0), size: uint32(size)})
	}
	return out, errors.Join(rows.Err(), rows.Close())
}

func (m *mailbox) Status(items []imap.StatusItem) (*imap.MailboxStatus, error) {
	view, err := m.load(0)
	if err != nil {
		return nil, err
	}
	// Status of the selected folder (SELECT, EXAMINE) sets the view.
	m.mu.Lock()
	m.view = view
	m.mu.Unlock()
	st := imap.NewMailboxStatus(m.f.Name, items)
	st.Flags = []string{imap.SeenFlag}
	st.PermanentFlags = []string{}
	st.ReadOnly = true
	var next uint32 = 1
	if m.f.List != 0 {
		var n int64
		if err := m.u.s.db.QueryRow(context.Background(), "imap.next").Scan(&n); err != nil {
			return nil, err
		}
		next = uint32(n)
	}
	for _, it := range items {
		switch it {
		case imap.StatusMessages:
			st.Messages = uint32(len(view))
		case imap.StatusUidNext:
			st.UidNext = next
		case imap.StatusUidValidity:
			st.UidValidity = max(m.f.UIDValidity, 1)
		case imap.StatusRecent:
			st.Recent = 0
		case imap.StatusUnseen:
			st.Unseen = 0
		}
	}
	return st, nil
}

func (m *mailbox) SetSubscribed(bool) error { return nil } // every folder is subscribed
func (m *mailbox) Check() error             { return nil }

// each calls fn for the messages of the view in set (UIDs or sequence
// numbers), in order, without scanning the whole view for each.
func (m *mailbox) each(uid bool, set *imap.SeqSet, fn func(seq uint32, x msg) error) error {
	m.mu.Lock()
	view := m.view
	m.mu.Unlock()
	if len(view) == 0 {
		return nil
	}
	last := uint32(len(view))
	if uid {
		last = view[len(view)-1].uid
	}
	done := map[uint32]bool{}
	for _, r := range set.Set {
		lo, hi := r.Start, r.Stop
		if lo == 0 {
			lo = last
		}
		if hi == 0 {
			hi = last
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		var i int
		if uid {
			i = sort.Search(len(view), func(i int) bool { return view[i].uid >= lo })
		} else {
			i = int(lo) - 1
		}
		for ; i < len(view); i++ {
			key := uint32(i + 1)
			if uid {
				key = view[i].uid
			}
			if key > hi {
				break
			}
			if done[uint32(i)] {
				continue
			}
			done[uint32(i)] = true
			if err := fn(uint32(i+1), view[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *mailbox) body(uid uint32) ([]byte, error) {
	var b []byte
	err := m.u.s.db.QueryRow(context.Background(), "imap.body", int64(uid), m.f.List).Scan(&b)
	return b, err
}

func (m *mailbox) ListMessages(uid bool, set *imap.SeqSet, items []imap.FetchItem, ch chan<- *imap.Message) error {
	defer close(ch)
	return m.each(uid, set, func(seq uint32, x msg) error {
		out := imap.NewMessage(seq, items)
		var raw []byte
		body := func() ([]byte, error) {
			if raw == nil {
				var err error
				if raw, err = m.body(x.uid); err != nil {
					return nil, err
				}
			}
			return raw, nil
		}
		for _, it := range items {
			switch it {
			case imap.FetchUid:
				out.Uid = x.uid
			case imap.FetchFlags:
				out.Flags = []string{}
			case imap.FetchInternalDate:
				out.InternalDate = x.date
			case imap.FetchRFC822Size:
				out.Size = x.size
			case imap.FetchEnvelope, imap.FetchBody, imap.FetchBodyStructure:
				b, err := body()
				if err != nil {
					return nil // removed meanwhile: told at the next NOOP
				}
				br := bufio.NewReader(bytes.NewReader(b))
				h, err := textproto.ReadHeader(br)
				if err != nil {
					continue
				}
				if it == imap.FetchEnvelope {
					out.Envelope, _ = backendutil.FetchEnvelope(h)
				} else {
					out.BodyStructure, _ = backendutil.FetchBodyStructure(h, br, it == imap.FetchBodyStructure)
				}
			default:
				section, err := imap.ParseBodySectionName(it)
				if err != nil {
					continue
				}
				b, err := body()
				if err != nil {
					return nil
				}
				if section.Specifier == imap.EntireSpecifier && len(section.Path) == 0 && section.Partial == nil {
					out.Body[section] = bytes.NewReader(b) // the whole message, as archived
					continue
				}
				br := bufio.NewReader(bytes.NewReader(b))
				h, err := textproto.ReadHeader(br)
				if err != nil {
					continue
				}
				l, err := backendutil.FetchBodySection(h, br, section)
				if err != nil {
					l = bytes.NewReader(nil)
				}
				out.Body[section] = l
			}
		}
		ch <- out
		return nil
	})
}

// needsContent says whether criteria look into messages (header, body,
// text, sent dates), rather than only at UIDs, dates and sizes.
func needsContent(c *imap.SearchCriteria) bool {
	if len(c.Header) > 0 || len(c.Body) > 0 || len(c.Text) > 0 || !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		return true
	}
	for _, n := range c.Not {
		if needsContent(n) {
			return true
		}
	}
	for _, o := range c.Or {
		if needsContent(o[0]) || needsContent(o[1]) {
			return true
		}
	}
	return false
}

func (m *mailbox) SearchMessages(uid bool, c *imap.SearchCriteria) ([]uint32, error) {
	m.mu.Lock()
	view := m.view
	m.mu.Unlock()
	if all, reading := searchKeys(c); all > maxSearchKeys || reading > maxSearchReadKeys {
		return nil, errSearchKeys
	}
	deep := needsContent(c)
	if deep {
		s := m.u.s
		wait := s.searchWait
		if wait <= 0 {
			wait = 30 * time.Second
		}
		t := time.NewTimer(wait)
		select {
		case s.searches <- struct{}{}:
			t.Stop()
		case <-t.C:
			return nil, errSearchBusy
		}
		defer func() { <-s.searches }()
		if s.searching != nil {
			s.searching()
		}
	}
	var out []uint32
	for i, x := range view {
		var e *message.Entity
		if deep {
			b, err := m.body(x.uid)
			if err != nil {
				continue
			}
			if e, err = message.Read(bytes.NewReader(b)); e == nil {
				continue
			}
		} else {
			// Read only by LARGER and SMALLER, at any depth: the
			// message's size, which the view knows.
			e = &message.Entity{Body: io.LimitReader(zeros{}, int64(x.size))}
		}
		ok, err := backendutil.Match(e, uint32(i+1), x.uid, x.date, nil, c)
		if err != nil || !ok {
			continue
		}
		if uid {
			out = append(out, x.uid)
		} else {
			out = append(out, uint32(i+1))
		}
	}
	return out, nil
}

func (m *mailbox) CreateMessage([]string, time.Time, imap.Literal) error { return errReadOnly }
func (m *mailbox) UpdateMessagesFlags(bool, *imap.SeqSet, imap.FlagsOp, []string) error {
	return errReadOnly
}
func (m *mailbox) CopyMessages(bool, *imap.SeqSet, string) error { return errReadOnly }
func (m *mailbox) Expunge() error                                { return errReadOnly }

// sync tells the client what changed in the folder since it was last
// told: each message gone (EXPUNGE, from the last, so numbers hold), then
// the new count (EXISTS).
func (m *mailbox) sync(conn server.Conn) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.f.List == 0 {
		return nil
	}
	// Most polls find nothing new: the count and the last UID say so
	// without reading the folder.
	var count, top int64
	if err := m.u.s.db.QueryRow(context.Background(), "imap.count", m.f.List).Scan(&count, &top); err != nil {
		return err
	}
	if int(count) == len(m.view) && (count == 0 || uint32(top) == m.view[len(m.view)-1].uid) {
		return nil
	}
	// The folder changed: is it still the member's to read? An owner may
	// have removed them from the list (or the archive may be for owners
	// now), or they revoked the app password, since they selected it;
	// they are told nothing more of it.
	if ok, err := m.u.reads(m.f.List); err != nil {
		return err
	} else if !ok {
		m.u.s.log.Info("imap: folder no longer readable, session closed", "list", m.f.List)
		conn.WriteResp(&imap.StatusResp{Type: imap.StatusRespBye, Info: "this folder is no longer yours to read"})
		conn.Close()
		return errGone
	}
	now, err := m.load(0)
	if err != nil {
		return err
	}
	present := make(map[uint32]bool, len(now))
	for _, x := range now {
		present[x.uid] = true
	}
	for i := len(m.view) - 1; i >= 0; i-- {
		if present[m.view[i].uid] {
			continue
		}
		ch := make(chan uint32, 1)
		ch <- uint32(i + 1)
		close(ch)
		if err := conn.WriteResp(&responses.Expunge{SeqNums: ch}); err != nil {
			return err
		}
		m.view = append(m.view[:i], m.view[i+1:]...)
	}
	var last uint32
	if len(m.view) > 0 {
		last = m.view[len(m.view)-1].uid
	}
	added := false
	for _, x := range now {
		if x.uid > last {
			m.view = append(m.view, x)
			added = true
		}
	}
	if added {
		st := imap.NewMailboxStatus(m.f.Name, []imap.StatusItem{imap.StatusMessages})
		st.Messages = uint32(len(m.view))
		if err := conn.WriteResp(&responses.Select{Mailbox: st}); err != nil {
			return err
		}
	}
	return nil
}

// readOnly is the extension that replaces NOOP, CHECK and IDLE: each
// tells the client of the selected folder's changes.
type readOnly struct {
	s       *Server
	enabled bool
}

// Capabilities: STARTTLS before TLS when the hub has a certificate, and
// LOGINDISABLED (RFC 3501 §6.2.3) where a password would cross the
// network in clear text, so that a client does not send it.
func (r *readOnly) Capabilities(c server.Conn) []string {
	if c.Context().State != imap.NotAuthenticatedState || secured(c.Info()) {
		return nil
	}
	var caps []string
	if r.s.cfg.TLS != nil {
		caps = append(caps, "STARTTLS")
	}
	if !clientIP(c.Info().RemoteAddr).IsLoopback() {
		caps = append(caps, "LOGINDISABLED")
	}
	return caps
}

func (r *readOnly) Command(name string) server.HandlerFactory {
	switch name {
	case "STARTTLS":
		return func() server.Handler { return &startTLSCmd{s: r.s} }
	case "NOOP", "CHECK":
		return func() server.Handler { return &noop{} }
	case "IDLE":
		if !r.enabled {
			return nil
		}
		return func() server.Handler { return &idle{s: r.s} }
	}
	return nil
}

type noop struct{}

func (n *noop) Parse([]interface{}) error { return nil }

func (n *noop) Handle(conn server.Conn) error {
	if m, ok := conn.Context().Mailbox.(*mailbox); ok {
		return m.sync(conn)
	}
	return nil
}

// idle waits for DONE (RFC 2177), telling the client of each change in
// the selected folder meanwhile.
type idle struct{ s *Server }

func (c *idle) Parse([]interface{}) error { return nil }

func (c *idle) Handle(conn server.Conn) error {
	if err := conn.WriteResp(&imap.ContinuationReq{Info: "idling"}); err != nil {
		return err
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	if m, ok := conn.Context().Mailbox.(*mailbox); ok {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(c.s.cfg.Poll)
			defer t.Stop()
			for {
				changed := c.s.watch(m.f.List)
				if err := m.sync(conn); err != nil {
					return
				}
				select {
				case <-stop:
					return
				case <-changed:
				case <-t.C:
				}
			}
		}()
	}
	scanner := bufio.NewScanner(conn)
	scanner.Scan()
	close(stop)
	wg.Wait()
	if err := scanner.Err(); err != nil {
		return err
	}
	if !strings.EqualFold(strings.TrimSpace(scanner.Text()), "DONE") {
		return fmt.Errorf("expected DONE")
	}
	return nil
}
