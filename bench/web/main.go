// Command web measures the members' pages under load: MEMBERS members of
// the agenda (each also on two lists) and EVENTS upcoming events spread
// over France by the gazetteer (as bench/digest draws them), a hub on
// 127.0.0.1, and CLIENTS concurrent clients for DURATION on each of two
// pages: a signed-in member's own page (/me: their lists, the lists of
// their groups, their agenda, the events they attend) and the public
// agenda searched near a random postal code (/agenda?place=CP&radius=30).
// It reports pages per second and the 50th, 95th and 99th percentiles of
// latency, and the machine's load average before and after, since the
// machine may be shared.
//
//	go run ./bench/web [-members 100000] [-events 20000] [-clients 50] [-duration 15s]
//
// No peer serves these pages (Sympa's and Mailman's web interfaces do other
// work), so the figures are absolute; the goal is p95 under 50 ms on the
// 2-core machine.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/audit"
	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/digest"
	"codeberg.org/relais/relais/events"
	"codeberg.org/relais/relais/geo"
	"codeberg.org/relais/relais/groups"
	"codeberg.org/relais/relais/hub"
	"codeberg.org/relais/relais/lists"
	"codeberg.org/relais/relais/store"
)

func main() {
	members := flag.Int("members", 100000, "members of the agenda, each on two lists")
	nEvents := flag.Int("events", 20000, "upcoming events")
	nGroups := flag.Int("groups", 2000, "groups organising them")
	clients := flag.Int("clients", 50, "concurrent clients")
	duration := flag.Duration("duration", 15*time.Second, "how long each page is asked for")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the runs (server and clients) to this file")
	flag.Parse()
	if *profile != "" {
		f, err := os.Create(*profile)
		if err == nil {
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	if err := run(*members, *nEvents, *nGroups, *clients, *duration); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "bench/web:", err)
		os.Exit(1)
	}
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func run(nMembers, nEvents, nGroups, nClients int, d time.Duration) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "relais-web-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	now := time.Now()
	c := config.Default()
	c.Domains, c.Hostname, c.DataDir = []string{"hub.example"}, "mx.hub.example", dir
	c.SMTP.Listen, c.Web.Listen, c.Relay.Address = []string{"127.0.0.1:0"}, "127.0.0.1:0", "127.0.0.1:9"
	c.DKIM.Sign = false
	c.Web.RequestsPerIPMinute = 0 // every client is 127.0.0.1
	if err := c.Validate(); err != nil {
		return err
	}
	h, err := hub.Open(ctx, c, hub.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	defer h.Close(ctx)

	g := geo.Default()
	var located []geo.Commune
	for _, cm := range g.Communes() {
		if cm.Population > 0 && cm.Dept < "96" && cm.Parent == "" && len(cm.PostCodes) > 0 {
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
	draw := func() geo.Commune { return located[sort.SearchInts(cum, rng.IntN(total)+1)] }

	t0 := time.Now()
	var groupIDs []int64
	var listIDs []int64
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
		groupIDs = append(groupIDs, gr.ID)
		if i%10 == 0 { // a list for one group in ten
			l, err := lists.Create(ctx, h.DB, lists.List{Code: code, Name: fmt.Sprintf("liste%d", i), Policy: lists.Members,
				Owners: []lists.Owner{{Email: fmt.Sprintf("anim%d@example.org", i)}}}, audit.Actor{})
			if err != nil {
				return fmt.Errorf("list: %w", err)
			}
			listIDs = append(listIDs, l.ID)
		}
	}
	themes := []string{"logement", "climat", "santé", "école", "transports", "emploi"}
	err = h.DB.Write(ctx, func(tx *store.Tx) error {
		for i := 0; i < nEvents; i++ {
			cm := draw()
			start := now.Add(time.Duration(1+rng.IntN(60*24)) * time.Hour).Truncate(30 * time.Minute)
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
				PostCode: cm.PostCodes[0], Radius: 25, Lang: "fr", Zone: "Europe/Paris", Active: true}
			if err := digest.Save(tx, m, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	byList := map[int64][]string{}
	for i := 0; i < nMembers; i++ {
		for _, k := range []int{i, i * 7} {
			id := listIDs[k%len(listIDs)]
			byList[id] = append(byList[id], fmt.Sprintf("m%d@example.org", i))
		}
	}
	for id, emails := range byList {
		if _, err := lists.Subscribe(ctx, h.DB, id, "bench", slices.Compact(emails), audit.Actor{}, now); err != nil {
			return err
		}
	}
	// The clients' sessions, as signing in makes them (signin keeps the
	// SHA-256 of the cookie's value).
	cookies := make([]string, nClients)
	err = h.DB.Write(ctx, func(tx *store.Tx) error {
		for i := range cookies {
			cookies[i] = fmt.Sprintf("bench-session-%d-%d", i, rng.Int64())
			sum := sha256.Sum256([]byte(cookies[i]))
			if _, err := tx.Exec("session.insert", hex.EncodeToString(sum[:]), fmt.Sprintf("m%d@example.org", i*997%nMembers),
				"fr", true, now.Unix(), now.Add(24*time.Hour).Unix()); err != nil {
				return err
			}
			if _, err := tx.Exec("attendee.add", 1+int64(i), fmt.Sprintf("m%d@example.org", i*997%nMembers), "fr", now.Unix()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Only the web server runs: the hub's minute tick would start the
	// week's 100,000 digests in the middle of the measure.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	h.ListenWeb(ln)
	go h.Web.Serve(ln)
	base := "http://" + h.WebAddr().String()
	fmt.Printf("data: %d members (each on 2 of %d lists), %d events, %d groups, made in %s\n",
		nMembers, len(listIDs), nEvents, len(groupIDs), time.Since(t0).Round(time.Second))

	tr := &http.Transport{MaxIdleConnsPerHost: nClients, MaxConnsPerHost: nClients}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	pages := []struct {
		name string
		url  func(i int, r *rand.Rand) (string, string) // URL, cookie
	}{
		{"/me (signed in)", func(i int, r *rand.Rand) (string, string) { return base + "/me", cookies[i] }},
		{"/agenda?place=CP&radius=30", func(i int, r *rand.Rand) (string, string) {
			return base + "/agenda?radius=30&place=" + located[r.IntN(len(located))].PostCodes[0], ""
		}},
	}
	for _, p := range pages {
		// Warm up: the first search reads the events to come.
		u, ck := p.url(0, rand.New(rand.NewPCG(9, 9)))
		if code, err := get(client, u, ck); err != nil || code != 200 {
			return fmt.Errorf("%s: %d %v", p.name, code, err)
		}
		before := loadavg()
		var mu sync.Mutex
		var lat []time.Duration
		errs := 0
		var wg sync.WaitGroup
		start := time.Now()
		for i := 0; i < nClients; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(i), 7))
				var mine []time.Duration
				bad := 0
				for time.Since(start) < d {
					u, ck := p.url(i, r)
					t := time.Now()
					code, err := get(client, u, ck)
					if err != nil || code != 200 {
						bad++
						continue
					}
					mine = append(mine, time.Since(t))
				}
				mu.Lock()
				lat, errs = append(lat, mine...), errs+bad
				mu.Unlock()
			}(i)
		}
		wg.Wait()
		took := time.Since(start)
		slices.Sort(lat)
		q := func(f float64) time.Duration {
			if len(lat) == 0 {
				return 0
			}
			return lat[int(f*float64(len(lat)-1))].Round(100 * time.Microsecond)
		}
		fmt.Printf("%-28s %d clients: %6.0f pages/s, p50 %s, p95 %s, p99 %s, %d errors; load average %s before, %s after\n",
			p.name, nClients, float64(len(lat))/took.Seconds(), q(0.50), q(0.95), q(0.99), errs, before, loadavg())
	}
	return nil
}

func get(c *http.Client, u, cookie string) (int, error) {
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "text/html")
	if cookie != "" {
		req.Header.Set("Cookie", "relais_session="+cookie)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}
