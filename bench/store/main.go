// Command store compares relais on its two engines in the same run on the
// same machine: SQLite (the embedded default), PostgreSQL with one node,
// and PostgreSQL with two nodes (two `relais serve` processes on one
// database). It measures durable intake (MESSAGES messages of SIZE bytes
// from Postfix's smtp-source at 10 and 50 sessions, to a group forwarding
// to one address: messages/s to the last 250) and the fan-out of one post
// to a 10,000-member list (copies/s until every copy is recorded sent),
// both relaying into Postfix's smtp-sink, and prints each figure with its
// ratio to SQLite, the CPU of relais and of PostgreSQL, and the load
// average at the start and end of each run.
//
// PostgreSQL runs from a throwaway cluster (package pgtest) with fsync on,
// as in production, and relais's sessions ask synchronous_commit = on: a
// 250 means the message is on disk, for both engines. With two nodes,
// the sessions and messages are split between them.
//
// Needs root (the cluster runs as the postgres user), Debian's postgresql
// and postfix (smtp-source, smtp-sink), python3 (bench/nxdns.py).
//
//	sudo go run ./bench/store                       (MESSAGES=2000 MEMBERS=2000 for a quick look)
//	sudo go run ./bench/store -only sqlite,pg1      (engines to run)
//	sudo go run ./bench/store -fanout=false -sessions 50   (intake alone; RELAIS_CPUPROFILE=FILE profiles each node,
//	                                                the last run's stays; RELAIS_PGTEST_OPTS="-c log_statement=all" for the server)
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/mattn/go-sqlite3"

	"codeberg.org/relais/relais/internal/freeport"
	"codeberg.org/relais/relais/internal/pgtest"
)

var (
	messages = flag.Int("messages", envInt("MESSAGES", 10000), "messages per intake run")
	size     = flag.Int("size", envInt("SIZE", 4096), "bytes per message")
	members  = flag.Int("members", envInt("MEMBERS", 10000), "members of the fan-out list")
	sessions = flag.String("sessions", "10,50", "concurrent sessions of each intake run")
	only     = flag.String("only", "sqlite,pg1,pg2", "engines: sqlite, pg1 (one node), pg2 (two nodes)")
	keep     = flag.Bool("keep", false, "keep the work directory")
	rounds   = flag.Int("rounds", envInt("ROUNDS", 3), "rounds: each runs every engine in turn; medians are printed")
	fanout   = flag.Bool("fanout", true, "run the fan-out too (false: intake only)")
)

func envInt(k string, d int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return d
}

// engine is one configuration measured.
type engine struct {
	name  string
	nodes int
	pg    bool
}

// result of one run.
type result struct {
	rate     float64 // messages or copies per second
	relaisMS float64 // relais CPU ms per message or copy (all nodes)
	pgMS     float64 // PostgreSQL CPU ms per message or copy
	load     string
}

type bench struct {
	work, bin, sink, dns string
	pgURL                string
	pgPID                int
	seq                  int
}

func main() {
	flag.Parse()
	log.SetFlags(0)
	if os.Geteuid() != 0 {
		log.Fatal("run as root: the PostgreSQL cluster runs as the postgres user")
	}
	for _, t := range []string{"smtp-source", "smtp-sink"} {
		if _, err := exec.LookPath(t); err != nil {
			if _, err := os.Stat("/usr/sbin/" + t); err != nil {
				log.Fatalf("missing %s: apt-get install -y postfix", t)
			}
		}
	}
	os.Setenv("PATH", os.Getenv("PATH")+":/usr/sbin")
	b := &bench{}
	var err error
	if b.work, err = os.MkdirTemp("", "relais-bench-store-"); err != nil {
		log.Fatal(err)
	}
	os.Chmod(b.work, 0o755)
	if !*keep {
		defer os.RemoveAll(b.work)
	}
	b.bin = filepath.Join(b.work, "relais")
	log.Printf("building relais…")
	if out, err := exec.Command("go", "build", "-o", b.bin, "./cmd/relais").CombinedOutput(); err != nil {
		log.Fatalf("build: %v\n%s", err, out)
	}
	b.sink, b.dns = freePort(), freePort()
	sink := exec.Command("smtp-sink", "-u", "nobody", b.sink, "1000")
	if err := sink.Start(); err != nil {
		log.Fatal(err)
	}
	defer sink.Process.Kill()
	dns := exec.Command("python3", "bench/nxdns.py", strings.TrimPrefix(b.dns, "127.0.0.1:"))
	if err := dns.Start(); err != nil {
		log.Fatal(err)
	}
	defer dns.Process.Kill()
	var stop func()
	if strings.Contains(*only, "pg") {
		if b.pgURL, stop, err = pgtest.StartCluster(true); err != nil {
			log.Fatal(err)
		}
		defer stop()
		db, err := sql.Open("pgx", b.pgURL)
		if err != nil {
			log.Fatal(err)
		}
		if err := db.QueryRow("SELECT pg_backend_pid()").Scan(new(int)); err != nil {
			log.Fatal(err)
		}
		// The postmaster: its children are every backend.
		var dir string
		db.QueryRow("SHOW data_directory").Scan(&dir)
		db.Close()
		if pid, err := os.ReadFile(filepath.Join(dir, "postmaster.pid")); err == nil {
			b.pgPID, _ = strconv.Atoi(strings.SplitN(string(pid), "\n", 2)[0])
		}
	}
	waitPort(b.sink)

	var engines []engine
	for _, e := range strings.Split(*only, ",") {
		switch e {
		case "sqlite":
			engines = append(engines, engine{"SQLite", 1, false})
		case "pg1":
			engines = append(engines, engine{"PostgreSQL 1 node", 1, true})
		case "pg2":
			engines = append(engines, engine{"PostgreSQL 2 nodes", 2, true})
		}
	}
	fmt.Printf("\nrelais on SQLite and PostgreSQL %s, %d cores, %s, load at start %s\n", pgVersion(b.pgURL), nproc(), time.Now().UTC().Format("2006-01-02"), loadavg())
	fmt.Printf("intake: %d messages of %d bytes from smtp-source, 250 only after a durable commit (SQLite WAL synchronous=FULL;\n"+
		"PostgreSQL fsync on, synchronous_commit on); fan-out: one post to a %d-member list, a personal signed copy each,\n"+
		"until every copy is recorded sent; all into smtp-sink. CPU: ms per message or copy, relais (all nodes) and PostgreSQL.\n\n",
		*messages, *size, *members)
	fmt.Printf("Each round runs every engine in turn; the rates of each round, then their median (ratio: of the medians).\n\n")
	fmt.Printf("%-24s %-20s %-22s %8s %8s %10s %8s  %s\n", "run", "engine", "rounds", "median", "ratio", "relais CPU", "pg CPU", "load 1/5/15 at the last")
	type key struct{ run, engine string }
	all := map[key][]result{}
	var runs []string
	for _, s := range strings.Split(*sessions, ",") {
		runs = append(runs, "intake "+s)
	}
	if *fanout {
		runs = append(runs, "fan-out")
	}
	for r := 0; r < *rounds; r++ {
		for _, run := range runs {
			for _, e := range engines {
				var res result
				if run == "fan-out" {
					res = b.fanout(e)
				} else {
					n, _ := strconv.Atoi(strings.TrimPrefix(run, "intake "))
					res = b.intake(e, n)
				}
				all[key{run, e.name}] = append(all[key{run, e.name}], res)
				log.Printf("round %d, %s, %s: %.0f/s (load %s)", r+1, run, e.name, res.rate, res.load)
			}
		}
	}
	for _, run := range runs {
		label := "intake, " + strings.TrimPrefix(run, "intake ") + " sessions"
		if run == "fan-out" {
			label = fmt.Sprintf("fan-out, %d members", *members)
		}
		var base float64
		for _, e := range engines {
			rs := all[key{run, e.name}]
			m := median(rs)
			if e.name == "SQLite" {
				base = m.rate
			}
			var each []string
			for _, r := range rs {
				each = append(each, fmt.Sprintf("%.0f", r.rate))
			}
			ratio := "-"
			if base > 0 {
				ratio = fmt.Sprintf("%.2f×", m.rate/base)
			}
			pg := "-"
			if e.pg {
				pg = fmt.Sprintf("%.3f", m.pgMS)
			}
			fmt.Printf("%-24s %-20s %-22s %8.0f %8s %10.3f %8s  %s\n", label, e.name, strings.Join(each, " / "), m.rate, ratio, m.relaisMS, pg, rs[len(rs)-1].load)
		}
	}
	fmt.Printf("\nload at the end %s\n", loadavg())
}

// median returns the run of median rate (CPU figures are that run's).
func median(rs []result) result {
	s := append([]result(nil), rs...)
	sort.Slice(s, func(i, j int) bool { return s[i].rate < s[j].rate })
	return s[len(s)/2]
}

// hub is one engine's set-up for a run: data directories, the database
// URL, the nodes.
type hub struct {
	b     *bench
	e     engine
	url   string
	dirs  []string
	nodes []*exec.Cmd
	addrs []string
	logs  []*os.File
}

func (b *bench) newHub(e engine) *hub {
	b.seq++
	h := &hub{b: b, e: e}
	for i := 0; i < e.nodes; i++ {
		d := filepath.Join(b.work, fmt.Sprintf("run%d-node%d", b.seq, i))
		h.dirs = append(h.dirs, d)
	}
	if e.pg {
		u, err := pgtest.CreateDatabase(b.pgURL, fmt.Sprintf("bench%d", b.seq))
		if err != nil {
			log.Fatal(err)
		}
		h.url = u
	}
	return h
}

func (h *hub) env() []string {
	env := append(os.Environ(), "RELAIS_RELAY_STARTTLS=off", "RELAIS_METRICS_LISTEN=", "RELAIS_SMTP_MAX_CONNECTIONS_PER_IP=1000",
		"RELAIS_WEB_LISTEN=127.0.0.1:0", "RELAIS_AUTH_DNS_SERVER="+h.b.dns, "RELAIS_LOG_LEVEL=warn")
	if h.url != "" {
		env = append(env, "RELAIS_STORE_URL="+h.url)
	}
	return env
}

// relais runs a command of the relais binary on the hub's first node.
func (h *hub) relais(args ...string) {
	cmd := exec.Command(h.b.bin, append(args, "--data", h.dirs[0])...)
	cmd.Env = h.env()
	if out, err := cmd.CombinedOutput(); err != nil {
		log.Fatalf("relais %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (h *hub) start() {
	for i, d := range h.dirs {
		addr := freePort()
		cmd := exec.Command(h.b.bin, "serve", "--domain", "hub.example", "--listen", addr, "--relay", h.b.sink, "--data", d)
		cmd.Env = h.env()
		f, _ := os.Create(filepath.Join(h.b.work, fmt.Sprintf("run%d-node%d.log", h.b.seq, i)))
		cmd.Stdout, cmd.Stderr = f, f
		if err := cmd.Start(); err != nil {
			log.Fatal(err)
		}
		h.nodes = append(h.nodes, cmd)
		h.addrs = append(h.addrs, addr)
		h.logs = append(h.logs, f)
	}
	for _, a := range h.addrs {
		waitPort(a)
	}
}

func (h *hub) stop() {
	for _, c := range h.nodes {
		c.Process.Signal(syscall.SIGTERM)
		c.Wait()
	}
	for _, f := range h.logs {
		f.Close()
	}
}

// cpu is the CPU seconds used so far by the nodes and by PostgreSQL.
func (h *hub) cpu() (relais, pg float64) {
	for _, c := range h.nodes {
		relais += cputree(c.Process.Pid)
	}
	if h.e.pg && h.b.pgPID > 0 {
		pg = cputree(h.b.pgPID)
	}
	return
}

// count asks the database how many deliveries are in state.
func (h *hub) count(state string) int {
	var db *sql.DB
	var err error
	if h.url != "" {
		db, err = sql.Open("pgx", h.url)
	} else {
		db, err = sql.Open("sqlite3", "file:"+filepath.Join(h.dirs[0], "relais.db")+"?mode=ro&_busy_timeout=5000")
	}
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	var n int
	q := "SELECT COUNT(*) FROM deliveries WHERE state = '" + state + "'"
	if err := db.QueryRow(q).Scan(&n); err != nil {
		log.Printf("count: %v", err)
		return -1
	}
	return n
}

// drained waits until n deliveries are sent and none is queued.
func (h *hub) drained(n int) {
	deadline := time.Now().Add(15 * time.Minute)
	for time.Now().Before(deadline) {
		if h.count("queued") == 0 && h.count("sent") >= n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	log.Fatalf("not drained after 15 minutes (logs in %s)", h.b.work)
}

func (b *bench) intake(e engine, sessions int) result {
	h := b.newHub(e)
	h.relais("group", "add", "4405.bench", "--name", "Bench", "--animator", "member@sink.example")
	h.start()
	defer h.stop()
	r0, p0 := h.cpu()
	start := time.Now()
	errs := make(chan error, e.nodes)
	for i, a := range h.addrs {
		m := *messages / e.nodes
		if i == 0 {
			m += *messages % e.nodes
		}
		cmd := exec.Command("smtp-source", "-s", strconv.Itoa(max(sessions/e.nodes, 1)), "-m", strconv.Itoa(m), "-l", strconv.Itoa(*size),
			"-f", "writer@example.org", "-t", "4405.bench@hub.example", a)
		go func() { errs <- cmd.Run() }()
	}
	for range h.addrs {
		if err := <-errs; err != nil {
			log.Fatalf("smtp-source: %v", err)
		}
	}
	took := time.Since(start)
	h.drained(*messages)
	r1, p1 := h.cpu()
	return result{rate: float64(*messages) / took.Seconds(), relaisMS: 1000 * (r1 - r0) / float64(*messages),
		pgMS: 1000 * (p1 - p0) / float64(*messages), load: loadavg()}
}

func (b *bench) fanout(e engine) result {
	h := b.newHub(e)
	f := filepath.Join(b.work, "members.txt")
	var sb strings.Builder
	for i := 0; i < *members; i++ {
		fmt.Fprintf(&sb, "m%06d@sink.example\n", i)
	}
	os.WriteFile(f, []byte(sb.String()), 0o644)
	h.relais("list", "create", "fr.bench", "--policy", "open", "--auth", "off", "--owner", "owner@bench.example")
	h.relais("list", "subscribe", "fr.bench", "--consent", "benchmark", "--file", f)
	h.start()
	defer h.stop()
	body := strings.Repeat("Un message de la liste, assez long pour ressembler à un vrai.\r\n", *size/64)
	msg := "From: Poster <poster@example.org>\r\nTo: fr.bench@hub.example\r\nSubject: Bench\r\nMessage-ID: <bench@example.org>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body
	r0, p0 := h.cpu()
	start := time.Now()
	c, err := smtp.Dial(h.addrs[0])
	if err != nil {
		log.Fatal(err)
	}
	if err := c.SendMail("poster@example.org", []string{"fr.bench@hub.example"}, strings.NewReader(msg)); err != nil {
		log.Fatalf("post: %v", err)
	}
	c.Quit()
	h.drained(*members)
	took := time.Since(start)
	r1, p1 := h.cpu()
	return result{rate: float64(*members) / took.Seconds(), relaisMS: 1000 * (r1 - r0) / float64(*members),
		pgMS: 1000 * (p1 - p0) / float64(*members), load: loadavg()}
}

// cputree is the CPU seconds used by pid and the processes under it
// (those reaped included).
func cputree(pid int) float64 {
	var walk func(int) float64
	walk = func(pid int) float64 { // clock ticks
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		var t float64
		for _, x := range f[11:15] {
			v, _ := strconv.ParseFloat(x, 64)
			t += v
		}
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		for _, task := range tasks {
			c, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
			for _, k := range strings.Fields(string(c)) {
				kid, _ := strconv.Atoi(k)
				t += walk(kid)
			}
		}
		return t
	}
	return walk(pid) / 100 // USER_HZ
}

func freePort() string {
	a, err := freeport.Addr()
	if err != nil {
		log.Fatal(err)
	}
	return a
}

func waitPort(a string) {
	for i := 0; i < 300; i++ {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	log.Fatalf("%s did not open", a)
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func nproc() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t:")
}

func pgVersion(u string) string {
	if u == "" {
		return ""
	}
	db, err := sql.Open("pgx", u)
	if err != nil {
		return ""
	}
	defer db.Close()
	var v string
	db.QueryRowContext(context.Background(), "SHOW server_version").Scan(&v)
	return strings.Fields(v + " ")[0]
}
