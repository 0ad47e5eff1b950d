package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/dkim"
	"codeberg.org/relais/relais/hub"
)

func runServe(args []string) error {
	fs := newFlags("serve", "[--config FILE] [--domain D]… [--listen ADDR]… [--web ADDR] [--metrics ADDR] [--data DIR] [--relay HOST:PORT]",
		"Run the hub: receive mail for the configured domains, deliver through the relay, serve\n"+
			"the web pages (web.listen) and the metrics (metrics.listen). It refuses to start when\n"+
			"the relay is one of its own SMTP listeners.\n"+
			"Configuration: the --config file, then RELAIS_* variables, then these flags.\nEnvironment variables: "+
			strings.Join(config.EnvNames(), " "))
	data := addData(fs)
	var domains, listen multi
	fs.Var(&domains, "domain", "domain to receive mail for (repeatable); overrides the config's domains")
	fs.Var(&listen, "listen", "SMTP listen address host:port (repeatable); default 127.0.0.1:2525")
	web := fs.String("web", "", "HTTP listen address of the web pages (web.listen); default 127.0.0.1:8025")
	metricsAddr := fs.String("metrics", "", "HTTP listen address of /metrics, /healthz, /readyz (metrics.listen); default 127.0.0.1:9425, \"off\" for none")
	relay := fs.String("relay", "", "relay (smarthost) host:port; default 127.0.0.1:25")
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	c, err := data.load()
	if err != nil {
		return err
	}
	if len(domains) > 0 {
		c.Domains = domains
	}
	if len(listen) > 0 {
		c.SMTP.Listen = listen
	}
	if *web != "" {
		c.Web.Listen = *web
	}
	if *metricsAddr == "off" {
		c.Metrics.Listen = ""
	} else if *metricsAddr != "" {
		c.Metrics.Listen = *metricsAddr
	}
	if *relay != "" {
		c.Relay.Address = *relay
	}
	if err := c.Validate(); err != nil {
		return err
	}
	if fi, err := os.Stat(c.DataDir); err == nil {
		if err := checkOwner(c.DataDir, fi); err != nil {
			return err
		}
	}
	return serveOn(c, hub.Options{Logger: newLogger(c)}, nil, nil)
}

// listeners are those a caller opened itself (the demo: free ports).
type listeners struct {
	smtp, web, metrics, imap net.Listener
}

// serveOn runs a hub until SIGINT or SIGTERM, on lns if given, else on the
// configured listeners; ready, if set, is called once it listens.
func serveOn(c config.Config, opts hub.Options, lns *listeners, ready func(*hub.Hub)) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// RELAIS_CPUPROFILE=FILE: a CPU profile of the whole run, for
	// `go tool pprof` (bench/README.md).
	if name := os.Getenv("RELAIS_CPUPROFILE"); name != "" {
		f, err := os.Create(name)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	// RELAIS_ALLOCPROFILE=FILE: what the run allocated, written at the
	// end (go tool pprof -sample_index=alloc_space).
	if name := os.Getenv("RELAIS_ALLOCPROFILE"); name != "" {
		defer func() {
			if f, err := os.Create(name); err == nil {
				pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	// More Go processors than the cores when libcrypto signs (see
	// dkim.Processors); PostgreSQL's writers stay sized to the cores.
	if cores, ok := dkim.Processors(c.DKIM.Sign, c.DKIM.RSA); ok {
		if c.Store.Writers == 0 {
			c.Store.Writers = max(2, cores)
		}
		opts.Logger.Info("go processors: more than the cores, for the RSA signatures made in C", "cores", cores, "gomaxprocs", runtime.GOMAXPROCS(0), "signing", dkim.Signers())
	}
	if c.DKIM.SigningNice > 0 && dkim.SignsInC(c.DKIM.Sign, c.DKIM.RSA) {
		n := dkim.SigningThreads(c.DKIM.SigningNice)
		opts.Logger.Info("dkim: RSA signatures on threads of their own (relais-sign)", "threads", n, "nice", "+"+strconv.Itoa(c.DKIM.SigningNice))
	}
	h, err := hub.Open(ctx, c, opts)
	if err != nil {
		return err
	}
	if lns != nil {
		if lns.web != nil {
			h.ListenWeb(lns.web)
		}
		if lns.metrics != nil {
			h.ListenMetrics(lns.metrics)
		}
		if lns.imap != nil {
			h.ListenIMAP(lns.imap)
		}
		h.Start(lns.smtp)
	} else {
		if err := h.Listen(); err != nil {
			h.Close(context.Background())
			return err
		}
		h.Start()
	}
	if ready != nil {
		ready(h)
	}
	<-ctx.Done()
	opts.Logger.Info("stopping: finishing sessions and deliveries under way")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.Close(sctx); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	return nil
}

// openHub opens the hub of configuration c for a command that acts as it
// would (approving a held post, running the digests) without running it:
// nothing listens, nothing is delivered here (the running hub delivers what
// is queued), and no DKIM key is made. read: the command only reads, and
// the database is not migrated (a schema behind is refused, as openRead).
func openHub(c config.Config, read bool) (*hub.Hub, error) {
	if len(c.Domains) == 0 {
		return nil, errors.New("no domain configured: give --config FILE (or RELAIS_DOMAINS, or --domain where the command has it)")
	}
	c.SMTP.Listen, c.Web.Listen, c.Metrics.Listen = []string{"127.0.0.1:0"}, "127.0.0.1:0", ""
	c.DKIM.Sign = false
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Log.Level != "debug" {
		c.Log.Level = "error" // the hub's start-up notes are for `serve`
	}
	return hub.Open(context.Background(), c, hub.Options{Logger: newLogger(c), NoMigrate: read})
}
