package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"time"

	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/dkim"
	"codeberg.org/relais/relais/hub"
	"codeberg.org/relais/relais/lists"
	"codeberg.org/relais/relais/queue"
)

// statusJSON is what `relais status --json` prints.
type statusJSON struct {
	DataDir   string          `json:"data_dir"`
	Domains   []string        `json:"domains"`
	Listeners []listenerJSON  `json:"listeners"`
	Queue     queueStatusJSON `json:"queue"`
	Held      heldStatusJSON  `json:"held_posts"`
	Digest    *hub.DigestRun  `json:"last_digest_run,omitempty"`
	DKIM      []keyJSON       `json:"dkim_keys"`
	Cert      *certJSON       `json:"certificate,omitempty"`
}

type listenerJSON struct {
	Name    string `json:"name"` // smtp, web, metrics
	Address string `json:"address"`
	Up      bool   `json:"up"`
}

type queueStatusJSON struct {
	Counts    map[string]int `json:"counts"`
	Depth     int            `json:"depth"`
	OldestAge float64        `json:"oldest_age_seconds"`
}

type heldStatusJSON struct {
	Waiting   int     `json:"waiting"`
	OldestAge float64 `json:"oldest_age_seconds"`
}

type certJSON struct {
	File     string    `json:"file"`
	Names    []string  `json:"names"`
	NotAfter time.Time `json:"not_after"`
	DaysLeft int       `json:"days_left"`
	Error    string    `json:"error,omitempty"`
}

func runStatus(args []string) error {
	fs := newFlags("status", "[--json]", "One screen: the listeners (answering or not), the queue's depth and oldest age, the\n"+
		"posts waiting for a moderator, the last digest run, the DKIM keys and the TLS\ncertificate's end. Read-only.")
	data := addData(fs)
	asJSON := addJSON(fs)
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	db, c, err := data.openRead()
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	now := time.Now()
	st := statusJSON{DataDir: c.DataDir, Domains: c.Domains, DKIM: []keyJSON{}}
	if st.Domains == nil {
		st.Domains = []string{}
	}
	for _, l := range listenersOf(c) {
		st.Listeners = append(st.Listeners, listenerJSON{l[0], l[1], answers(l[1])})
	}
	counts, err := queue.Counts(ctx, db)
	if err != nil {
		return err
	}
	depth, oldest, err := queue.Depth(ctx, db)
	if err != nil {
		return err
	}
	st.Queue = queueStatusJSON{Counts: counts, Depth: depth}
	if !oldest.IsZero() {
		st.Queue.OldestAge = now.Sub(oldest).Truncate(time.Second).Seconds()
	}
	waiting, heldSince, err := lists.Waiting(ctx, db)
	if err != nil {
		return err
	}
	st.Held.Waiting = waiting
	if !heldSince.IsZero() {
		st.Held.OldestAge = now.Sub(heldSince).Truncate(time.Second).Seconds()
	}
	if run, err := hub.LastDigestRun(ctx, db); err != nil {
		return err
	} else if !run.At.IsZero() {
		st.Digest = &run
	}
	if keys, err := dkim.Keys(keysDir(c)); err == nil {
		for _, k := range keys {
			st.DKIM = append(st.DKIM, keyJSON{k.Domain, k.Selector, k.Algo, k.Active, k.Created})
		}
	}
	if c.SMTP.TLSCert != "" {
		st.Cert = readCert(c.SMTP.TLSCert, now)
	}
	if *asJSON {
		return printJSON(st)
	}
	p := func(format string, a ...any) { fmt.Fprintf(stdout, format, a...) }
	p("relais status · %s · domains %v\n\nListeners\n", c.DataDir, c.Domains)
	for _, l := range st.Listeners {
		state := "answers"
		if !l.Up {
			state = "NOT ANSWERING"
		}
		p("  %-8s %-22s %s\n", l.Name, l.Address, state)
	}
	p("\nQueue     %d waiting", st.Queue.Depth)
	if st.Queue.Depth > 0 {
		p(", oldest queued %s ago", ago(now.Sub(oldest)))
	}
	p(" (sent %d, failed %d, bounced %d, held %d)\n", counts["sent"], counts["failed"], counts["bounced"], counts["held"])
	p("Held      %d post(s) waiting for a moderator", waiting)
	if waiting > 0 {
		p(", oldest %s ago (relais held list)", ago(now.Sub(heldSince)))
	}
	p("\n")
	if st.Digest != nil {
		p("Digests   last run %s: %d due, %d queued\n", st.Digest.At.Local().Format("2006-01-02 15:04"), st.Digest.Due, st.Digest.Queued)
	} else {
		p("Digests   no run recorded yet\n")
	}
	p("DKIM     ")
	if len(st.DKIM) == 0 {
		p(" no key (relais dkim keygen)")
	}
	for _, k := range st.DKIM {
		state := "waiting"
		if k.Active {
			state = "active"
		}
		p(" %s %s %s;", k.Domain, k.Selector, state)
	}
	p("\n")
	switch {
	case st.Cert == nil:
		p("TLS       no certificate (smtp.tls_cert): no STARTTLS\n")
	case st.Cert.Error != "":
		p("TLS       %s: %s\n", st.Cert.File, st.Cert.Error)
	default:
		p("TLS       %v, expires %s (%d days)\n", st.Cert.Names, st.Cert.NotAfter.Format("2006-01-02"), st.Cert.DaysLeft)
	}
	return nil
}

// listenersOf names the configured listeners.
func listenersOf(c config.Config) [][2]string {
	var out [][2]string
	for _, l := range c.SMTP.Listen {
		out = append(out, [2]string{"smtp", l})
	}
	out = append(out, [2]string{"web", c.Web.Listen})
	if c.Metrics.Listen != "" {
		out = append(out, [2]string{"metrics", c.Metrics.Listen})
	}
	return out
}

// answers reports whether something accepts connections at addr (a
// listener on every address is tried on loopback).
func answers(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	c, err := net.DialTimeout("tcp", net.JoinHostPort(host, port), 2*time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func readCert(file string, now time.Time) *certJSON {
	out := &certJSON{File: file}
	b, err := os.ReadFile(file)
	if err != nil {
		out.Error = err.Error()
		return out
	}
	block, _ := pem.Decode(b)
	if block == nil {
		out.Error = "no PEM certificate"
		return out
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		out.Error = err.Error()
		return out
	}
	out.Names, out.NotAfter = cert.DNSNames, cert.NotAfter.UTC()
	out.DaysLeft = int(cert.NotAfter.Sub(now).Hours() / 24)
	return out
}
