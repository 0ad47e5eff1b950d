package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// postfixTool finds one of Postfix's test programs (Debian package postfix).
func postfixTool(t *testing.T, name string) string {
	t.Helper()
	for _, p := range []string{name, "/usr/sbin/" + name, "/usr/lib/postfix/sbin/" + name} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Skipf("SKIP: %s not found: install the Debian package postfix (apt-get install -y postfix) to run this interoperability test", name)
	return ""
}

// smtpSink starts Postfix's smtp-sink on a free port, dumping each
// transaction into dir.
func smtpSink(t *testing.T, dir string) string {
	t.Helper()
	sink := postfixTool(t, "smtp-sink")
	addr := freePort(t)
	args := []string{"-d", filepath.Join(dir, "%M."), addr, "100"}
	if os.Geteuid() == 0 {
		// smtp-sink refuses to run as root; it writes as nobody.
		args = append([]string{"-u", "nobody"}, args...)
		for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
			os.Chmod(d, 0o777)
		}
	}
	cmd := exec.Command(sink, args...)
	out := &strings.Builder{}
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("smtp-sink: %s", out)
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		if c, err := netDial(addr); err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("smtp-sink did not start: %s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Postfix's smtp-source sends 50 messages over 5 parallel sessions to a
// group address; relais forwards each to the group's two animators through
// smtp-sink as the relay. Every copy arrives once, from its own VERP
// address, with the writer's message intact.
func TestInteropPostfixSourceAndSink(t *testing.T) {
	source := postfixTool(t, "smtp-source")
	dump := filepath.Join(t.TempDir(), "sink")
	os.MkdirAll(dump, 0o777)
	sink := smtpSink(t, dump)

	data := t.TempDir()
	relais(t, "group", "add", "4405.nantes-sud", "--name", "Nantes Sud", "--animator", "camille@exemple.fr,karim@exemple.fr", "--data", data)
	p := serveHub(t, data, sink)

	const n = 50
	out, err := exec.Command(source, "-s", "5", "-m", fmt.Sprint(n), "-l", "2048", "-f", "writer@example.org",
		"-t", "4405.nantes-sud@hub.example", p.addr).CombinedOutput()
	if err != nil {
		t.Fatalf("smtp-source: %v\n%s\n%s", err, out, p.log())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var files []string
	for ctx.Err() == nil {
		files, _ = filepath.Glob(filepath.Join(dump, "*.*"))
		if len(files) >= 2*n {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(files) != 2*n {
		t.Fatalf("smtp-sink got %d transactions, want %d\n%s", len(files), 2*n, p.log())
	}
	// smtp-sink writes a file as the data comes; the hub records "sent"
	// once smtp-sink has said 250, so after that every file is whole.
	for ctx.Err() == nil && !strings.Contains(relais(t, "outbox", "--data", data, "--limit", "0"), fmt.Sprintf(": sent %d", 2*n)) {
		time.Sleep(20 * time.Millisecond)
	}
	verp := regexp.MustCompile(`(?m)^X-Mail-Args: <(bounces\+[0-9]+-[a-z2-7]{8}@hub\.example)>`)
	rcpt := regexp.MustCompile(`(?m)^X-Rcpt-Args: <([^>]+)>`)
	per := map[string]int{}
	senders := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		m := verp.FindStringSubmatch(s)
		r := rcpt.FindStringSubmatch(s)
		if m == nil || r == nil {
			t.Fatalf("%s: envelope not as expected:\n%s", f, s[:min(len(s), 400)])
		}
		senders[m[1]] = true
		per[r[1]]++
		for _, want := range []string{"Delivered-To: 4405.nantes-sud@hub.example\n", "by mx.hub.example (relais) with ESMTP id ",
			"From: <writer@example.org>\n", "To: <4405.nantes-sud@hub.example>\n"} {
			if !strings.Contains(strings.ReplaceAll(s, "\r\n", "\n"), want) {
				t.Fatalf("%s lacks %q:\n%s", f, want, s)
			}
		}
	}
	if per["camille@exemple.fr"] != n || per["karim@exemple.fr"] != n || len(senders) != 2*n {
		t.Fatalf("per recipient %v, %d distinct VERP senders", per, len(senders))
	}
}

// The README's promise: `relais demo`, then the swaks command it prints,
// then `relais outbox` shows the message forwarded to the group's two
// animators.
func TestDemoFirstMessageWithSwaks(t *testing.T) {
	swaks, err := exec.LookPath("swaks")
	if err != nil {
		t.Skip("SKIP: swaks not found: install the Debian package swaks (apt-get install -y swaks)")
	}
	data := filepath.Join(t.TempDir(), "demo")
	cmd := exec.Command(relaisBin, "demo", "--data", data, "--smtp", freePort(t))
	var out, logs bytes.Buffer
	var mu sync.Mutex
	cmd.Stdout = lockedWriter{&mu, &out}
	cmd.Stderr = lockedWriter{&mu, &logs}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
	}()
	read := func() string { mu.Lock(); defer mu.Unlock(); return out.String() }
	logsNow := func() string { mu.Lock(); defer mu.Unlock(); return logs.String() }
	var line string
	deadline := time.Now().Add(15 * time.Second)
	for line == "" {
		for _, l := range strings.Split(read(), "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "swaks ") && line == "" {
				line = strings.TrimSpace(l) // the first: the group's address
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo printed no swaks command:\n%s\n%s", read(), logsNow())
		}
		time.Sleep(20 * time.Millisecond)
	}
	args := strings.Fields(line)[1:]
	if b, err := exec.Command(swaks, args...).CombinedOutput(); err != nil || !strings.Contains(string(b), "<-  250 ") {
		t.Fatalf("%s: %v\n%s", line, err, b)
	}
	for {
		o := relais(t, "outbox", "--data", data)
		// Captured by the outbox, then recorded as sent by the hub.
		if strings.Contains(o, "Captured by the demo outbox") && strings.Contains(o, "camille@exemple.fr") &&
			strings.Contains(o, "karim@exemple.fr") && strings.Contains(o, "): sent 2\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox after swaks:\n%s\n%s", o, logsNow())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// One numbering: delivery 1 of the queue is capture 1, shown
	// decoded; --raw gives the bytes, signatures and all.
	shown := relais(t, "outbox", "show", "1", "--data", data)
	if !regexp.MustCompile(`^Delivery 1 · captured [0-9: -]+ · bounces\+1-[a-z2-7]+@hub\.example → (camille|karim)@exemple\.fr\n\nDate: .*\nFrom: you@example\.org\nTo: 4405\.nantes-sud@hub\.example\nSubject: test .*\n\nThis is a test mailing\n`).MatchString(shown) ||
		strings.Contains(shown, "DKIM-Signature") {
		t.Fatalf("outbox show 1:\n%s", shown)
	}
	raw := relais(t, "outbox", "show", "1", "--raw", "--data", data)
	if !strings.Contains(raw, "DKIM-Signature: ") || !strings.Contains(raw, "\r\nReceived: from ") {
		t.Fatalf("outbox show 1 --raw:\n%s", raw)
	}
}
