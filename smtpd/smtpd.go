// Package smtpd is in charge of receiving mail: the go-smtp Backend and
// Session, the limits (size, recipients, connections per client address),
// and the SMTP answers. It asks a Router what each recipient is while the
// client waits at RCPT, and hands each message to a Spool, answering 250
// only once the Spool says the message is durably stored.
//
// It implements the server side of RFC 5321, with SIZE (RFC 1870),
// 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), STARTTLS (RFC 3207) and
// enhanced status codes (RFC 3463) through go-smtp. Every answer a session
// gives is an *smtp.SMTPError built in replies.go; an internal failure
// becomes 451 4.3.0 with a generic sentence, never its error text.
package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"codeberg.org/relais/relais/templates"
)

// Route is what a recipient is, decided at RCPT and stored with the message:
// Kind names the handler (group, bounce, role), Target what it acts on.
type Route struct {
	Kind   string
	Target string
}

// Router decides what a recipient address is. Four things might happen:
//   - the address exists: its Route, nil;
//   - the domain is not the hub's: an error wrapping ErrRelayDenied;
//   - the domain is the hub's but nothing answers there: an error wrapping
//     ErrUnknownRecipient (a *RecipientError when there is a reason to
//     tell, such as a circonscription that does not exist);
//   - the router could not tell (database trouble): any other error, which
//     the client sees as a temporary failure.
type Router interface {
	Route(ctx context.Context, rcpt string) (Route, error)
}

// Errors a Router returns.
var (
	ErrUnknownRecipient = errors.New("smtpd: unknown recipient")
	ErrRelayDenied      = errors.New("smtpd: relay denied")
)

// RecipientError is an unknown recipient with a reason the sender may
// read: Reason names it, for the log and for the reply bad-address of
// templates/replies.tmpl, which says it in French and in English; Data
// holds what that sentence needs (a département's name, a number).
type RecipientError struct {
	Reason string
	Data   map[string]any
}

func (e *RecipientError) Error() string { return "smtpd: unknown recipient: " + e.Reason }

// Unwrap makes a RecipientError an ErrUnknownRecipient.
func (e *RecipientError) Unwrap() error { return ErrUnknownRecipient }

// Envelope is what the SMTP dialogue said about one message.
type Envelope struct {
	ID       string // queue id, in the Received field and in logs
	From     string // reverse path; "" for the null sender
	Rcpts    []Rcpt
	RemoteIP string
	Helo     string
	TLS      bool
	SMTPUTF8 bool
	Body8Bit bool
	Received time.Time
}

// Rcpt is one accepted recipient and its route.
type Rcpt struct {
	Addr  string
	Route Route
}

// Spool stores accepted messages. Accept returns nil only once the
// message (body as given, Received field included) and its envelope with
// every recipient's route are durably on disk.
type Spool interface {
	Accept(ctx context.Context, env *Envelope, body []byte) error
}

// Checker judges a message on proof (SPF, DKIM, DMARC) while its sender
// waits, and says what to store: the verdict, a field to put on top, and
// the message without fields that forge one (msg itself when it has none;
// the session copies what it keeps). Two things may happen:
//   - the message is acceptable: the field, the message, nil;
//   - it is not: nil, nil and a Refusal, which the sender hears now
//     rather than in a bounce later.
type Checker interface {
	Check(ctx context.Context, env *Envelope, msg []byte) (field, body []byte, refusal *Refusal)
}

// Refusal is why a Checker refuses a message, and the detail the sender
// may read (a domain).
type Refusal struct {
	Why    Why
	Detail string
}

// Why a message is refused by a Checker.
type Why int

const (
	// DMARCReject: not proven, and its domain asks receivers to refuse
	// such mail (RFC 7489 §6.3 p=reject).
	DMARCReject Why = iota + 1
	// HubFrom: the From is in the hub's own domain (or one aligned with
	// it) and nothing proves the hub wrote it.
	HubFrom
	// HubName: the From's display name or local part shows an address of
	// the hub's own domain.
	HubName
	// HubSender: a Sender field shows an address of the hub's own domain
	// (mail clients show it as the one who sent "on behalf of" the From),
	// and the From is not the hub's, proven.
	HubSender
)

// Config is the listener's limits and identity.
type Config struct {
	Hostname            string
	MaxMessageBytes     int64
	MaxHeaderBytes      int64 // 0: no limit of its own
	MaxRecipients       int
	MaxConnectionsPerIP int
	MaxConnections      int
	LimitExempt         []*net.IPNet // bound by none of the per-client limits
	// ConnectionsPerIPMinute, MessagesPerIPHour and MessagesPerSenderHour
	// are rate limits (0: none): beyond them a client gets 421 at connect
	// or 450 at MAIL FROM, and may come back later.
	ConnectionsPerIPMinute int
	MessagesPerIPHour      int
	MessagesPerSenderHour  int
	// Timeout is how long the hub waits for each command (RFC 5321
	// §4.5.3.2.7) and for each of its own writes; Limits bound the rest of
	// a client's time.
	Timeout time.Duration
	Limits  Limits
	TLS     *tls.Config // nil: no STARTTLS
	Checker Checker     // nil: messages are stored unjudged
	// NewID returns a fresh queue id.
	NewID func() string
	// Now is the clock of the rate limits (default time.Now).
	Now func() time.Time
	// Observer is told of sessions, acceptances and refusals (metrics);
	// nil: nobody.
	Observer Observer
}

// Observer is told what the server does, as it happens. Its methods must
// not block.
type Observer interface {
	Session()              // a connection is served
	Accepted()             // a message was stored and answered 250
	Refused(reason string) // a refusal (4xx or 5xx), named after its reply
}

type nopObserver struct{}

func (nopObserver) Session()       {}
func (nopObserver) Accepted()      {}
func (nopObserver) Refused(string) {}

// Server receives mail on one or more listeners.
type Server struct {
	cfg    Config
	router Router
	spool  Spool
	texts  *templates.Set
	log    *slog.Logger
	smtp   *smtp.Server

	ctx    context.Context // ends when the server is closed
	cancel context.CancelFunc

	cid     atomic.Uint64
	mu      sync.Mutex
	perIP   map[string]int
	open    int
	closing bool
	lns     []net.Listener // closed by Shutdown, even if go-smtp has not seen them yet

	connRate, ipRate, senderRate *rate
}

// New returns a server; call Serve with listeners.
func New(cfg Config, router Router, spool Spool, texts *templates.Set, log *slog.Logger) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	s := &Server{cfg: cfg, router: router, spool: spool, texts: texts, log: log,
		perIP: make(map[string]int), ctx: ctx, cancel: cancel,
		connRate:   newRate(time.Minute, cfg.ConnectionsPerIPMinute),
		ipRate:     newRate(time.Hour, cfg.MessagesPerIPHour),
		senderRate: newRate(time.Hour, cfg.MessagesPerSenderHour)}
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = cfg.Hostname
	srv.MaxMessageBytes = cfg.MaxMessageBytes
	srv.MaxRecipients = cfg.MaxRecipients
	srv.ReadTimeout = cfg.Timeout
	srv.WriteTimeout = cfg.Timeout
	srv.TLSConfig = cfg.TLS
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = slogAdapter{log}
	s.smtp = srv
	return s
}

// Serve accepts connections on l until the server is shut down.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	s.lns = append(s.lns, l)
	s.mu.Unlock()
	err := s.smtp.Serve(&limitListener{Listener: l, s: s})
	if errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections, lets sessions finish until ctx
// ends, then closes what is left. A message whose DATA was cut off was not
// answered 250, so its sender will retry.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	// Close the listeners here: one handed to Serve a moment ago may not be
	// registered with go-smtp yet, and its Shutdown would leave it open.
	for _, l := range s.lns {
		l.Close()
	}
	s.mu.Unlock()
	err := s.smtp.Shutdown(ctx)
	if err != nil {
		s.smtp.Close()
	}
	s.cancel()
	if errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

type slogAdapter struct{ log *slog.Logger }

func (a slogAdapter) Printf(format string, v ...any) {
	a.log.Warn("smtp server", "detail", fmt.Sprintf(format, v...))
}
func (a slogAdapter) Println(v ...any) { a.log.Warn("smtp server", "detail", fmt.Sprint(v...)) }

// limitListener enforces the connection limits before go-smtp sees a
// connection: over the limit, the client gets 421 and the connection is
// closed (RFC 5321 §3.8).
type limitListener struct {
	net.Listener
	s *Server
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c.RemoteAddr())
		key := clientKey(ip)
		s := l.s
		exempt := s.exempt(ip)
		if !exempt && !s.connRate.allow(key, s.cfg.Now()) {
			reply := s.reply(421, ec(4, 7, 0), "connection-rate", nil)
			s.log.Warn("connection refused", "remote", ip, "reason", "connection rate")
			go refuse(c, reply)
			continue
		}
		s.mu.Lock()
		over := !exempt && s.perIP[key] >= s.cfg.MaxConnectionsPerIP
		all := s.open >= s.cfg.MaxConnections
		if !over && !all {
			s.perIP[key]++
			s.open++
		}
		s.mu.Unlock()
		if over || all {
			reply := s.reply(421, ec(4, 7, 0), "too-many-connections", nil)
			if all {
				reply = s.reply(421, ec(4, 3, 2), "busy", nil)
			}
			s.log.Warn("connection refused", "remote", ip, "reason", reply.Message)
			go refuse(c, reply)
			continue
		}
		gc := newGuardConn(c, s.cfg.Limits, s.log.With("remote", ip), func() { s.release(key) })
		if !exempt {
			gc.strict, gc.busy = true, s.busy
			if s.cfg.Limits.JunkCommands > 0 {
				gc.maxCmds = s.cfg.Limits.JunkCommands + s.cfg.MaxRecipients + 4
			}
		}
		return gc, nil
	}
}

// busy says whether three quarters of max_connections are open.
func (s *Server) busy() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open*4 >= s.cfg.MaxConnections*3
}

func (s *Server) exempt(ip string) bool {
	p := net.ParseIP(ip)
	for _, n := range s.cfg.LimitExempt {
		if p != nil && n.Contains(p) {
			return true
		}
	}
	return false
}

func (s *Server) release(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open--
	if s.perIP[key]--; s.perIP[key] <= 0 {
		delete(s.perIP, key)
	}
}

// clientKey is what the limits per client address count by: an IPv4
// address, or the /64 of an IPv6 one. A provider gives each subscriber a
// /64 (RFC 6177), and a client that counted as each of its addresses
// would fill max_connections alone and go round every rate. The web's
// limit counts the same way.
func clientKey(ip string) string {
	p := net.ParseIP(ip)
	if p == nil || p.To4() != nil {
		return ip
	}
	return (&net.IPNet{IP: p.Mask(net.CIDRMask(64, 128)), Mask: net.CIDRMask(64, 128)}).String()
}

func refuse(c net.Conn, reply *smtp.SMTPError) {
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "%d %d.%d.%d %s\r\n", reply.Code, reply.EnhancedCode[0], reply.EnhancedCode[1], reply.EnhancedCode[2], reply.Message)
	c.Close()
}

func remoteIP(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
