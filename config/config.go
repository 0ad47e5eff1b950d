// Package config is in charge of the hub's configuration: one TOML file with
// documented keys (deploy/relais.toml is the commented example), defaults
// that make `relais serve --domain hub.example` work with nothing else, and
// RELAIS_* environment variables that override the file.
package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is the whole configuration. The toml tags are the keys of the file;
// the environment variable for a key is RELAIS_ followed by its path in
// upper case with dots as underscores (smtp.listen → RELAIS_SMTP_LISTEN).
type Config struct {
	// Domains the hub receives mail for; the first one is used for the
	// addresses the hub writes from (bounces+TOKEN@, postmaster@).
	Domains []string `toml:"domains"`
	// Hostname the hub gives in its greeting, Received fields and
	// Message-IDs. Default: the machine's host name.
	Hostname string `toml:"hostname"`
	// DataDir holds the database and the server secrets.
	DataDir string `toml:"data_dir"`
	// Postmaster lists where mail to postmaster@ and abuse@ goes.
	Postmaster []string `toml:"postmaster"`
	// Language of the messages the hub writes when nothing says otherwise:
	// fr or en.
	Language string `toml:"language"`
	// TemplatesDir, if set, holds operator overrides: DIR/fr/NAME.tmpl.
	TemplatesDir string `toml:"templates_dir"`
	// Operators are the national or departmental team: they may post to
	// territory lists (CODE.groupes) and moderate them.
	Operators []string `toml:"operators"`

	Store   Store   `toml:"store"`
	SMTP    SMTP    `toml:"smtp"`
	Relay   Relay   `toml:"relay"`
	Queue   Queue   `toml:"queue"`
	Web     Web     `toml:"web"`
	IMAP    IMAP    `toml:"imap"`
	Lists   Lists   `toml:"lists"`
	Tickets Tickets `toml:"tickets"`
	Digest  Digest  `toml:"digest"`
	DKIM    DKIM    `toml:"dkim"`
	Auth    Auth    `toml:"auth"`
	Metrics Metrics `toml:"metrics"`
	Log     Log     `toml:"log"`

	Retention Retention `toml:"retention"`
	Backup    Backup    `toml:"backup"`
}

// Store says which database the hub keeps its data in (package store).
type Store struct {
	// URL: empty for SQLite, one file in data_dir (the default: nothing
	// else to run); postgres://USER:PASSWORD@HOST:PORT/DB for PostgreSQL,
	// which several nodes (serve processes on other machines) can share.
	// data_dir still holds what stays in files (DKIM keys, backups).
	URL string `toml:"url"`
	// MaxConns bounds the PostgreSQL connections of this node (default 16).
	MaxConns int `toml:"max_conns"`
	// Writers is how many transactions of writes this node runs at once on
	// PostgreSQL, each taking the writes waiting when it starts (default:
	// the number of cores, at least 2).
	Writers int `toml:"writers"`
}

// Retention says how long each kind of personal record is kept (package
// privacy); the hourly clean-up deletes a record once its period has run.
// Message bodies, with their delivery records and bounces, follow
// queue.keep.
type Retention struct {
	// Tickets: a closed ticket (its messages and people) after closing.
	Tickets Duration `toml:"tickets"`
	// Held: a held post (its record and its body) once approved,
	// rejected or expired.
	Held Duration `toml:"held"`
	// Attendance: who said they would attend, after the event ends.
	Attendance Duration `toml:"attendance"`
	// Consent: the consent record of a member who left a list, after
	// they left; then only a keyed hash stays, so an old import does not
	// subscribe them again.
	Consent Duration `toml:"consent"`
	// Archive: a list's posts, after posting, unless the list says
	// otherwise (relais retention set). 0 keeps them for the life of the
	// list.
	Archive Duration `toml:"archive"`
	// Digests: the record of each weekly digest sent (which events it
	// held), after sending.
	Digests Duration `toml:"digests"`
	// AgendaStopped: an agenda record that is off (never confirmed:
	// typed by someone who may not own the address; or its owner said
	// stop), after its last change. The settings of a person who does
	// not receive the agenda are not kept for ever.
	AgendaStopped Duration `toml:"agenda_stopped"`
	// Audit: an entry of the audit log (who did what, from where), after
	// it was written.
	Audit Duration `toml:"audit"`
}

// Backup configures the encrypted backups `serve` makes by itself
// (package backup); `relais backup` makes one at any time.
type Backup struct {
	// Recipients are age public keys (age1…): each can decrypt the
	// backups. Without any, serve makes no backup.
	Recipients []string `toml:"recipients"`
	// Every: how often serve makes a backup; 0 never.
	Every Duration `toml:"every"`
	// Keep: how many backups serve keeps in Dir (the oldest go).
	Keep int `toml:"keep"`
	// Dir: where serve writes them. Default: DATA_DIR/backups.
	Dir string `toml:"dir"`
}

// Metrics configures the operators' HTTP listener: Prometheus metrics on
// /metrics, /healthz and /readyz.
type Metrics struct {
	// Listen is host:port; "" turns it off. Loopback by default: the
	// metrics say how much mail flows, which is nobody else's business.
	Listen string `toml:"listen"`
}

// Digest configures the weekly digest of nearby events.
type Digest struct {
	// Weekday and Hour: when each member's digest goes out, in the
	// member's own time zone ("monday"/"lundi"… and 0–23).
	Weekday string `toml:"weekday"`
	Hour    int    `toml:"hour"`
	// Days: how far ahead a digest looks.
	Days int `toml:"days"`
}

// DKIM configures the signing of what the hub sends (package dkim).
type DKIM struct {
	// Sign every message the hub sends, with each active key of its From
	// domain (else of the first domain). Keys are made by `relais dkim
	// keygen`, or at the first start when there are none. Turn it off
	// only if the relay signs for the hub's domains.
	Sign bool `toml:"sign"`
	// KeysDir holds DOMAIN/SELECTOR.pem. Default: DATA_DIR/dkim.
	KeysDir string `toml:"keys_dir"`
	// RSA says what makes the RSA signatures: "auto" (OpenSSL's
	// libcrypto.so.3 when the machine has it, Go's crypto/rsa otherwise),
	// "openssl" (libcrypto or refuse to start), "go" (crypto/rsa, about a
	// third as fast). The log says which at start.
	RSA string `toml:"rsa"`
	// SigningNice, 1 to 19, has libcrypto's RSA signatures made by
	// threads of their own, one per core, at the process's nice value +
	// SigningNice (Linux): SMTP sessions are served first when a large
	// fan-out and a burst of mail want the cores at once. 0 (the
	// default): each signature is made by the goroutine that needs it.
	SigningNice int `toml:"signing_nice"`
}

// Auth configures the verdicts on inbound mail (SPF, DKIM, DMARC).
type Auth struct {
	// AuthservID names the hub in the Authentication-Results field it
	// adds (RFC 8601 §2.5); fields with this id that come from outside are
	// removed. Default: hostname.
	AuthservID string `toml:"authserv_id"`
	// RejectDMARC refuses at SMTP time (550 5.7.26) a message that fails
	// DMARC when its domain publishes p=reject, as large providers do.
	RejectDMARC bool `toml:"reject_dmarc"`
	// SkipSPFFrom lists networks (CIDR) of mail servers in front of the
	// hub (a local Postfix): their address says nothing of the sender, so
	// SPF is not checked and DKIM has to prove the From.
	SkipSPFFrom []string `toml:"skip_spf_from"`
	// DNSServer is the DNS server (host:port) asked for SPF, DKIM and DMARC
	// records, such as a local unbound; "": the system's resolver. Answers
	// are kept a minute ("no such record" 10 s).
	DNSServer string `toml:"dns_server"`
}

// Tickets configures the support desk (its queues and operators are made
// with `relais queue add`).
type Tickets struct {
	// KeyExpiry: how long the reply address of a ticket message works;
	// later replies are matched by their subject number.
	KeyExpiry Duration `toml:"key_expiry"`
	// ReopenWithin: a requester's reply to a closed ticket within this
	// time reopens it; a later one opens a new ticket that links the old.
	ReopenWithin Duration `toml:"reopen_within"`
	// CloseSolvedAfter: a solved ticket nobody writes to is closed after
	// this time.
	CloseSolvedAfter Duration `toml:"close_solved_after"`
	// AcksPerHour: acknowledgements sent to one address in an hour at
	// most (loops with auto-responders stop there).
	AcksPerHour int `toml:"acks_per_hour"`
	// MaxAttachmentBytes: a message larger than this reaches the ticket
	// without its attachments, and its writer is told.
	MaxAttachmentBytes int64 `toml:"max_attachment_bytes"`
}

// Web configures the HTTP server: one-click unsubscribe links, the
// agenda's links and calendar feeds.
type Web struct {
	Listen string `toml:"listen"` // host:port
	// BaseURL is how members reach it, in the links the hub writes
	// ("https://listes.example.org", behind a TLS reverse proxy). Default:
	// http:// and the listen address.
	BaseURL string `toml:"base_url"`
	// RequestsPerIPMinute: requests one client address may make in a
	// minute, given back evenly (one every 60/N seconds); beyond, 429 Too
	// Many Requests with Retry-After. IPv6 clients count by /64. 0: no
	// limit.
	RequestsPerIPMinute int `toml:"requests_per_ip_minute"`
	// TrustedProxies lists networks (CIDR) of reverse proxies in front of
	// the hub. For a request from one of them, the client is the last
	// address in X-Forwarded-For that is not itself a trusted proxy (the
	// one the proxy appended); from anyone else, X-Forwarded-For is
	// ignored. Default: loopback, where a local nginx connects from.
	TrustedProxies []string `toml:"trusted_proxies"`
	// SigninTTL: how long a sign-in link mailed on request stays valid
	// (single use).
	SigninTTL Duration `toml:"signin_ttl"`
	// LinkTTL: how long the link to a member's page in a list footer or a
	// digest stays valid (single use).
	LinkTTL Duration `toml:"link_ttl"`
	// SessionTTL: how long a session lasts once signed in.
	SessionTTL Duration `toml:"session_ttl"`
	// SigninPerAddressHour and SigninPerIPHour cap the links (sign-in,
	// attendance) asked for in an hour per address and per client
	// address; beyond, none is mailed (the page says the same). 0: no cap.
	SigninPerAddressHour int `toml:"signin_per_address_hour"`
	SigninPerIPHour      int `toml:"signin_per_ip_hour"`
}

// IMAP configures the read-only IMAP4rev1 server of the list archives
// (package imapd): members sign in with their address and an app password
// made on their page, and see one folder per list whose archive they may
// read.
type IMAP struct {
	// Listen is host:port for IMAP with STARTTLS (port 143), with the
	// certificate of smtp.tls_cert; "" turns it off. Without TLS, a
	// password is taken only from a loopback client (as Dovecot does).
	Listen string `toml:"listen"`
	// ListenTLS is host:port for IMAP over implicit TLS (port 993); ""
	// for none.
	ListenTLS string `toml:"listen_tls"`
	// Host is the name members' mail clients connect to, as their page
	// says. Default: hostname.
	Host string `toml:"host"`
	// FailuresPerAddressHour and FailuresPerIPHour: failed sign-ins in an
	// hour for one address, and from one client address (IPv6 by /64),
	// after which every sign-in is refused until the hour has passed.
	FailuresPerAddressHour int `toml:"failures_per_address_hour"`
	FailuresPerIPHour      int `toml:"failures_per_ip_hour"`
	// ConnectionsPerIPMinute and MaxConnectionsPerIP: connections from one
	// client address in a minute, and at once; beyond, it is closed with
	// a BYE.
	ConnectionsPerIPMinute int `toml:"connections_per_ip_minute"`
	MaxConnectionsPerIP    int `toml:"max_connections_per_ip"`
	// MaxSessionsPerAddress: sessions signed in at once with one address
	// (a member's phone, laptop and desk, each with a few connections).
	MaxSessionsPerAddress int `toml:"max_sessions_per_address"`
}

// Lists configures the mailing lists.
type Lists struct {
	// ConfirmExpiry: how long a subscription confirmation stays valid.
	ConfirmExpiry Duration `toml:"confirm_expiry"`
	// HoldExpiry: how long a held post waits for a moderator.
	HoldExpiry Duration `toml:"hold_expiry"`
	// MaxMessageBytes: posts larger than this are held (a list's own
	// setting wins). 0: smtp.max_message_bytes.
	MaxMessageBytes int64 `toml:"max_message_bytes"`
	// RatePerHour: posts per poster and hour beyond which posts are held
	// (owners and moderators excepted; a list's own setting wins).
	RatePerHour int `toml:"rate_per_hour"`
	// BounceThreshold: bounces (at most one a day) after which a member is
	// sent nothing more; a warning goes out one bounce before.
	BounceThreshold int `toml:"bounce_threshold"`
	// BounceStaleAfter: a score without a new bounce for this long starts
	// again from zero.
	BounceStaleAfter Duration `toml:"bounce_stale_after"`
	// SubscribePerAddressHour and SubscribePerIPHour cap the
	// subscriptions asked for by mail in an hour, per address (across
	// all lists) and per client address; beyond, no confirmation is sent.
	SubscribePerAddressHour int `toml:"subscribe_per_address_hour"`
	SubscribePerIPHour      int `toml:"subscribe_per_ip_hour"`
	// AnswersPerHour: answers to list commands (LIST+request, +help,
	// +subscribe, +unsubscribe) sent to one address in an hour, across all
	// lists, at most: an auto-responder that marks nothing and answers
	// every answer stops there.
	AnswersPerHour int `toml:"answers_per_hour"`
}

// SMTP configures the listener that receives mail.
type SMTP struct {
	Listen []string `toml:"listen"` // host:port, one or more
	// MaxMessageBytes is the largest message accepted (552 beyond it).
	MaxMessageBytes int64 `toml:"max_message_bytes"`
	// MaxRecipients per message (452 beyond it, RFC 5321 §4.5.3.1.8).
	MaxRecipients int `toml:"max_recipients"`
	// MaxConnectionsPerIP open at once from one client address (421 beyond).
	MaxConnectionsPerIP int `toml:"max_connections_per_ip"`
	// MaxConnections open at once in all (421 beyond).
	MaxConnections int `toml:"max_connections"`
	// LimitExempt lists networks (CIDR) bound by none of the per-client limits,
	// as Postfix exempts mynetworks: by default loopback, where a local
	// Postfix in front of the hub connects from.
	LimitExempt []string `toml:"limit_exempt"`
	// ConnectionsPerIPMinute: new connections from one client address in
	// a minute (421 beyond). 0: no limit.
	ConnectionsPerIPMinute int `toml:"connections_per_ip_minute"`
	// MessagesPerIPHour and MessagesPerSenderHour: transactions (MAIL
	// FROM) in an hour from one client address, and from one envelope
	// sender (450 beyond, the client retries later). 0: no limit.
	MessagesPerIPHour     int `toml:"messages_per_ip_hour"`
	MessagesPerSenderHour int `toml:"messages_per_sender_hour"`
	// MaxHeaderBytes is the largest message header accepted (552 5.3.4
	// beyond), as Postfix's header_size_limit: every later step reads the
	// header, so its size bounds their work.
	MaxHeaderBytes int64 `toml:"max_header_bytes"`
	// Timeout: the longest wait for each command (RFC 5321 §4.5.3.2.7).
	Timeout Duration `toml:"timeout"`
	// DataBlockTimeout: the longest wait for the next piece of a message
	// (§4.5.3.2.5); DataTimeout: the whole message, DATA to the final dot
	// (§4.5.3.2.6); SessionTimeout: the whole connection. 0: no limit.
	DataBlockTimeout Duration `toml:"data_block_timeout"`
	DataTimeout      Duration `toml:"data_timeout"`
	SessionTimeout   Duration `toml:"session_timeout"`
	// MinRate (bytes per second): once the hub has waited MinRateGrace in
	// all for a client, the client must send MinRate bytes for each further
	// second the hub waits, or the connection is closed (421 4.4.2): a
	// client trickling a byte now and then would otherwise hold a
	// connection slot for ever. 0: no minimum.
	MinRate      int      `toml:"min_rate"`
	MinRateGrace Duration `toml:"min_rate_grace"`
	// JunkCommandLimit: commands beyond those a message needs (one per
	// recipient and four) a client may send between two messages it
	// delivers (421 and closed beyond), as Postfix's
	// smtpd_junk_command_limit: NOOP for ever keeps above min_rate. 0: no
	// limit.
	JunkCommandLimit int `toml:"junk_command_limit"`
	// BusySessionTimeout: once three quarters of max_connections are
	// open, a connection that has lasted this long is closed at its next
	// read (Postfix's stress mode), so that clients holding connections
	// without delivering make room. 0: never.
	BusySessionTimeout Duration `toml:"busy_session_timeout"`
	// TLSCert and TLSKey, PEM files, enable STARTTLS (files renewed by an
	// ACME client are reloaded at each handshake).
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
}

// Relay configures the smarthost every outgoing message goes through.
type Relay struct {
	Address string `toml:"address"` // host:port
	// StartTLS: "opportunistic" (use it when offered), "required" (never
	// send in clear), or "off".
	StartTLS string `toml:"starttls"`
	// TLSSkipVerify accepts any certificate from the relay (a local
	// Postfix with a self-signed one). Only with starttls on.
	TLSSkipVerify bool     `toml:"tls_skip_verify"`
	Username      string   `toml:"username"` // AUTH PLAIN when set (needs TLS unless the relay is on loopback)
	Password      string   `toml:"password"`
	PasswordFile  string   `toml:"password_file"` // read at start, wins over password
	Timeout       Duration `toml:"timeout"`       // per SMTP command
}

// Queue configures the outbound queue.
type Queue struct {
	// Workers is the number of parallel connections to the relay; the
	// copies being made and signed at once are bounded to the cores
	// whatever it is.
	Workers int `toml:"workers"`
	// RetryMin is the wait after the first failed attempt; each further
	// failure doubles it up to RetryMax, with ±10 % jitter.
	RetryMin Duration `toml:"retry_min"`
	RetryMax Duration `toml:"retry_max"`
	// GiveUpAfter: a delivery still failing this long after it was queued
	// is marked failed.
	GiveUpAfter Duration `toml:"give_up_after"`
	// Keep finished messages this long (for `relais outbox`), then delete.
	Keep Duration `toml:"keep"`
	// Lease: with several nodes on PostgreSQL, how long a copy a node has
	// claimed stays its own; a node that dies leaves its claims to the
	// others after this. Longer than an attempt can last.
	Lease Duration `toml:"lease"`
	// IntakeFirst: while the hub accepts 100 messages a second or more,
	// copies wait, this long at most, then not again until intake has
	// been quiet as long, so that the cores serve the senders first
	// (Exim's queue_only_load, on intake's rate). 0: copies never wait.
	// At most half of Lease (shortened to it): copies held back stay
	// claimed.
	IntakeFirst Duration `toml:"intake_first"`
}

// Log configures logging.
type Log struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text or json
	// Pseudonymize replaces every address outside the hub's domains in
	// log lines by a keyed hash ("person:…", the same for the same
	// address, which `relais member show` prints). Reply keys and tokens
	// are redacted always.
	Pseudonymize bool `toml:"pseudonymize"`
}

// Duration is a time.Duration written as "90s", "5m", "120h" in the file.
type Duration time.Duration

// UnmarshalText reads a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Default returns the configuration used where the file and the environment
// say nothing.
func Default() Config {
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	return Config{
		Hostname: host,
		DataDir:  "./relais-data",
		Language: "fr",
		SMTP: SMTP{
			Listen:              []string{"127.0.0.1:2525"},
			MaxMessageBytes:     25 << 20,
			MaxRecipients:       100,
			MaxConnectionsPerIP: 20,
			MaxConnections:      1000,
			LimitExempt:         []string{"127.0.0.1/32", "::1/128"},
			MaxHeaderBytes:      100 << 10,

			ConnectionsPerIPMinute: 60,
			MessagesPerIPHour:      300,
			MessagesPerSenderHour:  100,
			Timeout:                Duration(5 * time.Minute),
			DataBlockTimeout:       Duration(3 * time.Minute),
			DataTimeout:            Duration(10 * time.Minute),
			SessionTimeout:         Duration(30 * time.Minute),
			MinRate:                32,
			MinRateGrace:           Duration(30 * time.Second),
			JunkCommandLimit:       100,
			BusySessionTimeout:     Duration(time.Minute),
		},
		Relay: Relay{
			Address:  "127.0.0.1:25",
			StartTLS: "opportunistic",
			Timeout:  Duration(2 * time.Minute),
		},
		Queue: Queue{
			Workers:     8,
			RetryMin:    Duration(time.Minute),
			RetryMax:    Duration(4 * time.Hour),
			GiveUpAfter: Duration(5 * 24 * time.Hour),
			Keep:        Duration(7 * 24 * time.Hour),
			Lease:       Duration(5 * time.Minute),
			IntakeFirst: Duration(30 * time.Second),
		},
		Web: Web{Listen: "127.0.0.1:8025", RequestsPerIPMinute: 120, TrustedProxies: []string{"127.0.0.0/8", "::1/128"},
			SigninTTL: Duration(15 * time.Minute), LinkTTL: Duration(7 * 24 * time.Hour), SessionTTL: Duration(7 * 24 * time.Hour),
			SigninPerAddressHour: 5, SigninPerIPHour: 30},
		IMAP: IMAP{FailuresPerAddressHour: 10, FailuresPerIPHour: 30, ConnectionsPerIPMinute: 60, MaxConnectionsPerIP: 20,
			MaxSessionsPerAddress: 20},
		Lists: Lists{
			ConfirmExpiry:    Duration(72 * time.Hour),
			HoldExpiry:       Duration(7 * 24 * time.Hour),
			RatePerHour:      20,
			BounceThreshold:  5,
			BounceStaleAfter: Duration(7 * 24 * time.Hour),

			SubscribePerAddressHour: 5,
			SubscribePerIPHour:      30,
			AnswersPerHour:          5,
		},
		Tickets: Tickets{
			KeyExpiry:          Duration(180 * 24 * time.Hour),
			ReopenWithin:       Duration(30 * 24 * time.Hour),
			CloseSolvedAfter:   Duration(7 * 24 * time.Hour),
			AcksPerHour:        3,
			MaxAttachmentBytes: 10 << 20,
		},
		Digest:  Digest{Weekday: "monday", Hour: 8, Days: 14},
		DKIM:    DKIM{Sign: true, RSA: "auto"},
		Auth:    Auth{RejectDMARC: true},
		Metrics: Metrics{Listen: "127.0.0.1:9425"},
		Log:     Log{Level: "info", Format: "text", Pseudonymize: true},
		Retention: Retention{
			Tickets:    Duration(365 * 24 * time.Hour),
			Held:       Duration(7 * 24 * time.Hour),
			Attendance: Duration(30 * 24 * time.Hour),
			Consent:    Duration(3 * 365 * 24 * time.Hour),
			Archive:    Duration(3 * 365 * 24 * time.Hour),
			Digests:    Duration(35 * 24 * time.Hour),
			// The link to confirm an agenda works as long as its record.
			AgendaStopped: Duration(30 * 24 * time.Hour),
			Audit:         Duration(365 * 24 * time.Hour),
		},
		Backup: Backup{Every: Duration(24 * time.Hour), Keep: 7},
	}
}

// Load reads the file at path (if path is not empty) over the defaults, then
// the environment over both. It does not validate; call Validate once flags
// have been applied too.
func Load(path string) (Config, error) {
	c := Default()
	if path != "" {
		md, err := toml.DecodeFile(path, &c)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		if und := md.Undecoded(); len(und) > 0 {
			return c, fmt.Errorf("config: %s: unknown key %q", path, und[0].String())
		}
	}
	if err := applyEnv(&c, os.LookupEnv); err != nil {
		return c, err
	}
	return c, nil
}

// applyEnv sets every field whose RELAIS_* variable is present.
func applyEnv(c *Config, lookup func(string) (string, bool)) error {
	return walk(reflect.ValueOf(c).Elem(), "RELAIS", func(name string, v reflect.Value) error {
		s, ok := lookup(name)
		if !ok {
			return nil
		}
		if err := setFromString(v, s); err != nil {
			return fmt.Errorf("config: %s=%q: %w", name, s, err)
		}
		return nil
	})
}

func walk(v reflect.Value, prefix string, fn func(string, reflect.Value) error) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("toml")
		if tag == "" {
			continue
		}
		name := prefix + "_" + strings.ToUpper(tag)
		f := v.Field(i)
		if f.Kind() == reflect.Struct {
			if err := walk(f, name, fn); err != nil {
				return err
			}
			continue
		}
		if err := fn(name, f); err != nil {
			return err
		}
	}
	return nil
}

func setFromString(v reflect.Value, s string) error {
	if v.Type() == reflect.TypeOf(Duration(0)) {
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return err
		}
		v.SetInt(n)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		v.SetBool(b)
	case reflect.Slice: // []string, comma-separated
		var out []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		v.Set(reflect.ValueOf(out))
	default:
		return fmt.Errorf("unsupported type %s", v.Type())
	}
	return nil
}

// EnvNames lists every RELAIS_* variable the hub reads, for --help.
func EnvNames() []string {
	var out []string
	var c Config
	_ = walk(reflect.ValueOf(&c).Elem(), "RELAIS", func(name string, _ reflect.Value) error {
		out = append(out, name)
		return nil
	})
	return out
}

// Validate checks the configuration as a whole and normalises it.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Domains) == 0 {
		errs = append(errs, errors.New("no domain: set domains in the file, RELAIS_DOMAINS, or --domain"))
	}
	for i, d := range c.Domains {
		c.Domains[i] = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
		if c.Domains[i] == "" || strings.ContainsAny(c.Domains[i], "@ ") {
			errs = append(errs, fmt.Errorf("domain %q is not a domain name", d))
		}
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir is empty"))
	}
	if u := c.Store.URL; u != "" && !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		errs = append(errs, errors.New("store.url: postgres://… (or empty for SQLite in data_dir)"))
	}
	if c.Language != "fr" && c.Language != "en" {
		errs = append(errs, fmt.Errorf("language %q: fr or en", c.Language))
	}
	if len(c.SMTP.Listen) == 0 {
		errs = append(errs, errors.New("smtp.listen is empty"))
	}
	for _, l := range c.SMTP.Listen {
		if _, _, err := net.SplitHostPort(l); err != nil {
			errs = append(errs, fmt.Errorf("smtp.listen %q: %v", l, err))
		}
	}
	if c.SMTP.MaxMessageBytes < 1024 {
		errs = append(errs, fmt.Errorf("smtp.max_message_bytes %d is too small", c.SMTP.MaxMessageBytes))
	}
	if c.SMTP.MaxRecipients < 1 || c.SMTP.MaxConnectionsPerIP < 1 || c.SMTP.MaxConnections < 1 {
		errs = append(errs, errors.New("smtp.max_recipients, max_connections_per_ip and max_connections must be at least 1"))
	}
	if c.SMTP.JunkCommandLimit < 0 || c.SMTP.BusySessionTimeout < 0 {
		errs = append(errs, errors.New("smtp: junk_command_limit and busy_session_timeout must not be negative"))
	}
	if c.SMTP.MaxHeaderBytes < 0 || c.SMTP.MinRate < 0 || c.SMTP.Timeout <= 0 || c.SMTP.DataBlockTimeout < 0 ||
		c.SMTP.DataTimeout < 0 || c.SMTP.SessionTimeout < 0 || c.SMTP.MinRateGrace < 0 {
		errs = append(errs, errors.New("smtp: max_header_bytes, min_rate and the timeouts must not be negative, timeout above 0"))
	}
	if c.SMTP.ConnectionsPerIPMinute < 0 || c.SMTP.MessagesPerIPHour < 0 || c.SMTP.MessagesPerSenderHour < 0 {
		errs = append(errs, errors.New("smtp.connections_per_ip_minute, messages_per_ip_hour and messages_per_sender_hour cannot be negative"))
	}
	for _, n := range c.SMTP.LimitExempt {
		if _, _, err := net.ParseCIDR(n); err != nil {
			errs = append(errs, fmt.Errorf("smtp.limit_exempt %q: %v", n, err))
		}
	}
	if (c.SMTP.TLSCert == "") != (c.SMTP.TLSKey == "") {
		errs = append(errs, errors.New("smtp.tls_cert and smtp.tls_key go together"))
	}
	if _, _, err := net.SplitHostPort(c.Relay.Address); err != nil {
		errs = append(errs, fmt.Errorf("relay.address %q: %v", c.Relay.Address, err))
	}
	switch c.Relay.StartTLS {
	case "opportunistic", "required", "off":
	default:
		errs = append(errs, fmt.Errorf("relay.starttls %q: opportunistic, required or off", c.Relay.StartTLS))
	}
	if c.Relay.PasswordFile != "" {
		b, err := os.ReadFile(c.Relay.PasswordFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("relay.password_file: %v", err))
		}
		c.Relay.Password = strings.TrimRight(string(b), "\r\n")
	}
	if c.Queue.Workers < 1 {
		errs = append(errs, errors.New("queue.workers must be at least 1"))
	}
	if c.Queue.IntakeFirst < 0 {
		errs = append(errs, errors.New("queue.intake_first must be 0 (copies never wait) or more"))
	}
	if c.Queue.RetryMin <= 0 || c.Queue.RetryMax < c.Queue.RetryMin || c.Queue.GiveUpAfter < c.Queue.RetryMin {
		errs = append(errs, errors.New("queue: need 0 < retry_min <= retry_max and retry_min <= give_up_after"))
	}
	if _, _, err := net.SplitHostPort(c.Web.Listen); err != nil {
		errs = append(errs, fmt.Errorf("web.listen %q: %v", c.Web.Listen, err))
	}
	for _, l := range []string{c.IMAP.Listen, c.IMAP.ListenTLS} {
		if l == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(l); err != nil {
			errs = append(errs, fmt.Errorf("imap listener %q: %v", l, err))
		}
	}
	if host, _, err := net.SplitHostPort(c.IMAP.Listen); err == nil && c.SMTP.TLSCert == "" {
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			errs = append(errs, fmt.Errorf("imap.listen %q is not loopback: members' passwords need STARTTLS, set smtp.tls_cert and smtp.tls_key", c.IMAP.Listen))
		}
	}
	if c.IMAP.ListenTLS != "" && c.SMTP.TLSCert == "" {
		errs = append(errs, errors.New("imap.listen_tls needs a certificate: set smtp.tls_cert and smtp.tls_key"))
	}
	if c.IMAP.FailuresPerAddressHour < 1 || c.IMAP.FailuresPerIPHour < 1 || c.IMAP.ConnectionsPerIPMinute < 1 || c.IMAP.MaxConnectionsPerIP < 1 ||
		c.IMAP.MaxSessionsPerAddress < 1 {
		errs = append(errs, errors.New("imap: failures_per_*_hour, connections_per_ip_minute, max_connections_per_ip and max_sessions_per_address must be at least 1"))
	}
	if c.Metrics.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			errs = append(errs, fmt.Errorf("metrics.listen %q: %v", c.Metrics.Listen, err))
		}
	}
	if c.Web.BaseURL != "" && !strings.HasPrefix(c.Web.BaseURL, "https://") && !strings.HasPrefix(c.Web.BaseURL, "http://") {
		errs = append(errs, fmt.Errorf("web.base_url %q: must start with https:// (or http://)", c.Web.BaseURL))
	}
	if c.Web.SigninTTL <= 0 || c.Web.LinkTTL <= 0 || c.Web.SessionTTL <= 0 {
		errs = append(errs, errors.New("web.signin_ttl, web.link_ttl and web.session_ttl must be positive"))
	}
	if c.Web.SigninPerAddressHour < 0 || c.Web.SigninPerIPHour < 0 {
		errs = append(errs, errors.New("web.signin_per_address_hour and web.signin_per_ip_hour cannot be negative"))
	}
	if c.Web.RequestsPerIPMinute < 0 {
		errs = append(errs, errors.New("web.requests_per_ip_minute cannot be negative"))
	}
	for _, n := range c.Web.TrustedProxies {
		if _, _, err := net.ParseCIDR(n); err != nil {
			errs = append(errs, fmt.Errorf("web.trusted_proxies %q: %v", n, err))
		}
	}
	if c.Lists.ConfirmExpiry <= 0 || c.Lists.HoldExpiry <= 0 || c.Lists.BounceStaleAfter <= 0 {
		errs = append(errs, errors.New("lists: confirm_expiry, hold_expiry and bounce_stale_after must be positive"))
	}
	if c.Lists.BounceThreshold < 1 || c.Lists.AnswersPerHour < 1 || c.Lists.RatePerHour < 0 || c.Lists.MaxMessageBytes < 0 ||
		c.Lists.SubscribePerAddressHour < 0 || c.Lists.SubscribePerIPHour < 0 {
		errs = append(errs, errors.New("lists: bounce_threshold and answers_per_hour must be at least 1; rate_per_hour, max_message_bytes and subscribe_per_*_hour not negative"))
	}
	if c.Tickets.KeyExpiry < 24*Duration(time.Hour) || c.Tickets.ReopenWithin < 0 || c.Tickets.CloseSolvedAfter <= 0 ||
		c.Tickets.AcksPerHour < 1 || c.Tickets.MaxAttachmentBytes < 0 {
		errs = append(errs, errors.New("tickets: key_expiry at least 24h, close_solved_after positive, acks_per_hour at least 1, reopen_within and max_attachment_bytes not negative"))
	}
	if _, ok := weekdays[strings.ToLower(c.Digest.Weekday)]; !ok || c.Digest.Hour < 0 || c.Digest.Hour > 23 || c.Digest.Days < 1 || c.Digest.Days > 31 {
		errs = append(errs, fmt.Errorf("digest: weekday %q (monday…sunday), hour 0–23 and days 1–31", c.Digest.Weekday))
	}
	if r := c.DKIM.RSA; r != "" && r != "auto" && r != "openssl" && r != "go" {
		errs = append(errs, fmt.Errorf("dkim.rsa is %q: auto, openssl or go", r))
	}
	if n := c.DKIM.SigningNice; n < 0 || n > 19 {
		errs = append(errs, fmt.Errorf("dkim.signing_nice is %d: 0 (off) to 19", n))
	}
	if c.DKIM.KeysDir == "" && c.DataDir != "" {
		c.DKIM.KeysDir = filepath.Join(c.DataDir, "dkim")
	}
	for _, n := range c.Auth.SkipSPFFrom {
		if _, _, err := net.ParseCIDR(n); err != nil {
			errs = append(errs, fmt.Errorf("auth.skip_spf_from %q: %v", n, err))
		}
	}
	if c.Auth.DNSServer != "" {
		if _, _, err := net.SplitHostPort(c.Auth.DNSServer); err != nil {
			errs = append(errs, fmt.Errorf("auth.dns_server %q: %v", c.Auth.DNSServer, err))
		}
	}
	if c.Auth.AuthservID == "" {
		c.Auth.AuthservID = c.Hostname
	}
	r := c.Retention
	if r.Tickets <= 0 || r.Held <= 0 || r.Attendance <= 0 || r.Consent <= 0 || r.AgendaStopped <= 0 || r.Audit <= 0 || r.Archive < 0 || r.Digests < 14*Duration(24*time.Hour) {
		errs = append(errs, errors.New("retention: tickets, held, attendance, consent, agenda_stopped and audit must be positive, archive not negative (0: for ever), digests at least 336h (next week's digest reads this week's)"))
	}
	if r.Archive > 0 && r.Archive < 8*Duration(24*time.Hour) {
		errs = append(errs, errors.New("retention.archive: at least 192h, so weekly digests find their posts (0: for ever)"))
	}
	if c.Backup.Every < 0 || c.Backup.Keep < 1 {
		errs = append(errs, errors.New("backup: every must not be negative, keep at least 1"))
	}
	for _, k := range c.Backup.Recipients {
		if !strings.HasPrefix(k, "age1") {
			errs = append(errs, fmt.Errorf("backup.recipients %q: an age public key (age1…, from age-keygen)", k))
		}
	}
	if c.Backup.Dir == "" && c.DataDir != "" {
		c.Backup.Dir = filepath.Join(c.DataDir, "backups")
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log.format %q: text or json", c.Log.Format))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level %q: debug, info, warn or error", c.Log.Level))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

var weekdays = map[string]bool{"monday": true, "tuesday": true, "wednesday": true, "thursday": true, "friday": true,
	"saturday": true, "sunday": true, "lundi": true, "mardi": true, "mercredi": true, "jeudi": true, "vendredi": true,
	"samedi": true, "dimanche": true}
