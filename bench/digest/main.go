// Command digest measures the weekly digest run: MEMBERS members and
// EVENTS upcoming events spread over France by the gazetteer (places drawn
// in proportion to population, events organised by groups all over the
// country, one member in ten in a group's list), then one run that
// chooses each member's digest, records it and queues it. It reports the
// run's time into the outbound queue, digests per second, the making of
// the copies at send time (a sample rendered as the queue does), and the
// peak memory of the process.
//
//	go run ./bench/digest [-members 100000] [-events 20000]
//
// No peer does this (Mailman and Sympa have no per-member digest of nearby
// events), so the figures are absolute; the target is the 100,000 digests
// queued in under a minute on the 2-core machine.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"syscall"
	"time"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/digest"
	"codeberg.org/relais/relais/events"
	"codeberg.org/relais/relais/geo"
	"codeberg.org/relais/relais/groups"
	"codeberg.org/relais/relais/hub"
	"codeberg.org/relais/relais/lists"
	"codeberg.org/relais/relais/queue"
	"codeberg.org/relais/relais/store"
)

func main() {
	members := flag.Int("members", 100000, "members of the agenda")
	nEvents := flag.Int("events", 20000, "upcoming events")
	nGroups := flag.Int("groups", 2000, "groups organising them")
	sample := flag.Int("render", 2000, "copies made as the queue makes them, to time the send-time work")
	flag.Parse()
	if err := run(*members, *nEvents, *nGroups, *sample); err != nil {
		fmt.Fprintln(os.Stderr, "bench/digest:", err)
		os.Exit(1)
	}
}

func run(nMembers, nEvents, nGroups, sample int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "relais-digest-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	paris, _ := time.LoadLocation("Europe/Paris")
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, paris) // a Monday, past the digest hour
	c := config.Default()
	c.Domains, c.Hostname, c.DataDir = []string{"hub.example"}, "mx.hub.example", dir
	c.SMTP.Listen, c.Web.Listen, c.Relay.Address = []string{"127.0.0.1:0"}, "127.0.0.1:0", "127.0.0.1:9"
	c.DKIM.Sign = false
	if err := c.Validate(); err != nil {
		return err
	}
	h, err := hub.Open(ctx, c, hub.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now }})
	if err != nil {
		return err
	}
	defer h.Close(ctx)

	// Places drawn in proportion to population.
	g := geo.Default()
	communes := g.Communes()
	var located []geo.Commune
	for _, cm := range communes {
		if cm.Population > 0 && cm.Dept < "96" && cm.Parent == "" {
			located = append(located, cm)
		}
	}
	cum := make([]int, len(located))
	total := 0
	for i, cm := range located {
		total += cm.Population
		cum[i] = total
	}
	rng := rand.New(rand.NewPCG(1, 2))
	draw := func() geo.Commune {
		n := rng.IntN(total)
		return located[sort.SearchInts(cum, n+1)]
	}

	t0 := time.Now()
	var groupIDs []int64
	var groupCodes []string
	for i := 0; i < nGroups; i++ {
		cm := draw()
		code, err := address.ParseCode(cm.Dept)
		if err != nil {
			continue
		}
		gr, err := groups.Add(ctx, h.DB, groups.Group{Code: code, Name: fmt.Sprintf("g%d", i), DisplayName: "Groupe " + cm.Name,
			Commune: cm.INSEE, Animators: []string{fmt.Sprintf("anim%d@example.org", i)}})
		if err != nil {
			return fmt.Errorf("group: %w", err)
		}
		groupIDs, groupCodes = append(groupIDs, gr.ID), append(groupCodes, code.String())
	}
	themes := []string{"logement", "climat", "santé", "école", "transports", "emploi"}
	err = h.DB.Write(ctx, func(tx *store.Tx) error {
		for i := 0; i < nEvents; i++ {
			cm := draw()
			start := now.Add(time.Duration(rng.IntN(14*24)) * time.Hour).Truncate(30 * time.Minute)
			e := events.Event{UID: fmt.Sprintf("ev%d@bench", i), Title: fmt.Sprintf("Réunion publique %d", i), Start: start,
				End: start.Add(2 * time.Hour), Zone: "Europe/Paris", Place: "Salle des fêtes, " + cm.Name, INSEE: cm.INSEE,
				Lat: cm.Point.Lat, Lon: cm.Point.Lon, Located: true, Themes: []string{themes[rng.IntN(len(themes))]},
				Public: rng.IntN(10) != 0, Status: events.Confirmed}
			if _, err := events.Save(tx, &e, groupIDs[rng.IntN(len(groupIDs))], now); err != nil {
				return err
			}
		}
		for i := 0; i < nMembers; i++ {
			cm := draw()
			m := digest.Member{Email: fmt.Sprintf("m%d@example.org", i), INSEE: cm.INSEE, Place: cm.Name, Point: cm.Point,
				Radius: []int{10, 25, 25, 25, 50}[rng.IntN(5)], Lang: "fr", Zone: "Europe/Paris", Active: true}
			if len(cm.PostCodes) > 0 {
				m.PostCode = cm.PostCodes[0]
			}
			if rng.IntN(4) == 0 {
				m.Themes = []string{themes[rng.IntN(len(themes))]}
			}
			if err := digest.Save(tx, m, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// One member in ten belongs to groups: a members list on a group's
	// code.
	codes := map[string]int64{}
	for i := 0; i < nMembers; i += 10 {
		code := groupCodes[rng.IntN(len(groupCodes))]
		id, ok := codes[code]
		if !ok {
			cd, _ := address.ParseCode(code)
			l, err := lists.Create(ctx, h.DB, lists.List{Code: cd, Name: "discussion", Policy: lists.Members,
				Owners: []lists.Owner{{Email: "owner@example.org"}}})
			if err != nil {
				return err
			}
			id, codes[code] = l.ID, l.ID
		}
		if _, err := lists.Subscribe(ctx, h.DB, id, "benchmark", []string{fmt.Sprintf("m%d@example.org", i)}, now); err != nil {
			return err
		}
	}
	fmt.Printf("setup: %d groups, %d events, %d members (%d lists) in %.1f s\n", len(groupIDs), nEvents, nMembers, len(codes), time.Since(t0).Seconds())

	runtime.GC()
	if f, err := os.Create(os.Getenv("CPUPROFILE")); err == nil && os.Getenv("CPUPROFILE") != "" {
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	rep, err := h.Digest.Run(ctx, false)
	pprof.StopCPUProfile()
	if err != nil {
		return err
	}
	var queued int
	if err := h.DB.QueryRow(ctx, "test.queued").Scan(&queued); err != nil {
		return err
	}
	fmt.Printf("run: %d members, %d digests recorded and queued (%d deliveries in the queue), %d with nothing to announce\n",
		rep.Members, rep.Queued, queued, rep.Empty)
	fmt.Printf("run into the outbound queue: %.1f s, %.0f digests/s\n", rep.Took.Seconds(), float64(rep.Queued)/rep.Took.Seconds())

	// The send-time work: copies made as the queue makes them.
	ds, err := queue.List(ctx, h.DB, "queued", sample)
	if err != nil {
		return err
	}
	t1 := time.Now()
	size := 0
	for _, d := range ds {
		b, err := h.Digest.Personalize(ctx, queue.Copy{DeliveryID: d.ID, Rcpt: d.Rcpt, Kind: d.Kind, Ref: d.Ref})
		if err != nil {
			return err
		}
		size += len(b)
	}
	took := time.Since(t1)
	if len(ds) > 0 {
		fmt.Printf("copies made at send time: %d in %.2f s, %.0f copies/s per worker, %.1f KB each\n",
			len(ds), took.Seconds(), float64(len(ds))/took.Seconds(), float64(size)/float64(len(ds))/1024)
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		fmt.Printf("peak memory (max RSS of the process, setup included): %.0f MB\n", float64(ru.Maxrss)/1024)
	}
	return nil
}
