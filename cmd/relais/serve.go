package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/hub"
)

func runServe(args []string) error {
	fs := newFlags("serve", "[flags]", "Run the hub: receive mail for the configured domains and deliver through the relay.\n"+
		"Configuration: the --config file, then RELAIS_* variables, then these flags.\nEnvironment variables: "+
		strings.Join(config.EnvNames(), " "))
	var d dataFlags
	d.add(fs)
	var domains, listen list
	fs.Var(&domains, "domain", "domain to receive mail for (repeatable); overrides the config's domains")
	fs.Var(&listen, "listen", "SMTP listen address host:port (repeatable); default 127.0.0.1:2525")
	relay := fs.String("relay", "", "relay (smarthost) host:port; default 127.0.0.1:25")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	c, err := d.load()
	if err != nil {
		return err
	}
	if len(domains) > 0 {
		c.Domains = domains
	}
	if len(listen) > 0 {
		c.SMTP.Listen = listen
	}
	if *relay != "" {
		c.Relay.Address = *relay
	}
	if err := c.Validate(); err != nil {
		return err
	}
	return serveOn(c, hub.Options{Logger: newLogger(c)}, nil, nil, nil)
}

// serveOn runs a hub until SIGINT or SIGTERM, on ln if given, else on the
// configured listeners; ready, if set, is called once it listens.
func serveOn(c config.Config, opts hub.Options, ln, webLn net.Listener, ready func(*hub.Hub)) error {
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
	h, err := hub.Open(ctx, c, opts)
	if err != nil {
		return err
	}
	if ln != nil {
		if webLn != nil {
			h.ListenWeb(webLn)
		}
		h.Start(ln)
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
