// Command digest measures the weekly digest run: MEMBERS members and
// EVENTS upcoming events spread over France by the gazetteer (places drawn
// in proportion to population, events organised by groups all over the
// country, one member in ten in a group's list), then one run that
// chooses each member's digest, records it and queues it. It reports the
// run's time into the outbound queue, digests per second, and the peak
// memory of the process.
//
// With -deliver (the default) the hub then delivers what it queued, end to
// end, as `relais serve` does: each digest rendered from the member's
// record, signed (RSA-2048 and Ed25519) and sent to Postfix's smtp-sink,
// which the bench starts on a free port. It reports digests per second to
// the last one the sink counted, the CPU milliseconds per digest of relais
// and of the sink, and the latency of intake meanwhile (one message every
// 100 ms to a group, timed from connect to the 250 after DATA). As a
// reference run in the same session, smtp-source then sends the same
// number of messages of the same average size, unsigned and identical, to
// the same sink with as many sessions as the queue has workers: the
// sink's own ceiling on this machine.
//
//	go run ./bench/digest [-members 100000] [-events 20000] [-deliver=false]
//
// No peer sends personalised digests of nearby events (Mailman and Sympa
// have no per-member digest), so the run into the queue is measured alone.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/audit"
	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/digest"
	"codeberg.org/relais/relais/dkim"
	"codeberg.org/relais/relais/events"
	"codeberg.org/relais/relais/geo"
	"codeberg.org/relais/relais/groups"
	"codeberg.org/relais/relais/hub"
	"codeberg.org/relais/relais/lists"
	"codeberg.org/relais/relais/mailauth"
	"codeberg.org/relais/relais/queue"
	"codeberg.org/relais/relais/store"
)

func main() {
	members := flag.Int("members", 100000, "members of the agenda")
	nEvents := flag.Int("events", 20000, "upcoming events")
	nGroups := flag.Int("groups", 2000, "groups organising them")
	sample := flag.Int("render", 500, "copies made as the queue makes them, to time the send-time work")
	deliver := flag.Bool("deliver", true, "then deliver every digest, signed, into smtp-sink, and compare with smtp-source")
	flag.Parse()
	if err := run(*members, *nEvents, *nGroups, *sample, *deliver); err != nil {
		fmt.Fprintln(os.Stderr, "bench/digest:", err)
		os.Exit(1)
	}
}

func run(nMembers, nEvents, nGroups, sample int, deliver bool) error {
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
	c.Web.BaseURL = "https://agenda.hub.example"
	c.DKIM.Sign = false
	var snk *sink
	if deliver {
		if snk, err = startSink(); err != nil {
			return err
		}
		defer snk.stop()
		c.Relay.Address, c.Relay.StartTLS, c.DKIM.Sign = snk.addr, "off", true
	}
	if err := c.Validate(); err != nil {
		return err
	}
	logs := io.Discard
	if os.Getenv("LOG") != "" {
		logs = os.Stderr
	}
	// As relais serve runs: more Go processors than the cores when
	// libcrypto signs (before hub.Open, which sizes the queue to them).
	if cores, ok := dkim.Processors(c.DKIM.Sign, c.DKIM.RSA); ok {
		fmt.Printf("go processors: %d for %d cores, %d signing at once (libcrypto signs), as relais serve runs\n", runtime.GOMAXPROCS(0), cores, dkim.Signers())
	}
	h, err := hub.Open(ctx, c, hub.Options{Logger: slog.New(slog.NewTextHandler(logs, nil)), Now: func() time.Time { return now },
		Resolver: &mailauth.StaticResolver{}})
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
				Owners: []lists.Owner{{Email: "owner@example.org"}}}, audit.Actor{})
			if err != nil {
				return err
			}
			id, codes[code] = l.ID, l.ID
		}
		if _, err := lists.Subscribe(ctx, h.DB, id, "benchmark", []string{fmt.Sprintf("m%d@example.org", i)}, audit.Actor{}, now); err != nil {
			return err
		}
	}
	fmt.Printf("setup: %d groups, %d events, %d members (%d lists) in %.1f s\n", len(groupIDs), nEvents, nMembers, len(codes), time.Since(t0).Seconds())

	// The run's own peak: what setup used is given back, and the kernel's
	// high-water mark of the process (VmHWM) starts again from here
	// (clear_refs 5, proc(5)).
	setupPeak := vmKB("VmHWM")
	debug.FreeOSMemory()
	rss0 := vmKB("VmRSS")
	resetHWM := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
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
	if resetHWM {
		fmt.Printf("peak memory of the run (VmHWM from its start): %.0f MB (resident before it: %.0f MB)\n", float64(vmKB("VmHWM"))/1024, float64(rss0)/1024)
	}
	// A second run the same week finds every digest recorded.
	if again, err := h.Digest.Run(ctx, false); err != nil || again.Due != 0 || again.Members != rep.Members {
		return fmt.Errorf("second run the same week: %+v %v", again, err)
	}

	// The send-time work: copies made as the queue makes them.
	ds, err := queue.List(ctx, h.DB, "queued", sample)
	if err != nil {
		return err
	}
	// In the order the queue hands them out.
	sort.Slice(ds, func(i, j int) bool { return ds[i].ID < ds[j].ID })
	t1 := time.Now()
	size := 0
	for _, d := range ds {
		b, err := h.Digest.Personalize(ctx, queue.Copy{DeliveryID: d.ID, OutboundID: d.OutboundID, Rcpt: d.Rcpt, Kind: d.Kind, Ref: d.Ref})
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
	fmt.Printf("peak memory of the setup (VmHWM before the run): %.0f MB\n", float64(setupPeak)/1024)
	if !deliver {
		return nil
	}
	avg := 16 * 1024
	if len(ds) > 0 {
		avg = size / len(ds)
	}
	return deliverAll(ctx, h, snk, queued, avg)
}

// deliverAll starts the hub's queue and waits until the sink has counted
// want messages; then it runs smtp-source against the same sink.
func deliverAll(ctx context.Context, h *hub.Hub, snk *sink, want, size int) error {
	code, _ := address.ParseCode("4405")
	if _, err := groups.Add(ctx, h.DB, groups.Group{Code: code, Name: "probe", DisplayName: "Probe",
		Animators: []string{"probe@sink.example"}}); err != nil {
		return err
	}
	if err := h.Listen(); err != nil {
		return err
	}
	load0 := loadavg()
	base := snk.count()
	cpu0, sink0 := selfCPU(), snk.cpu()
	if f, err := os.Create(os.Getenv("DELIVERPROFILE")); err == nil && os.Getenv("DELIVERPROFILE") != "" {
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if name := os.Getenv("DELIVERALLOCS"); name != "" {
		// What the delivery allocated: go tool pprof -sample_index=alloc_space.
		runtime.MemProfileRate = 64 << 10
		defer func() {
			if f, err := os.Create(name); err == nil {
				pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	if name := os.Getenv("DELIVERMUTEX"); name != "" {
		// Where the delivery's goroutines waited for a lock: go tool pprof.
		runtime.SetMutexProfileFraction(10)
		runtime.SetBlockProfileRate(int(time.Millisecond / 10))
		defer func() {
			for _, kind := range []string{"mutex", "block"} {
				if f, err := os.Create(name + "." + kind); err == nil {
					pprof.Lookup(kind).WriteTo(f, 0)
					f.Close()
				}
			}
		}()
	}
	t0 := time.Now()
	h.Start()
	defer h.Close(context.Background())
	probe := startProbe(h.Addrs()[0].String())
	last, lastAt := base, time.Now()
	// The probe's messages reach the sink too: a forward each.
	for snk.count()-base < want+int(probe.sent.Load()) {
		time.Sleep(20 * time.Millisecond)
		if n := snk.count(); n != last {
			last, lastAt = n, time.Now()
		} else if time.Since(lastAt) > time.Minute {
			return fmt.Errorf("deliver: the sink got %d of %d, then nothing for a minute", n-base, want)
		}
	}
	took := time.Since(t0)
	pprof.StopCPUProfile()
	cpu, sinkCPU := selfCPU()-cpu0, snk.cpu()-sink0
	lat := probe.stop()
	fmt.Printf("\ndelivered end to end (rendered, signed RSA-2048 + Ed25519, sent): %d digests in %.1f s, %.0f digests/s (load %s, then %s)\n",
		want, took.Seconds(), float64(want)/took.Seconds(), load0, loadavg())
	fmt.Printf("CPU per digest: relais %.2f ms, smtp-sink %.2f ms; DKIM RSA: %s\n",
		1000*cpu.Seconds()/float64(want), 1000*sinkCPU.Seconds()/float64(want), dkim.RSAEngine())
	if len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		q := func(f float64) float64 { return float64(lat[int(f*float64(len(lat)-1))].Microseconds()) / 1000 }
		fmt.Printf("intake meanwhile: %d messages, latency to 250 median %.1f ms, p95 %.1f ms, max %.1f ms\n", len(lat), q(0.5), q(0.95), q(1))
	}
	// The reference: the sink's own ceiling with identical unsigned
	// messages of the same size, as many sessions as the queue has workers.
	n := min(want, 20000)
	sessions := h.Config.Queue.Workers
	base = snk.count()
	t1 := time.Now()
	out, err := exec.Command(smtpSource(), "-s", fmt.Sprint(sessions), "-m", fmt.Sprint(n), "-l", fmt.Sprint(size),
		"-f", "bench@example.org", "-t", "peer@sink.example", snk.addr).CombinedOutput()
	if err != nil {
		return fmt.Errorf("smtp-source: %v: %s", err, out)
	}
	for snk.count()-base < n {
		time.Sleep(5 * time.Millisecond)
	}
	peer := float64(n) / time.Since(t1).Seconds()
	fmt.Printf("smtp-source into the same sink, %d sessions, %d messages of %d bytes: %.0f msg/s\n", sessions, n, size, peer)
	fmt.Printf("relais / smtp-source: %.2fx\n", float64(want)/took.Seconds()/peer)
	return nil
}

// sink is Postfix's smtp-sink on a free port, counting what it receives.
type sink struct {
	addr string
	cmd  *exec.Cmd
	n    atomic.Int64
}

func startSink() (*sink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	bin := "smtp-sink"
	if _, err := exec.LookPath(bin); err != nil {
		bin = "/usr/sbin/smtp-sink"
	}
	args := []string{"-c", addr, "1000"}
	if os.Geteuid() == 0 {
		args = append([]string{"-u", "nobody"}, args...)
	}
	s := &sink{addr: addr, cmd: exec.Command(bin, args...)}
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("smtp-sink (apt-get install postfix): %w", err)
	}
	// -c writes "sess=N quit=N mesg=N" and a carriage return at each event.
	go func() {
		r := bufio.NewReader(out)
		for {
			line, err := r.ReadString('\r')
			if i := strings.Index(line, "mesg="); i >= 0 {
				if n, err := strconv.ParseInt(strings.TrimRight(line[i+5:], "\r\n "), 10, 64); err == nil {
					s.n.Store(n)
				}
			}
			if err != nil {
				return
			}
		}
	}()
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return s, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop()
	return nil, errors.New("smtp-sink did not start")
}

func (s *sink) count() int { return int(s.n.Load()) }

// cpu is the CPU time the sink has used so far.
func (s *sink) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64) // utime, stime: fields 14 and 15 of stat(5)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * time.Second / 100 // USER_HZ
}

func (s *sink) stop() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

func smtpSource() string {
	if p, err := exec.LookPath("smtp-source"); err == nil {
		return p
	}
	return "/usr/sbin/smtp-source"
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// vmKB reads a field of /proc/self/status, in kB.
func vmKB(field string) int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// probe sends a message to the hub every 100 ms and times each, from
// connect to the 250 after DATA.
type probe struct {
	done chan struct{}
	lat  chan []time.Duration
	sent atomic.Int64
}

func startProbe(addr string) *probe {
	p := &probe{done: make(chan struct{}), lat: make(chan []time.Duration, 1)}
	msg := "From: probe@example.org\r\nTo: 4405.probe@hub.example\r\nSubject: probe\r\n" +
		"Message-ID: <%d@probe.example.org>\r\nDate: " + time.Now().Format(time.RFC1123Z) + "\r\n\r\nprobe\r\n"
	go func() {
		var lat []time.Duration
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-p.done:
				p.lat <- lat
				return
			case <-t.C:
			}
			t0 := time.Now()
			if err := send(addr, fmt.Sprintf(msg, i)); err == nil {
				lat = append(lat, time.Since(t0))
				p.sent.Add(1)
			} else {
				fmt.Fprintln(os.Stderr, "probe:", err)
			}
		}
	}()
	return p
}

func send(addr, msg string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("probe.example.org"); err != nil {
		return err
	}
	if err := c.SendMail("probe@example.org", []string{"4405.probe@hub.example"}, strings.NewReader(msg)); err != nil {
		return err
	}
	return c.Quit()
}

func (p *probe) stop() []time.Duration {
	close(p.done)
	return <-p.lat
}
