// Package hub is in charge of putting the hub together: it opens the store,
// answers the SMTP server's questions (Router: what is this address; Spool:
// keep this message), dispatches each accepted recipient to the handler of
// its route (group forward, bounce, postmaster), and runs the outbound queue
// and the clean-up of old messages.
//
// What happens to a message: smtpd accepts it once the body and the route
// of every recipient are committed (Spool.Accept). The dispatcher then runs
// each recipient's handler in a transaction that also marks the recipient
// done, so a crash at any point leaves either the recipient pending (it is
// handled again at start) or its outgoing mail queued, never both and
// never neither.
package hub

import (
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"codeberg.org/relais/relais/archive"
	"codeberg.org/relais/relais/backup"
	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/digest"
	"codeberg.org/relais/relais/dkim"
	"codeberg.org/relais/relais/geo"
	"codeberg.org/relais/relais/imapd"
	"codeberg.org/relais/relais/lists"
	"codeberg.org/relais/relais/mailauth"
	"codeberg.org/relais/relais/metrics"
	"codeberg.org/relais/relais/privacy"
	"codeberg.org/relais/relais/queue"
	"codeberg.org/relais/relais/signin"
	"codeberg.org/relais/relais/smtpd"
	"codeberg.org/relais/relais/store"
	"codeberg.org/relais/relais/templates"
	"codeberg.org/relais/relais/tickets"
	"codeberg.org/relais/relais/web"
)

// Options are what a caller may inject besides the configuration.
type Options struct {
	Logger *slog.Logger
	// Now is the clock of the queue and the dispatcher (default time.Now).
	Now func() time.Time
	// DialRelay replaces how the queue connects to the relay.
	DialRelay func(ctx context.Context, network, addr string) (net.Conn, error)
	// Resolver answers DNS questions (DMARC policies); tests give an
	// in-memory one. Default: the system's resolver.
	Resolver mailauth.Resolver
	// NoMigrate opens the database as it is (OpenStoreAsIs): for commands
	// that only read, a schema behind this binary's is refused.
	NoMigrate bool
}

// Hub is a running relais.
type Hub struct {
	Config  config.Config
	DB      *store.DB
	Queue   *queue.Queue
	SMTP    *smtpd.Server
	Texts   *templates.Set
	Lists   *lists.Service
	Tickets *tickets.Service
	Digest  *digest.Service
	SignIn  *signin.Service
	Web     *web.Server
	IMAP    *imapd.Server // the archives over IMAP
	// Metrics counts what the hub does; served on metrics.listen.
	Metrics *metrics.Metrics

	log        *slog.Logger
	now        func() time.Time
	lastDigest time.Time
	// Geo is the gazetteer: the embedded one, refined by the file
	// `relais geo import` saved, if any.
	Geo        *geo.Gazetteer
	disp       *dispatcher
	lns        []net.Listener
	webLn      net.Listener
	imapLns    []imapListener
	metricsLn  net.Listener
	metricsSrv *http.Server
	stop       context.CancelFunc
	wg         sync.WaitGroup
	errMu      sync.Mutex
	errs       []error
	// public is the public agenda's events to come, for its pages.
	public publicEvents
}

// OpenStore opens the database the configuration names: PostgreSQL when
// store.url is set, else SQLite in the data directory.
func OpenStore(cfg config.Config) (*store.DB, error) {
	return store.OpenWith(cfg.Store.URL, cfg.DataDir, store.Options{MaxConns: cfg.Store.MaxConns, Writers: cfg.Store.Writers})
}

// OpenStoreAsIs opens the database of cfg without migrating it: one whose
// schema is behind this binary's is refused (store.SchemaBehindError).
// For commands that only read.
func OpenStoreAsIs(cfg config.Config) (*store.DB, error) {
	return store.OpenWith(cfg.Store.URL, cfg.DataDir, store.Options{MaxConns: cfg.Store.MaxConns, Writers: cfg.Store.Writers, NoMigrate: true})
}

// Open prepares a hub from a validated configuration: database, templates,
// queue, SMTP server. Nothing listens or runs until Start.
func Open(ctx context.Context, cfg config.Config, opts Options) (*Hub, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	texts, err := templates.Load(cfg.TemplatesDir)
	if err != nil {
		return nil, err
	}
	open := OpenStore
	if opts.NoMigrate {
		open = OpenStoreAsIs
	}
	db, err := open(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Log.Pseudonymize {
		secret, err := db.Secret(ctx, privacy.LogSecret)
		if err != nil {
			db.Close()
			return nil, err
		}
		log = slog.New(privacy.Pseudonymizer(log.Handler(), secret, cfg.Domains))
	}
	h := &Hub{Config: cfg, DB: db, Texts: texts, log: log, now: now}
	for _, p := range backup.RemoveStale(cfg.DataDir) {
		log.Warn("removed the plain copy of the database an interrupted backup left", "dir", p)
	}
	h.Metrics = metrics.New(h.state)
	db.OnCommit(h.Metrics.Committed)
	var sign queue.Signer
	if cfg.DKIM.Sign {
		signer, err := openSigner(cfg, now, log)
		if err != nil {
			db.Close()
			return nil, err
		}
		log.Info("dkim", "rsa", signer.Engine())
		sign = signer
	}
	h.Queue, err = queue.New(ctx, db, queue.Config{
		Relay: queue.Relay{
			Address:       cfg.Relay.Address,
			StartTLS:      cfg.Relay.StartTLS,
			TLSSkipVerify: cfg.Relay.TLSSkipVerify,
			Username:      cfg.Relay.Username,
			Password:      cfg.Relay.Password,
			Timeout:       cfg.Relay.Timeout.D(),
			Helo:          cfg.Hostname,
			Dial:          opts.DialRelay,
		},
		Workers:     cfg.Queue.Workers,
		RetryMin:    cfg.Queue.RetryMin.D(),
		RetryMax:    cfg.Queue.RetryMax.D(),
		GiveUpAfter: cfg.Queue.GiveUpAfter.D(),
		Lease:       cfg.Queue.Lease.D(),
		IntakeFirst: cfg.Queue.IntakeFirst.D(),
		Domain:      cfg.Domains[0],
		Now:         now,
		Signer:      sign,
		Observer:    queueMetrics{h.Metrics},
	}, log.With("part", "queue"))
	if err != nil {
		db.Close()
		return nil, err
	}
	h.Queue.OnFailure(h.deliveryFailed)
	h.SignIn, err = signin.New(ctx, db, h.Queue, texts, signin.Config{
		Domain: cfg.Domains[0], Hostname: cfg.Hostname, WebURL: cfg.Web.BaseURL, Lang: cfg.Language,
		LinkTTL: cfg.Web.SigninTTL.D(), FooterTTL: cfg.Web.LinkTTL.D(), SessionTTL: cfg.Web.SessionTTL.D(),
		PerAddressHour: cfg.Web.SigninPerAddressHour, PerIPHour: cfg.Web.SigninPerIPHour, Now: now, Operators: cfg.Operators,
	}, log.With("part", "signin"))
	if err != nil {
		db.Close()
		return nil, err
	}
	resolver := opts.Resolver
	if resolver == nil {
		resolver = mailauth.NewCached(mailauth.NewNetResolver(cfg.Auth.DNSServer), time.Minute, 10*time.Second)
	}
	maxPost := cfg.Lists.MaxMessageBytes
	if maxPost == 0 {
		maxPost = cfg.SMTP.MaxMessageBytes
	}
	h.Lists, err = lists.New(ctx, db, h.Queue, texts, resolver, lists.Config{
		Domain:          cfg.Domains[0],
		Domains:         cfg.Domains,
		Hostname:        cfg.Hostname,
		WebURL:          cfg.Web.BaseURL,
		Lang:            cfg.Language,
		ConfirmTTL:      cfg.Lists.ConfirmExpiry.D(),
		HoldTTL:         cfg.Lists.HoldExpiry.D(),
		MaxBytes:        maxPost,
		RatePerHour:     cfg.Lists.RatePerHour,
		BounceThreshold: float64(cfg.Lists.BounceThreshold),
		BounceStale:     cfg.Lists.BounceStaleAfter.D(),
		Operators:       cfg.Operators,
		AuthservID:      cfg.Auth.AuthservID,
		Now:             now,

		SubscribePerAddress: cfg.Lists.SubscribePerAddressHour,
		SubscribePerIP:      cfg.Lists.SubscribePerIPHour,
		AnswersPerHour:      cfg.Lists.AnswersPerHour,
		IPExempt:            h.frontMTA,
		OnHold:              h.Metrics.Held,
		Manage: func(memberID int64, email string) string {
			return h.SignIn.FooterURL(signin.KindList, strconv.FormatInt(memberID, 10), email)
		},
	}, log.With("part", "lists"))
	if err != nil {
		db.Close()
		return nil, err
	}
	h.Queue.Personalize(lists.KindPost, h.Lists.Personalize)
	h.Queue.Personalize(lists.KindDigest, h.Lists.Personalize)
	h.Queue.OnBounce(h.Lists.Bounced)
	h.Tickets, err = tickets.New(ctx, db, h.Queue, texts, tickets.Config{
		Domain:           cfg.Domains[0],
		Hostname:         cfg.Hostname,
		Lang:             cfg.Language,
		KeyTTL:           cfg.Tickets.KeyExpiry.D(),
		ReopenWithin:     cfg.Tickets.ReopenWithin.D(),
		CloseSolvedAfter: cfg.Tickets.CloseSolvedAfter.D(),
		AcksPerHour:      cfg.Tickets.AcksPerHour,
		MaxFileBytes:     cfg.Tickets.MaxAttachmentBytes,
		AuthservID:       cfg.Auth.AuthservID,
		Now:              now,
	}, log.With("part", "tickets"))
	if err != nil {
		db.Close()
		return nil, err
	}
	if h.Geo, err = OpenGazetteer(cfg.DataDir, log); err != nil {
		db.Close()
		return nil, err
	}
	wd, _ := digest.ParseWeekday(cfg.Digest.Weekday)
	h.Digest, err = digest.New(ctx, db, h.Queue, texts, h.Geo, digest.Config{
		Domain: cfg.Domains[0], Hostname: cfg.Hostname, WebURL: cfg.Web.BaseURL,
		Schedule: digest.Schedule{Weekday: wd, Hour: cfg.Digest.Hour}, Days: cfg.Digest.Days, Now: now,
		Manage: func(link, email string) string { return h.SignIn.FooterURL(signin.KindAgenda, link, email) },
	}, log.With("part", "digest"))
	if err != nil {
		db.Close()
		return nil, err
	}
	h.Queue.Personalize(digest.Kind, h.Digest.Personalize)
	var proxies []netip.Prefix
	for _, c := range cfg.Web.TrustedProxies {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("web.trusted_proxies: %w", err)
		}
		proxies = append(proxies, p)
	}
	webSecret, err := db.Secret(ctx, "web")
	if err != nil {
		db.Close()
		return nil, err
	}
	h.Web = web.New(web.Config{RequestsPerMinute: cfg.Web.RequestsPerIPMinute, TrustedProxies: proxies, Now: now,
		Secure: strings.HasPrefix(cfg.Web.BaseURL, "https://"), Secret: webSecret},
		web.Domain{Lists: webLists{h.Lists}, Feeds: feeds{h}, Links: agendaLinks{h}, SignIn: webSignIn{h}, Members: webMembers{h},
			Console: webConsole{h}, API: webAPI{h},
			Agenda: webAgenda{h}, Archive: webArchives{h}}, texts, log.With("part", "web"))
	h.disp = newDispatcher(h)
	var tlsConfig *tls.Config
	if cfg.SMTP.TLSCert != "" {
		if tlsConfig, err = smtpd.TLSConfig(cfg.SMTP.TLSCert, cfg.SMTP.TLSKey); err != nil {
			db.Close()
			return nil, err
		}
	}
	h.IMAP = imapd.New(imapd.Config{TLS: tlsConfig, FailuresPerAddress: cfg.IMAP.FailuresPerAddressHour,
		FailuresPerIP: cfg.IMAP.FailuresPerIPHour, ConnectionsPerIPMinute: cfg.IMAP.ConnectionsPerIPMinute,
		MaxConnectionsPerIP: cfg.IMAP.MaxConnectionsPerIP, MaxSessionsPerAddress: cfg.IMAP.MaxSessionsPerAddress, Now: now}, db, imapArchives{h}, log.With("part", "imap"))
	var exempt []*net.IPNet
	for _, c := range cfg.SMTP.LimitExempt {
		_, n, err := net.ParseCIDR(c)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("smtp.limit_exempt: %w", err)
		}
		exempt = append(exempt, n)
	}
	chk := &checker{h: h, dns: resolver, id: cfg.Auth.AuthservID, noReject: !cfg.Auth.RejectDMARC}
	for _, c := range cfg.Auth.SkipSPFFrom {
		_, n, err := net.ParseCIDR(c)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("auth.skip_spf_from: %w", err)
		}
		chk.skipSPF = append(chk.skipSPF, n)
	}
	h.SMTP = smtpd.New(smtpd.Config{
		Hostname:            cfg.Hostname,
		MaxMessageBytes:     cfg.SMTP.MaxMessageBytes,
		MaxRecipients:       cfg.SMTP.MaxRecipients,
		MaxConnectionsPerIP: cfg.SMTP.MaxConnectionsPerIP,
		MaxConnections:      cfg.SMTP.MaxConnections,
		LimitExempt:         exempt,
		Now:                 now,

		ConnectionsPerIPMinute: cfg.SMTP.ConnectionsPerIPMinute,
		MessagesPerIPHour:      cfg.SMTP.MessagesPerIPHour,
		MessagesPerSenderHour:  cfg.SMTP.MessagesPerSenderHour,
		Timeout:                cfg.SMTP.Timeout.D(),
		Limits: smtpd.Limits{
			DataBlock:    cfg.SMTP.DataBlockTimeout.D(),
			Data:         cfg.SMTP.DataTimeout.D(),
			Session:      cfg.SMTP.SessionTimeout.D(),
			MinRate:      cfg.SMTP.MinRate,
			MinRateGrace: cfg.SMTP.MinRateGrace.D(),
			JunkCommands: cfg.SMTP.JunkCommandLimit,
			Busy:         cfg.SMTP.BusySessionTimeout.D(),
		},
		MaxHeaderBytes: cfg.SMTP.MaxHeaderBytes,
		TLS:            tlsConfig,
		Checker:        chk,
		NewID:          store.NewID,
		Observer:       h.Metrics,
	}, &router{h: h}, &spool{h: h}, texts, log.With("part", "smtpd"))
	if cfg.Web.BaseURL == "" {
		log.Warn("web.base_url is not set: list unsubscribe links point to http:// and web.listen; set it to the https address members reach (RFC 8058 §3.1)")
	}
	if len(cfg.Postmaster) == 0 {
		log.Warn("no postmaster address configured: mail to postmaster@ and abuse@ is kept for `relais outbox`")
	}
	return h, nil
}

// openSigner reads the DKIM keys, making the first ones when the hub's
// domain has none: mail leaves signed from the first start, and the
// operator is told to publish the records.
func openSigner(cfg config.Config, now func() time.Time, log *slog.Logger) (*dkim.Signer, error) {
	keys, err := dkim.Keys(cfg.DKIM.KeysDir)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(keys, func(k dkim.Key) bool { return k.Active && k.Domain == cfg.Domains[0] }) {
		made, err := dkim.Generate(cfg.DKIM.KeysDir, cfg.Domains[0], now())
		if err != nil {
			return nil, err
		}
		log.Warn("DKIM keys generated: publish their records (relais dns) before sending for real",
			"domain", cfg.Domains[0], "selectors", made[0].Selector+","+made[1].Selector)
	}
	return dkim.NewSignerWith(cfg.DKIM.KeysDir, cfg.Domains[0], now, cfg.DKIM.RSA)
}

// Listen opens the configured SMTP listeners, the web listener and the
// metrics listener. It refuses a relay that is one of the SMTP listeners.
func (h *Hub) Listen() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := queue.CheckRelay(ctx, h.Config.Relay.Address, h.Config.SMTP.Listen, nil, nil); err != nil {
		return err
	}
	if h.Config.Metrics.Listen != "" {
		ln, err := net.Listen("tcp", h.Config.Metrics.Listen)
		if err != nil {
			return fmt.Errorf("listen %s (metrics): %w", h.Config.Metrics.Listen, err)
		}
		h.ListenMetrics(ln)
	}
	for _, l := range [][2]string{{h.Config.IMAP.Listen, ""}, {h.Config.IMAP.ListenTLS, "tls"}} {
		if l[0] == "" {
			continue
		}
		ln, err := net.Listen("tcp", l[0])
		if err != nil {
			return fmt.Errorf("listen %s (imap): %w", l[0], err)
		}
		h.imapLns = append(h.imapLns, imapListener{ln, l[1] == "tls"})
	}
	ln, err := net.Listen("tcp", h.Config.Web.Listen)
	if err != nil {
		return fmt.Errorf("listen %s (web): %w", h.Config.Web.Listen, err)
	}
	h.ListenWeb(ln)
	for _, addr := range h.Config.SMTP.Listen {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range h.lns {
				l.Close()
			}
			h.lns = nil
			h.webLn.Close()
			h.webLn = nil
			if h.metricsLn != nil {
				h.metricsLn.Close()
				h.metricsLn = nil
			}
			return fmt.Errorf("listen %s: %w", addr, err)
		}
		h.lns = append(h.lns, ln)
	}
	return nil
}

// ListenWeb sets the web listener (Listen opens the configured one); the
// links written in list mail point to it unless web.base_url says
// otherwise.
func (h *Hub) ListenWeb(ln net.Listener) {
	h.webLn = ln
	if h.Config.Web.BaseURL == "" {
		h.Lists.SetWebURL("http://" + ln.Addr().String())
		h.Digest.SetWebURL("http://" + ln.Addr().String())
		h.SignIn.SetWebURL("http://" + ln.Addr().String())
	}
}

// imapListener is a listener of the IMAP server: STARTTLS, or implicit
// TLS.
type imapListener struct {
	ln  net.Listener
	tls bool
}

// ListenIMAP adds a listener for the archives over IMAP (STARTTLS when
// the hub has a certificate; Listen opens the configured ones).
func (h *Hub) ListenIMAP(ln net.Listener) { h.imapLns = append(h.imapLns, imapListener{ln: ln}) }

// IMAPAddr returns where the IMAP server first listens, nil if it does
// not.
func (h *Hub) IMAPAddr() net.Addr {
	if len(h.imapLns) == 0 {
		return nil
	}
	return h.imapLns[0].ln.Addr()
}

// ListenMetrics sets the listener of /metrics, /healthz and /readyz
// (Listen opens the configured one).
func (h *Hub) ListenMetrics(ln net.Listener) { h.metricsLn = ln }

// MetricsAddr returns where the metrics server listens, nil if it does not.
func (h *Hub) MetricsAddr() net.Addr {
	if h.metricsLn == nil {
		return nil
	}
	return h.metricsLn.Addr()
}

// Ready reports why the hub cannot do its work, nil when it can: the
// database takes a write, and the queue is delivering.
func (h *Hub) Ready(ctx context.Context) error {
	err := h.DB.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec("setting.put", "health:ready", []byte(h.now().UTC().Format(time.RFC3339)))
		return err
	})
	if err != nil {
		return fmt.Errorf("database not writable: %w", err)
	}
	if !h.Queue.Running() {
		return errors.New("queue not running")
	}
	return nil
}

// state is what the metrics read from the database at each scrape.
func (h *Hub) state(ctx context.Context) (metrics.State, error) {
	var s metrics.State
	var err error
	if s.QueueDepth, s.OldestQueued, err = queue.Depth(ctx, h.DB); err != nil {
		return s, err
	}
	if s.HeldPosts, _, err = lists.Waiting(ctx, h.DB); err != nil {
		return s, err
	}
	s.TicketsOpened, err = tickets.OpenedTotal(ctx, h.DB)
	return s, err
}

// queueMetrics gives the queue's observations to the metrics.
type queueMetrics struct{ m *metrics.Metrics }

func (q queueMetrics) Delivered(kind, outcome string) { q.m.Delivered(outcome, kind == digest.Kind) }
func (q queueMetrics) Bounced(action string)          { q.m.Bounced(action) }
func (q queueMetrics) Signed(d time.Duration)         { q.m.Signed(d) }

// WebAddr returns where the web server listens, nil if it does not.
func (h *Hub) WebAddr() net.Addr {
	if h.webLn == nil {
		return nil
	}
	return h.webLn.Addr()
}

// Addrs returns where the hub listens.
func (h *Hub) Addrs() []net.Addr {
	out := make([]net.Addr, len(h.lns))
	for i, l := range h.lns {
		out[i] = l.Addr()
	}
	return out
}

// Start serves SMTP on the listeners opened by Listen (or given here) and
// starts delivering.
func (h *Hub) Start(extra ...net.Listener) {
	h.lns = append(h.lns, extra...)
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	h.run(func() error { return h.Queue.Run(ctx) })
	h.run(func() error { return h.disp.run(ctx) })
	h.run(func() error { h.collect(ctx); return nil })
	h.run(func() error { h.tick(ctx); return nil })
	if len(h.Config.Backup.Recipients) > 0 && h.Config.Backup.Every > 0 {
		if h.DB.Engine() == store.Postgres {
			h.log.Warn("backup: the database is PostgreSQL: serve makes no backup of it (pg_dump or the cluster's own backups, deploy/SCALING.md)")
		} else {
			h.run(func() error { h.backups(ctx); return nil })
		}
	}
	h.run(func() error {
		// Posts archived before archives were read: threaded and indexed.
		if n, err := archive.Backfill(ctx, h.DB); err != nil && ctx.Err() == nil {
			h.log.Error("archive: indexing older posts failed", "err", err)
		} else if n > 0 {
			h.log.Info("archive: older posts indexed", "posts", n)
		}
		return nil
	})
	for _, l := range h.imapLns {
		h.log.Info("listening", "imap", l.ln.Addr().String(), "tls", l.tls)
		if l.tls {
			h.run(func() error { return h.IMAP.ServeTLS(l.ln) })
		} else {
			h.run(func() error { return h.IMAP.Serve(l.ln) })
		}
	}
	if h.webLn != nil {
		h.log.Info("listening", "web", h.webLn.Addr().String())
		h.run(func() error { return h.Web.Serve(h.webLn) })
	}
	if h.metricsLn != nil {
		h.log.Info("listening", "metrics", h.metricsLn.Addr().String())
		h.metricsSrv = &http.Server{Handler: h.Metrics.Handler(h.Ready), ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: slog.NewLogLogger(h.log.Handler(), slog.LevelWarn)}
		srv, ln := h.metricsSrv, h.metricsLn
		h.run(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	for _, l := range h.lns {
		h.log.Info("listening", "smtp", l.Addr().String(), "domains", h.Config.Domains)
		h.run(func() error { return h.SMTP.Serve(l) })
	}
}

func (h *Hub) run(f func() error) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		if err := f(); err != nil {
			h.errMu.Lock()
			h.errs = append(h.errs, err)
			h.errMu.Unlock()
			h.log.Error("hub part stopped", "err", err)
		}
	}()
}

// Close stops the hub within ctx: at once, the queue and the dispatcher
// start nothing new and SMTP accepts no new connection; sessions under way
// and delivery attempts under way get until ctx ends to finish. Then the
// relay connections still open are cut (those attempts are recorded as
// deferred), sessions still open are closed (their senders never heard 250
// and will retry), and the database is closed. Every attempt made is
// recorded before Close returns.
func (h *Hub) Close(ctx context.Context) error {
	var errs []error
	if h.stop != nil {
		h.stop()
	}
	smtpDone := make(chan error, 1)
	go func() { smtpDone <- h.SMTP.Shutdown(ctx) }()
	webDone := make(chan error, 1)
	go func() { webDone <- h.Web.Shutdown(ctx) }()
	h.IMAP.Close()
	if h.metricsSrv != nil {
		go h.metricsSrv.Shutdown(ctx)
	}
	parts := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(parts)
	}()
	select {
	case <-parts:
	case <-ctx.Done():
		h.Queue.Abort()
		<-parts
	}
	errs = append(errs, <-smtpDone, <-webDone)
	errs = append(errs, h.DB.Close())
	h.errMu.Lock()
	errs = append(errs, h.errs...)
	h.errMu.Unlock()
	return errors.Join(errs...)
}

// tick runs what time brings to the lists (digests, pauses, held posts)
// and the desk (solved tickets closing) every minute.
func (h *Hub) tick(ctx context.Context) {
	every(ctx, time.Minute, func() {
		// Once across the nodes that share a PostgreSQL database (an
		// advisory lock and the time of the last run); on SQLite, always.
		_, err := h.DB.Once(ctx, "tick", time.Minute, h.now(), func(ctx context.Context) error {
			if err := h.Lists.Tick(ctx); err != nil && ctx.Err() == nil {
				h.log.Error("lists tick failed", "err", err)
			}
			if err := h.Tickets.Tick(ctx); err != nil && ctx.Err() == nil {
				h.log.Error("tickets tick failed", "err", err)
			}
			if err := h.remind(ctx); err != nil && ctx.Err() == nil {
				h.log.Error("event reminders failed", "err", err)
			}
			return nil
		})
		if err != nil && ctx.Err() == nil {
			h.log.Error("tick failed", "err", err)
		}
		// The digests: due members are few outside the weekly hour, and a
		// run finds the others recorded.
		if h.now().Sub(h.lastDigest) >= 10*time.Minute {
			h.lastDigest = h.now()
			h.RunDigests(ctx)
		}
	})
}

// RunDigests runs the weekly digests of the members due now, unless
// another node sharing the database ran them within the last 10 minutes
// or runs them now; every member's digest is also recorded for the week
// before it is queued (digest.record), so none goes twice.
func (h *Hub) RunDigests(ctx context.Context) (ran bool) {
	ran, err := h.DB.Once(ctx, "digest", 10*time.Minute, h.now(), func(ctx context.Context) error {
		rep, err := h.Digest.Run(ctx, false)
		if err != nil {
			return err
		}
		h.RecordDigestRun(ctx, rep)
		return nil
	})
	if err != nil && ctx.Err() == nil {
		h.log.Error("digest run failed", "err", err)
	}
	return ran
}

// every runs fn every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fn()
	}
}

// collect deletes, every hour, every record past its retention period
// (messages finished longer ago than queue.keep, and [retention]).
func (h *Hub) collect(ctx context.Context) {
	every(ctx, time.Hour, func() {
		var items []privacy.Item
		_, err := h.DB.Once(ctx, "retention", time.Hour, h.now(), func(ctx context.Context) error {
			var err error
			items, err = h.Retain(ctx, false)
			return err
		})
		if err != nil {
			h.log.Error("clean-up failed", "err", err)
			return
		}
		var attrs []any
		for _, it := range items {
			if it.Count > 0 {
				k := it.Kind
				if it.Scope != "" {
					k += ":" + it.Scope
				}
				attrs = append(attrs, k, it.Count)
			}
		}
		if len(attrs) > 0 {
			h.log.Info("clean-up", attrs...)
		}
	})
}

// Policy is the retention policy of the configuration.
func Policy(c config.Config) privacy.Policy {
	r := c.Retention
	return privacy.Policy{Messages: c.Queue.Keep.D(), Tickets: r.Tickets.D(), Held: r.Held.D(), Attendance: r.Attendance.D(),
		Consent: r.Consent.D(), Archive: r.Archive.D(), Digests: r.Digests.D(), AgendaStopped: r.AgendaStopped.D(), Audit: r.Audit.D()}
}

// Retain deletes what is past its retention period now, or with dryRun
// only says what would go.
func (h *Hub) Retain(ctx context.Context, dryRun bool) ([]privacy.Item, error) {
	return privacy.Retain(ctx, h.DB, Policy(h.Config), h.now(), dryRun)
}

// collectOnce deletes the messages finished before queue.keep ago, with
// their deliveries and bounces; it returns how many.
func (h *Hub) collectOnce(ctx context.Context) (int64, error) {
	before := h.now().Add(-h.Config.Queue.Keep.D()).Unix()
	var n int64
	err := h.DB.Write(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec("message.delete-old", before)
		if err == nil {
			n, _ = res.RowsAffected()
		}
		return err
	})
	return n, err
}

// DigestRun is the last run of the weekly digests, as relais status shows.
type DigestRun struct {
	At     time.Time `json:"at"`
	Due    int       `json:"due"`
	Queued int       `json:"queued"`
}

// digestRunKey is the setting where the last run is kept.
const digestRunKey = "digest:last-run"

// RecordDigestRun keeps rep as the last run of the digests (relais status).
func (h *Hub) RecordDigestRun(ctx context.Context, rep digest.Report) {
	b, _ := json.Marshal(DigestRun{At: h.now().UTC().Truncate(time.Second), Due: rep.Due, Queued: rep.Queued})
	if err := h.DB.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec("setting.put", digestRunKey, b)
		return err
	}); err != nil && ctx.Err() == nil {
		h.log.Warn("digest run not recorded", "err", err)
	}
}

// LastDigestRun returns the last run the hub made of the digests (zero At:
// none yet).
func LastDigestRun(ctx context.Context, db *store.DB) (DigestRun, error) {
	var r DigestRun
	var b []byte
	err := db.QueryRow(ctx, "setting.get", digestRunKey).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return r, nil
	} else if err != nil {
		return r, err
	}
	return r, json.Unmarshal(b, &r)
}
