package main

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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/emersion/go-smtp"

	"codeberg.org/relais/relais/outbox"
)

// A backup taken while 1,000 messages are being accepted restores into an
// empty directory; the restored hub starts, holds what the hub held at the
// moment of the snapshot (the restore checks each table's rows against
// the backup's own count, and that count lies between what was
// acknowledged before and after the backup), and delivers every message
// accepted before the backup that was not yet delivered. The age tool
// reads the file with the identity and refuses it without.
func TestBackupUnderLoadRestores(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	relais(t, "group", "add", "4405.nantes-sud", "--name", "Nantes Sud",
		"--animator", "camille@exemple.fr", "--animator", "karim@exemple.fr", "--data", data)
	// karim's server says "later" to everything: his copies wait in the
	// queue, accepted and not delivered.
	box, err := outbox.Start("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	box.Rcpt = func(from, to string) error {
		if to == "karim@exemple.fr" {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "later"}
		}
		return nil
	}
	p := serveHub(t, data, box.Addr())

	dir := t.TempDir()
	id, _ := age.GenerateX25519Identity()
	other, _ := age.GenerateX25519Identity()
	key, otherKey := filepath.Join(dir, "key.txt"), filepath.Join(dir, "other.txt")
	os.WriteFile(key, []byte(id.String()+"\n"), 0o600)
	os.WriteFile(otherKey, []byte(other.String()+"\n"), 0o600)

	const workers, each = 10, 100
	var acked atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			errs <- sendMany(p.addr, w, each, &acked)
		}(w)
	}
	for acked.Load() < 200 {
		time.Sleep(5 * time.Millisecond) // waiting for the load to be under way
	}
	file := filepath.Join(dir, "relais.tar.age")
	before := acked.Load()
	out := relais(t, "backup", "--out", file, "--recipient", id.Recipient().String(), "--data", data)
	backupOut := out
	after := acked.Load()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("load: %v", err)
		}
	}
	if acked.Load() != workers*each {
		t.Fatalf("%d acknowledged", acked.Load())
	}
	rows := counts(t, out)
	t.Logf("backup taken with %d messages acknowledged before it started and %d when it ended: %s", before, after, strings.TrimSpace(out))
	if m := rows["messages"]; m < before || m > after {
		t.Fatalf("the backup holds %d messages; %d were acknowledged before it and %d after", m, before, after)
	}
	if after == workers*each {
		t.Log("the load ended before the backup did: add messages or workers to keep the test honest")
	}

	// The age tool: decrypts with the identity, refuses without.
	if agePath, err := exec.LookPath("age"); err != nil {
		t.Log("SKIP the age command-line check: age is not installed (Debian package age)")
	} else {
		list, err := exec.Command("sh", "-c", agePath+" -d -i "+key+" "+file+" | tar t").CombinedOutput()
		if err != nil || !strings.Contains(string(list), "manifest.json\nrelais.db\nrelais.toml\ndkim/hub.example/") {
			t.Fatalf("age -d | tar t: %v\n%s", err, list)
		}
		refused, err := exec.Command(agePath, "-d", "-i", otherKey, "-o", os.DevNull, file).CombinedOutput()
		if err == nil || !strings.Contains(string(refused), "no identity matched") {
			t.Fatalf("age with another identity: %v\n%s", err, refused)
		}
	}
	restored := filepath.Join(t.TempDir(), "restored")
	if out, err := exec.Command(relaisBin, "restore", file, "--identity", otherKey, "--data", restored).CombinedOutput(); err == nil {
		t.Fatalf("restored with another identity:\n%s", out)
	}
	os.RemoveAll(restored)
	if out, err := exec.Command(relaisBin, "restore", file, "--identity", key, "--data", data).CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "not empty") {
		t.Fatalf("restored over the live data directory: %v\n%s", err, out)
	}
	out = relais(t, "restore", file, "--identity", key, "--data", restored)
	// The configuration read by backup named no domain (no --config):
	// both commands say what serve will need: the domain of its DKIM
	// keys (the hub that made them served hub.example).
	if !strings.Contains(backupOut, "names no domain") || !strings.Contains(backupOut, "will need --domain hub.example to serve") {
		t.Errorf("backup of a configuration without a domain does not say so:\n%s", backupOut)
	}
	if !strings.Contains(out, "run it: relais serve --config "+filepath.Join(restored, "relais.toml")+" --domain hub.example ") {
		t.Errorf("restore of a configuration without a domain does not say which to give:\n%s", out)
	}
	// --recipient encrypted this backup only: the hub made no scheduled
	// backups, nor does its restored copy.
	if conf, err := os.ReadFile(filepath.Join(restored, "relais.toml")); err != nil || strings.Contains(string(conf), id.Recipient().String()) {
		t.Errorf("the restored configuration holds backup's --recipient (err %v):\n%s", err, conf)
	}
	if got := counts(t, out); got["messages"] != rows["messages"] || got["deliveries"] != rows["deliveries"] {
		t.Fatalf("restored %v, backed up %v", got, rows)
	}

	// The old hub goes; the restored one starts from its own
	// configuration, with a relay where karim's server answers.
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
	box2, err := outbox.Start("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	defer box2.Close()
	q := serveArgs(t, "serve", "--config", filepath.Join(restored, "relais.toml"), "--domain", "hub.example", "--listen", freePort(t), "--relay", box2.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		n := 0
		for _, m := range box2.Mails() {
			if m.To == "karim@exemple.fr" {
				n++
			}
		}
		if int64(n) >= rows["messages"] {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("karim got %d of the %d messages of the backup\n%s", n, rows["messages"], q.log())
		}
		time.Sleep(20 * time.Millisecond) // polling deliveries
	}
	q.cmd.Process.Signal(syscall.SIGTERM)
	q.cmd.Wait()
	seen := map[string]bool{}
	for _, m := range box2.Mails() {
		if m.To == "karim@exemple.fr" {
			if id := m.Header().Get("Message-Id"); seen[id] {
				t.Fatalf("delivered twice: %s", id)
			} else {
				seen[id] = true
			}
		}
	}
	if int64(len(seen)) != rows["messages"] {
		t.Fatalf("karim got %d distinct messages, the backup held %d", len(seen), rows["messages"])
	}
}

// sendMany sends n messages over one SMTP connection, counting each one
// the hub acknowledged.
func sendMany(addr string, w, n int, acked *atomic.Int64) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	for i := 0; i < n; i++ {
		from := fmt.Sprintf("w%d@example.org", w)
		msg := fmt.Sprintf("From: %s\r\nSubject: load %d-%d\r\nMessage-ID: <load-%d-%d@example.org>\r\n\r\n%s\r\n",
			from, w, i, w, i, strings.Repeat("Une ligne de texte pour le poids du message.\r\n", 20))
		if err := c.SendMail(from, []string{"4405.nantes-sud@hub.example"}, strings.NewReader(msg)); err != nil {
			return err
		}
		acked.Add(1)
	}
	return c.Quit()
}

// counts reads the "rows:" line that backup and restore print.
func counts(t *testing.T, out string) map[string]int64 {
	t.Helper()
	m := map[string]int64{}
	for _, f := range regexp.MustCompile(`(\w+)=(\d+)`).FindAllStringSubmatch(out, -1) {
		m[f[1]], _ = strconv.ParseInt(f[2], 10, 64)
	}
	if m["messages"] == 0 {
		t.Fatalf("no counts in:\n%s", out)
	}
	return m
}

// serveArgs runs `relais ARGS…` as a hub and waits for its SMTP greeting
// on the --listen address.
func serveArgs(t *testing.T, args ...string) *hubProc {
	t.Helper()
	var addr string
	for i, a := range args {
		if a == "--listen" {
			addr = args[i+1]
		}
	}
	cmd := exec.Command(relaisBin, args...)
	cmd.Env = append(os.Environ(), "RELAIS_RELAY_STARTTLS=off", "RELAIS_QUEUE_RETRY_MIN=1s",
		"RELAIS_AUTH_DNS_SERVER="+deadDNS, "RELAIS_WEB_LISTEN=127.0.0.1:0", "RELAIS_METRICS_LISTEN=")
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
			t.Fatalf("relais %s did not start:\n%s", strings.Join(args, " "), p.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
