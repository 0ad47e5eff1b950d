package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"codeberg.org/relais/relais/outbox"
)

// readmeBlock returns the shell lines of the README's block that follows
// marker, continuation lines joined.
func readmeBlock(t *testing.T, marker string) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, marker)
	if i < 0 {
		t.Fatalf("README has no %q", marker)
	}
	s = s[i:]
	start := strings.Index(s, "```sh\n")
	end := strings.Index(s[start+6:], "```")
	var lines []string
	for _, l := range strings.Split(strings.ReplaceAll(s[start+6:start+6+end], "\\\n", " "), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines
}

// The README's production path, run as written: go build, a group added
// with the example configuration, and `relais serve` with it. Only the
// ports, the data directory and the DNS server change, through RELAIS_*
// variables. A message to the group comes out of the hub into a real SMTP
// server standing in for the local Postfix.
func TestREADMEProductionPath(t *testing.T) {
	lines := readmeBlock(t, "<!-- production path")
	if len(lines) != 3 || lines[0] != "go build -o relais ./cmd/relais" || !strings.HasPrefix(lines[2], "./relais serve --config deploy/relais.toml") {
		t.Fatalf("the README's production path changed; this test runs it: %q", lines)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// The example configuration, unchanged, is what runs.
	conf, err := os.ReadFile(filepath.Join(root, "deploy/relais.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`listen = [":25"]`, `address = "127.0.0.1:10025"`, `domains = ["hub.example.org"]`, `listen = "127.0.0.1:9425"`} {
		if !strings.Contains(string(conf), want) {
			t.Fatalf("deploy/relais.toml no longer says %s", want)
		}
	}
	relay, err := outbox.Start("127.0.0.1:0", "") // the Postfix of 127.0.0.1:10025
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	dns := startDNS(t)
	smtpAddr, data := freePort(t), filepath.Join(t.TempDir(), "var-lib-relais")
	env := append(os.Environ(),
		"RELAIS_SMTP_LISTEN="+smtpAddr, // :25
		"RELAIS_RELAY_ADDRESS="+relay.Addr(),
		"RELAIS_WEB_LISTEN="+freePort(t),
		"RELAIS_METRICS_LISTEN="+freePort(t),
		"RELAIS_DATA_DIR="+data,            // /var/lib/relais
		"RELAIS_AUTH_DNS_SERVER="+dns.addr, // no network in tests
	)
	bin := filepath.Join(root, "relais")
	if _, err := os.Stat(bin); err == nil { // someone's own build: kept aside
		if err := os.Rename(bin, bin+".kept-by-test"); err != nil {
			t.Fatal(err)
		}
		defer os.Rename(bin+".kept-by-test", bin)
	}
	defer os.Remove(bin)
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", strings.Join(lines, "\n"))
	cmd.Dir, cmd.Env = root, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out lockedBuf
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}()
	deadline := time.Now().Add(3 * time.Minute) // the build may have to compile
	for !strings.Contains(out.String(), "listening smtp=") {
		select {
		case err := <-exited:
			t.Fatalf("the README's commands stopped: %v\n%s", err, out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("relais serve did not start:\n%s", out.String())
		}
	}
	if !strings.Contains(out.String(), "added: 4405.nantes-sud (Nantes Sud), animators: camille@exemple.fr, karim@exemple.fr") {
		t.Fatalf("group add:\n%s", out.String())
	}
	msg := "From: Someone <someone@example.net>\r\nTo: 4405.nantes-sud@hub.example.org\r\nSubject: Bonjour\r\nMessage-ID: <readme@example.net>\r\n\r\nBonjour le groupe.\r\n"
	if err := sendOne(smtpAddr, "someone@example.net", "4405.nantes-sud@hub.example.org", msg); err != nil {
		t.Fatalf("send: %v\n%s", err, out.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	mails, err := relay.Wait(ctx, 2)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	got := map[string]bool{}
	for _, m := range mails {
		got[m.To] = true
		if !bytes.HasSuffix(m.Data, []byte("\r\n"+msg)) || !strings.HasPrefix(m.From, "bounces+") || !strings.HasSuffix(m.From, "@hub.example.org") {
			t.Errorf("copy to %s from %s:\n%s", m.To, m.From, m.Data)
		}
	}
	if !got["camille@exemple.fr"] || !got["karim@exemple.fr"] {
		t.Fatalf("copies went to %v", got)
	}
}

// The example configuration as it is, relay and all, with the relay it
// names being the hub itself: refused at start with a sentence.
func TestServeRefusesItselfAsRelay(t *testing.T) {
	data := t.TempDir()
	port := freePort(t)
	_, p, _ := strings.Cut(port, ":")
	cmd := exec.Command(relaisBin, "serve", "--config", "../../deploy/relais.toml", "--listen", ":"+p, "--relay", "127.0.0.1:"+p, "--data", data)
	cmd.Env = append(os.Environ(), "RELAIS_WEB_LISTEN="+freePort(t), "RELAIS_METRICS_LISTEN=")
	b, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	want := "relais serve: relay.address 127.0.0.1:" + p + " is this hub's own SMTP listener :" + p + " (port " + p + "): every message would come back to the hub and never be delivered."
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(b), want) {
		t.Fatalf("%v\n%s", err, b)
	}
}

// lockedBuf is a buffer two processes' output may share.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
