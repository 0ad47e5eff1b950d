package main

// These tests run the relais binary as an operator would: built once, driven
// through its command line, killed with SIGKILL, and talked to by real SMTP
// peers (Postfix's smtp-source and smtp-sink where installed).

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"codeberg.org/relais/relais/dkim"
	"codeberg.org/relais/relais/internal/freeport"
	"codeberg.org/relais/relais/internal/pgtest"
	"codeberg.org/relais/relais/outbox"
)

var relaisBin string

// deadDNS is a UDP port nothing listens on: the DNS server of the hubs the
// tests run.
var deadDNS string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "relais-bin")
	if err != nil {
		panic(err)
	}
	relaisBin = filepath.Join(dir, "relais")
	out, err := exec.Command("go", "build", "-o", relaisBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build relais: %v\n%s", err, out)
		os.Exit(1)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	deadDNS = pc.LocalAddr().String()
	pc.Close()
	code := m.Run()
	pgtest.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

func relais(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(relaisBin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("relais %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// freePort returns an address on 127.0.0.1 where nothing listens, for a
// process started later to listen on (see internal/freeport).
func freePort(t *testing.T) string {
	t.Helper()
	a, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// hubProc is a `relais serve` process.
type hubProc struct {
	cmd  *exec.Cmd
	addr string
	logs *bytes.Buffer
	mu   *sync.Mutex
}

func serveHub(t *testing.T, data, relay string, env ...string) *hubProc {
	t.Helper()
	addr := freePort(t)
	cmd := exec.Command(relaisBin, "serve", "--domain", "hub.example", "--listen", addr, "--data", data, "--relay", relay)
	// The DNS is a port where nothing answers: tests never touch the
	// network, and verdicts come out as temperror.
	cmd.Env = append(os.Environ(), "RELAIS_RELAY_STARTTLS=off", "RELAIS_QUEUE_RETRY_MIN=1s", "RELAIS_HOSTNAME=mx.hub.example",
		"RELAIS_AUTH_DNS_SERVER="+deadDNS, "RELAIS_WEB_LISTEN=127.0.0.1:0", "RELAIS_METRICS_LISTEN=127.0.0.1:0")
	cmd.Env = append(cmd.Env, env...)
	p := &hubProc{cmd: cmd, addr: addr, logs: &bytes.Buffer{}, mu: &sync.Mutex{}}
	cmd.Stderr = lockedWriter{p.mu, p.logs}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.kill() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "220 ") {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("relais serve did not start:\n%s", p.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *hubProc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

func (p *hubProc) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func sendOne(addr, from, to, msg string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendMail(from, []string{to}, strings.NewReader(msg)); err != nil {
		return err
	}
	return c.Quit()
}

// SIGKILL right after the hub said 250 for 100 messages, while their
// deliveries were failing (relay down): a new process on the same data
// directory delivers every one of them, each to each animator, once.
func TestKill9AfterAcceptLosesNothing(t *testing.T) {
	data := t.TempDir()
	relais(t, "group", "add", "4405.nantes-sud", "--name", "Nantes Sud", "--commune", "44200",
		"--animator", "camille@exemple.fr", "--animator", "karim@exemple.fr", "--data", data)
	deadRelay := freePort(t) // nothing listens there
	p := serveHub(t, data, deadRelay)

	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			msg := fmt.Sprintf("From: w%d@example.org\r\nSubject: message %d\r\nMessage-ID: <m%d@example.org>\r\n\r\nbody %d\r\n", i, i, i, i)
			errs <- sendOne(p.addr, fmt.Sprintf("w%d@example.org", i), "4405.nantes-sud@hub.example", msg)
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	p.kill() // no shutdown, no flush: SIGKILL

	box, err := outbox.Start(deadRelay, "")
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	p = serveHub(t, data, deadRelay)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mails, err := box.Wait(ctx, 2*n)
	if err != nil {
		t.Fatalf("%v\n%s", err, p.log())
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
	mails = box.Mails()
	seen := map[string]int{}
	for _, m := range mails {
		seen[m.Header().Get("Message-Id")+" "+m.To]++
	}
	if len(mails) != 2*n || len(seen) != 2*n {
		var dup []string
		for k, v := range seen {
			if v > 1 {
				dup = append(dup, k)
			}
		}
		sort.Strings(dup)
		t.Fatalf("%d copies, %d distinct, duplicates: %v", len(mails), len(seen), dup)
	}
	out := relais(t, "outbox", "--data", data)
	if !strings.Contains(out, fmt.Sprintf("Queue (%s): sent %d", data, 2*n)) {
		t.Fatalf("outbox:\n%s", out)
	}
}

func TestCLIGroups(t *testing.T) {
	data := t.TempDir()
	csv := filepath.Join(t.TempDir(), "groupes.csv")
	os.WriteFile(csv, []byte("\ufeffaddress;name;commune;animators\n4405.nantes-sud;Nantes Sud;44200;a@exemple.fr b@exemple.fr\n2a01.ajaccio;Ajaccio;2A004;c@exemple.fr\n"), 0o600)
	if out := relais(t, "group", "import", csv, "--data", data); !strings.Contains(out, "2 created, 0 updated") {
		t.Fatal(out)
	}
	if out := relais(t, "group", "import", csv, "--data", data); !strings.Contains(out, "0 created, 2 updated") {
		t.Fatal(out)
	}
	relais(t, "group", "update", "4405.nantes-sud", "--name", "Nantes Sud", "--animator", "d@exemple.fr", "--data", data)
	out := relais(t, "group", "list", "--data", data)
	want := []string{"2a01.ajaccio", "Ajaccio", "2A004", "c@exemple.fr", "4405.nantes-sud", "d@exemple.fr"}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("list lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "a@exemple.fr") {
		t.Errorf("update did not replace the animators:\n%s", out)
	}
	// Refusals say why, and change nothing.
	cmd := exec.Command(relaisBin, "group", "add", "4411.nantes", "--name", "X", "--animator", "a@exemple.fr", "--data", data)
	b, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(b), "Loire-Atlantique (44) has 10 circonscriptions") {
		t.Fatalf("4411 accepted or unexplained: %v %s", err, b)
	}
	bad := filepath.Join(t.TempDir(), "bad.csv")
	os.WriteFile(bad, []byte("address,name,commune,animators\n9912.x,X,,a@exemple.fr\n4405.y,Y,,not-an-address\n"), 0o600)
	b, err = exec.Command(relaisBin, "group", "import", bad, "--data", data).CombinedOutput()
	if err == nil || !strings.Contains(string(b), "line 2") || !strings.Contains(string(b), "line 3") || !strings.Contains(string(b), "nothing imported") {
		t.Fatalf("bad CSV: %v %s", err, b)
	}
	if out := relais(t, "group", "list", "--data", data); strings.Contains(out, "9912") || strings.Contains(out, "4405.y") {
		t.Fatalf("partial import:\n%s", out)
	}
	for _, args := range [][]string{{"--help"}, {"serve", "--help"}, {"demo", "--help"}, {"group", "--help"}, {"outbox", "--help"}} {
		if _, err := exec.Command(relaisBin, args...).CombinedOutput(); err != nil {
			t.Errorf("relais %v: %v", args, err)
		}
	}
}

func netDial(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, time.Second) }

// The list commands an operator uses: create, a family import from CSV,
// list, subscribe with a consent record (and nobody who left brought back),
// members.
func TestCLILists(t *testing.T) {
	data := t.TempDir()
	dir := t.TempDir()
	relais(t, "group", "add", "4405.nantes-sud", "--name", "Nantes Sud", "--animator", "a@exemple.fr", "--data", data)
	if out := relais(t, "list", "create", "4405.annonces", "--policy", "announce", "--owner", "a@exemple.fr", "--data", data); !strings.Contains(out, "created: 4405.annonces") {
		t.Fatal(out)
	}
	// A CODE.NAME is a group or a list, not both.
	if out, err := exec.Command(relaisBin, "list", "create", "4405.nantes-sud", "--policy", "open", "--owner", "a@exemple.fr", "--data", data).CombinedOutput(); err == nil {
		t.Fatalf("a list over a group's address: %s", out)
	}
	family := filepath.Join(dir, "famille.toml")
	os.WriteFile(family, []byte("policy = \"members\"\nmoderators = [\"mod@exemple.fr\"]\nmax_kb = 512\n"), 0o600)
	csv := filepath.Join(dir, "listes.csv")
	os.WriteFile(csv, []byte("address;owners;policy;name\n4401.discussion;b@exemple.fr;;Discussion Nord\n2a01.annonces;c@exemple.fr;announce;\n"), 0o600)
	if out := relais(t, "list", "import", csv, "--template", family, "--data", data); !strings.Contains(out, "2 created, 0 updated") {
		t.Fatal(out)
	}
	out := relais(t, "list", "list", "--data", data)
	for _, want := range []string{"4401.discussion  Discussion Nord", "members   list     mod@exemple.fr b@exemple.fr", "2a01.annonces", "announce"} {
		if !strings.Contains(out, want) {
			t.Fatalf("list list: no %q in\n%s", want, out)
		}
	}
	if out := relais(t, "list", "subscribe", "4401.discussion", "--consent", "Framalistes export 2026-11", "x@example.org", "y@example.org", "--data", data); !strings.Contains(out, "subscribed: 2") {
		t.Fatal(out)
	}
	if out, err := exec.Command(relaisBin, "list", "subscribe", "4401.discussion", "z@example.org", "--data", data).CombinedOutput(); err == nil {
		t.Fatalf("subscribed without a consent record: %s", out)
	}
	out = relais(t, "list", "members", "4401.discussion", "--data", data)
	if !strings.Contains(out, "x@example.org") || !strings.Contains(out, "operator: Framalistes export 2026-11") {
		t.Fatal(out)
	}
	if out := relais(t, "list", "subscribe", "4401.discussion", "--consent", "again", "x@example.org", "--data", data); !strings.Contains(out, "subscribed: 0") {
		t.Fatal(out)
	}
}

// The desk from the command line: a queue made with `relais queue add`,
// a request sent over SMTP to `relais serve`, read back with `relais
// ticket list` and `ticket show`.
func TestCLITickets(t *testing.T) {
	data := t.TempDir()
	if out := relais(t, "queue", "add", "support", "--name", "Support national", "--operator", "nadia@ops.example,paul@ops.example", "--data", data); !strings.Contains(out, "queue support (Support national, fr), operators: nadia@ops.example, paul@ops.example") {
		t.Fatal(out)
	}
	for _, bad := range []string{"postmaster", "4405.support", "bounces"} {
		if out, err := exec.Command(relaisBin, "queue", "add", bad, "--operator", "x@ops.example", "--data", data).CombinedOutput(); err == nil {
			t.Fatalf("queue %s accepted: %s", bad, out)
		}
	}
	if out := relais(t, "queue", "list", "--data", data); !strings.Contains(out, "support  Support national  fr    nadia@ops.example, paul@ops.example") {
		t.Fatal(out)
	}
	box, err := outbox.Start("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	p := serveHub(t, data, box.Addr())
	msg := "From: Camille <camille@exemple.fr>\r\nTo: support@hub.example\r\nSubject: =?utf-8?q?Salle_pour_le_12?=\r\nMessage-ID: <c1@exemple.fr>\r\n\r\nIl nous faut une salle.\r\n"
	if err := sendOne(p.addr, "camille@exemple.fr", "support@hub.example", msg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := box.Wait(ctx, 3); err != nil {
		t.Fatalf("%v\n%s", err, p.log())
	}
	out := relais(t, "ticket", "list", "--queue", "support", "--state", "new", "--data", data)
	if !strings.Contains(out, "1  support  new") || !strings.Contains(out, "camille@exemple.fr") || !strings.Contains(out, "Salle pour le 12") {
		t.Fatal(out)
	}
	if out := relais(t, "ticket", "list", "--state", "closed", "--data", data); strings.Contains(out, "camille") {
		t.Fatalf("closed tickets: %s", out)
	}
	out = relais(t, "ticket", "show", "1", "--data", data)
	for _, want := range []string{"Ticket #1 · support · new", "Requester: Camille camille@exemple.fr", "request · camille@exemple.fr", "Il nous faut une salle."} {
		if !strings.Contains(out, want) {
			t.Fatalf("ticket show: no %q in\n%s", want, out)
		}
	}
	// Whole, with the Received field the hub added (RFC 5321 §4.4).
	if out := relais(t, "ticket", "show", "1", "--raw", "1", "--data", data); !strings.HasPrefix(out, "Received: from ") || !strings.HasSuffix(out, "\r\n"+msg) {
		t.Fatalf("raw: %q", out)
	}
	// A requester without a name: the address in the column, as the
	// other fields' values.
	msg = "From: karim@exemple.fr\r\nTo: support@hub.example\r\nSubject: Tracts\r\nMessage-ID: <k1@exemple.fr>\r\n\r\nIl nous faut des tracts.\r\n"
	if err := sendOne(p.addr, "karim@exemple.fr", "support@hub.example", msg); err != nil {
		t.Fatal(err)
	}
	if _, err := box.Wait(ctx, 6); err != nil {
		t.Fatalf("%v\n%s", err, p.log())
	}
	if out := relais(t, "ticket", "show", "2", "--data", data); !strings.Contains(out, "\nRequester: karim@exemple.fr\nAssignee:  ") {
		t.Fatalf("ticket show of a nameless requester:\n%s", out)
	}
}

// relais dkim keygen, list, activate and relais dns, as an operator runs
// them for a rotation.
func TestCLIDKIMAndDNS(t *testing.T) {
	data := t.TempDir()
	out := relais(t, "dkim", "keygen", "--domain", "hub.example", "--data", data)
	sel := regexp.MustCompile(`hub\.example (rsa-\d{8}) rsa: active`).FindStringSubmatch(out)
	if sel == nil || !strings.Contains(out, "ed25519: active") {
		t.Fatalf("keygen:\n%s", out)
	}
	fi, err := os.Stat(filepath.Join(data, "dkim", "hub.example", sel[1]+".pem"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	out = relais(t, "dkim", "keygen", "--domain", "hub.example", "--data", data)
	next := regexp.MustCompile(`(rsa-\d{8}b) rsa: waiting`).FindStringSubmatch(out)
	if next == nil {
		t.Fatalf("second keygen:\n%s", out)
	}
	zone := relais(t, "dns", "--domain", "hub.example", "--mx", "mx.hub.example", "--data", data)
	for _, want := range []string{"hub.example.\t3600\tIN\tMX\t10 mx.hub.example.", sel[1] + "._domainkey.hub.example.\t3600\tIN\tTXT\t( \"v=DKIM1; k=rsa; p=",
		next[1] + "._domainkey.hub.example.", "_dmarc.hub.example.\t3600\tIN\tTXT\t\"v=DMARC1; p=quarantine;", "waiting: publish it"} {
		if !strings.Contains(zone, want) {
			t.Errorf("relais dns lacks %q:\n%s", want, zone)
		}
	}
	ed := strings.Replace(next[1], "rsa-", "ed-", 1)
	relais(t, "dkim", "activate", "--domain", "hub.example", next[1], ed, "--data", data)
	out = relais(t, "dkim", "list", "--data", data)
	if !regexp.MustCompile(next[1]+`\s+rsa\s+active`).MatchString(out) || !regexp.MustCompile(sel[1]+`\s+rsa\s+waiting`).MatchString(out) {
		t.Fatalf("list after activate:\n%s", out)
	}
}

// relais event add, import and list, and relais digest run --dry-run.
func TestCLIEvents(t *testing.T) {
	data := t.TempDir()
	relais(t, "group", "add", "4405.nantes-sud", "--name", "Nantes Sud", "--commune", "44200", "--animator", "a@exemple.fr", "--data", data)
	when := time.Now().AddDate(0, 0, 3).Format("02/01/2006")
	out := relais(t, "event", "add", "--group", "4405.nantes-sud", "--title", "Porte-à-porte", "--date", when+" 10h", "--duration", "2h",
		"--place", "Marché de Talensac, 44000 Nantes", "--themes", "logement", "--data", data)
	if !strings.HasPrefix(out, "created: ") || !strings.Contains(out, "Porte-à-porte") {
		t.Fatalf("event add:\n%s", out)
	}
	// The UID carries 128 random bits (issue 12): nobody can name the
	// event, members-only or not, without being told.
	if !regexp.MustCompile(`\([0-9a-f]{32}@[^ )]+\)\n$`).MatchString(out) {
		t.Fatalf("event add: UID not random:\n%s", out)
	}
	ics := filepath.Join(t.TempDir(), "agenda.ics")
	start := time.Now().AddDate(0, 0, 5).UTC().Format("20060102T150405Z")
	os.WriteFile(ics, []byte("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:imp1@test\r\nDTSTAMP:20261121T100000Z\r\n"+
		"DTSTART:"+start+"\r\nSUMMARY:Réunion importée\r\nLOCATION:44600 Saint-Nazaire\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"), 0o600)
	if out := relais(t, "event", "import", ics, "--group", "4405.nantes-sud", "--data", data); !strings.Contains(out, "created: ") || !strings.Contains(out, "imp1@test") {
		t.Fatalf("event import:\n%s", out)
	}
	out = relais(t, "event", "list", "--data", data)
	if !strings.Contains(out, "Porte-à-porte") || !strings.Contains(out, "Réunion importée") || !strings.Contains(out, "4405.nantes-sud") {
		t.Fatalf("event list:\n%s", out)
	}
	if out := relais(t, "digest", "run", "--dry-run", "--domain", "hub.example", "--data", data); !strings.Contains(out, "0 members with a place") {
		t.Fatalf("digest run:\n%s", out)
	}
}

// With libcrypto making the RSA signatures, `relais serve` gives Go twice
// the cores and one processors, the cores and one signing at once (a
// thread signing in C keeps its P a while); not when GOMAXPROCS is set,
// nor when Go's crypto/rsa signs.
func TestServeProcessorsForRSAInC(t *testing.T) {
	if !strings.HasPrefix(dkim.RSAEngine(), "OpenSSL") {
		t.Skipf("SKIP: no libcrypto here (%s)", dkim.RSAEngine())
	}
	if v := os.Getenv("GOMAXPROCS"); v != "" {
		t.Skipf("SKIP: GOMAXPROCS=%s is set for the tests; this one compares with the default", v)
	}
	cores := runtime.GOMAXPROCS(0) // the default here, as for the child
	relay := freePort(t)           // nothing listens there: nothing is sent
	p := serveHub(t, t.TempDir(), relay)
	want := fmt.Sprintf("cores=%d gomaxprocs=%d signing=%d", cores, 2*cores+1, cores+1)
	if !strings.Contains(p.log(), want) {
		t.Fatalf("log lacks %q:\n%s", want, p.log())
	}
	for _, extra := range []string{"GOMAXPROCS=1", "RELAIS_DKIM_RSA=go"} {
		q := serveHub(t, t.TempDir(), relay, extra)
		if strings.Contains(q.log(), "gomaxprocs=") {
			t.Errorf("with %s:\n%s", extra, q.log())
		}
	}
}

// dkim.signing_nice moves the RSA signatures to threads of their own at
// that nice value (Linux); without it there are none.
func TestServeSigningNice(t *testing.T) {
	if !strings.HasPrefix(dkim.RSAEngine(), "OpenSSL") || runtime.GOOS != "linux" {
		t.Skipf("SKIP: needs libcrypto on Linux (%s, %s)", dkim.RSAEngine(), runtime.GOOS)
	}
	relay := freePort(t) // nothing listens there: nothing is sent
	signing := func(p *hubProc) (n int, nices []string) {
		dir := fmt.Sprintf("/proc/%d/task", p.cmd.Process.Pid)
		tasks, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks {
			comm, _ := os.ReadFile(filepath.Join(dir, task.Name(), "comm"))
			stat, _ := os.ReadFile(filepath.Join(dir, task.Name(), "stat"))
			if strings.TrimSpace(string(comm)) != "relais-sign" {
				continue
			}
			n++
			if f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])); len(f) > 16 {
				nices = append(nices, f[16])
			}
		}
		return n, nices
	}
	p := serveHub(t, t.TempDir(), relay, "RELAIS_DKIM_SIGNING_NICE=10")
	want := fmt.Sprintf("threads=%d nice=+10", runtime.NumCPU())
	if !strings.Contains(p.log(), want) {
		t.Fatalf("log lacks %q:\n%s", want, p.log())
	}
	n, nices := signing(p)
	if n != runtime.NumCPU() || strings.Join(nices, ",") != strings.TrimSuffix(strings.Repeat("10,", n), ",") {
		t.Errorf("%d relais-sign threads (want %d), nice values %v (want 10 each)", n, runtime.NumCPU(), nices)
	}
	q := serveHub(t, t.TempDir(), relay)
	if n, _ := signing(q); n != 0 || strings.Contains(q.log(), "relais-sign") {
		t.Errorf("without dkim.signing_nice: %d signing threads\n%s", n, q.log())
	}
}
