package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"codeberg.org/relais/relais/internal/pgtest"
	"codeberg.org/relais/relais/outbox"
)

// relaisEnv runs the relais binary with extra environment variables.
func relaisEnv(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(relaisBin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("relais %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// `relais store copy` from a demo hub (its groups, lists, queues and
// events, with a ticket, a member and an archived post added over SMTP):
// every table's count equal, and the commands that read a hub print the
// same on the copy as on the original; a node started on the copy
// delivers; a second copy into the same database is refused.
func TestStoreCopyFromDemo(t *testing.T) {
	if ok, why := pgtest.Available(); !ok {
		t.Skip(why)
	}
	data := t.TempDir()
	if err := seedDemo(data); err != nil {
		t.Fatal(err)
	}
	box, err := outbox.Start("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	p := serveHub(t, data, box.Addr())
	for _, m := range []struct{ from, to, subject string }{
		{"camille@exemple.fr", "support@hub.example", "Salle pour le 12"},
		{"camille@exemple.fr", "4405.nantes-sud@hub.example", "Bonjour"},
	} {
		msg := fmt.Sprintf("From: Camille <%s>\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%d@exemple.fr>\r\n\r\nTexte.\r\n",
			m.from, m.to, m.subject, time.Now().UnixNano())
		if err := sendOne(p.addr, m.from, m.to, msg); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The ticket's acknowledgement and its two operators, the group's two
	// animators. (A post to a list asks the DNS, which these hubs have not:
	// the archive gets one by hand.)
	if _, err := box.Wait(ctx, 5); err != nil {
		t.Fatalf("%v\n%s", err, p.log())
	}
	time.Sleep(500 * time.Millisecond)
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
	sqlExec(t, data, "INSERT INTO posts (list_id, poster, subject, posted_at, body, author, text, size, indexed) "+
		"SELECT id, 'camille@exemple.fr', 'Réunion jeudi', 1764000000, ?, 'Camille', 'Texte.', 60, 1 FROM lists WHERE code = '4405' AND name = 'discussion'",
		[]byte("From: Camille <camille@exemple.fr>\r\nSubject: Réunion jeudi\r\n\r\nTexte.\r\n"))

	url := pgtest.Bare(t)
	out := relais(t, "store", "copy", "--from", data, "--to", url)
	if !strings.Contains(out, "every count equal") || !strings.Contains(out, "tickets") {
		t.Fatalf("copy:\n%s", out)
	}
	t.Logf("store copy:\n%s", out)
	pg := []string{"RELAIS_STORE_URL=" + url}
	data2 := t.TempDir()
	for _, args := range [][]string{
		{"group", "list", "--json"},
		{"list", "list", "--json"},
		{"list", "members", "4405.discussion", "--json"},
		{"queue", "list", "--json"},
		{"ticket", "list", "--json"},
		{"ticket", "show", "1"},
		{"event", "list", "--days", "400", "--json"},
		{"archive", "show", "--json"},
		{"list", "export", "4405.discussion", "--out", "-"},
		{"outbox", "--json"},
	} {
		a := relais(t, append(args, "--data", data)...)
		b := relaisEnv(t, pg, append(args, "--data", data2)...)
		b = strings.ReplaceAll(b, data2, data) // outbox names its data directory
		if a != b {
			t.Errorf("relais %s differs on the copy:\nSQLite:\n%s\nPostgreSQL:\n%s", strings.Join(args, " "), a, b)
		}
		if strings.TrimSpace(a) == "" || strings.TrimSpace(a) == "[]" || strings.TrimSpace(a) == "null" {
			t.Errorf("relais %s: nothing to compare", strings.Join(args, " "))
		}
	}
	// A node on the copy delivers (ids go on from the original's).
	p = serveHub(t, data2, box.Addr(), pg...)
	before := len(box.Mails())
	msg := "From: <karim@exemple.fr>\r\nTo: 4405.nantes-sud@hub.example\r\nSubject: Sur la copie\r\nMessage-ID: <copie@exemple.fr>\r\n\r\nOui.\r\n"
	if err := sendOne(p.addr, "karim@exemple.fr", "4405.nantes-sud@hub.example", msg); err != nil {
		t.Fatal(err)
	}
	if _, err := box.Wait(ctx, before+2); err != nil {
		t.Fatalf("%v\n%s", err, p.log())
	}
	// Into a database that holds data: refused, nothing changed.
	cmd := exec.Command(relaisBin, "store", "copy", "--from", data, "--to", url)
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "already holds data") {
		t.Fatalf("second copy: %v %s", err, b)
	}
}

// Two nodes on one PostgreSQL database, 10,000 messages, half to each
// (ten sessions per node); one node is killed with SIGKILL midway through
// its half, then started again, and its senders go on. Every message a
// node said 250 for is delivered; a copy is delivered twice only if it was
// in a node's hands (claimed, not recorded) at the kill: such duplicates
// are counted and reported, and never more than the copies claimed then.
func TestTwoNodesKill9(t *testing.T) {
	if ok, why := pgtest.Available(); !ok {
		t.Skip(why)
	}
	if testing.Short() {
		t.Skip("-short: 10,000 messages")
	}
	url := pgtest.URL(t)
	// A short lease: the copies a killed node held go out within seconds.
	env := []string{"RELAIS_STORE_URL=" + url, "RELAIS_DKIM_SIGN=false", "RELAIS_QUEUE_LEASE=5s"}
	dataA, dataB := t.TempDir(), t.TempDir()
	relaisEnv(t, env, "group", "add", "4405.nantes-sud", "--name", "Nantes Sud", "--animator", "camille@exemple.fr", "--data", dataA)
	box, err := outbox.Start("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	a := serveHub(t, dataA, box.Addr(), env...)
	b := serveHub(t, dataB, box.Addr(), env...)
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	const total, sessions = 10000, 10
	var (
		mu      sync.Mutex
		acked   = map[string]bool{}
		addrA   atomic.Value
		ackedA  atomic.Int64
		killed  = make(chan struct{})
		resumed = make(chan struct{})
	)
	addrA.Store(a.addr)
	// send runs one session's share of a node's messages: indexes from
	// next, until the node's half is done; a message refused or cut off
	// is sent again under a new Message-ID (the first may have been
	// accepted without its 250 reaching us: then it is delivered too,
	// which is no loss).
	send := func(node string, addr func() string, next *atomic.Int64, wg *sync.WaitGroup) {
		defer wg.Done()
		var c *smtp.Client
		retry := 0
		for {
			i := next.Add(1) - 1
			if i >= total/2 {
				break
			}
			for try := 0; ; try++ {
				id := fmt.Sprintf("%s%d.%d@example.org", node, i, try)
				if c == nil {
					var err error
					if c, err = smtp.Dial(addr()); err != nil {
						c = nil
						time.Sleep(50 * time.Millisecond)
						continue
					}
				}
				msg := fmt.Sprintf("From: w@example.org\r\nTo: 4405.nantes-sud@hub.example\r\nSubject: %s\r\nMessage-ID: <%s>\r\n\r\nbody %d\r\n", id, id, i)
				if err := c.SendMail("w@example.org", []string{"4405.nantes-sud@hub.example"}, strings.NewReader(msg)); err != nil {
					c.Close()
					c = nil
					retry++
					if node == "a" {
						select {
						case <-killed:
							<-resumed
						default:
						}
					}
					continue
				}
				mu.Lock()
				acked["<"+id+">"] = true
				mu.Unlock()
				if node == "a" {
					ackedA.Add(1)
				}
				break
			}
		}
		if c != nil {
			c.Quit()
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	var nextA, nextB atomic.Int64
	for i := 0; i < sessions; i++ {
		wg.Add(2)
		go send("a", func() string { return addrA.Load().(string) }, &nextA, &wg)
		go send("b", func() string { return b.addr }, &nextB, &wg)
	}
	// Midway through node a's half: SIGKILL, count what was in its hands
	// (and b's: a claim is a lease whoever holds it), start it again.
	for ackedA.Load() < total/4 {
		time.Sleep(10 * time.Millisecond)
	}
	a.kill()
	close(killed)
	var inHands int
	if err := db.QueryRow("SELECT COUNT(*) FROM deliveries WHERE state = 'queued' AND lease_until > $1", time.Now().Unix()-1).Scan(&inHands); err != nil {
		t.Fatal(err)
	}
	killedAt := ackedA.Load()
	a = serveHub(t, dataA, box.Addr(), env...)
	addrA.Store(a.addr)
	close(resumed)
	wg.Wait()
	accepted := time.Since(start)
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	if n != total {
		t.Fatalf("%d messages acknowledged, want %d", n, total)
	}
	// Every acknowledged message delivered.
	deadline := time.Now().Add(5 * time.Minute)
	var copies int
	var seen map[string]int
	for {
		ms := box.Mails()
		copies = len(ms)
		seen = map[string]int{}
		for _, m := range ms {
			seen[m.Header().Get("Message-Id")]++
		}
		missing := 0
		for id := range acked {
			if seen[id] == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d acknowledged messages not delivered after 5 minutes\nnode a:\n%.3000s", missing, a.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	delivered := time.Since(start)
	// What is still queued is nothing (a message accepted without its
	// 250 reaching us is delivered too).
	for {
		var queued int
		if err := db.QueryRow("SELECT COUNT(*) FROM deliveries WHERE state = 'queued'").Scan(&queued); err != nil {
			t.Fatal(err)
		}
		if queued == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries still queued", queued)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	ms := box.Mails()
	seen = map[string]int{}
	for _, m := range ms {
		seen[m.Header().Get("Message-Id")]++
	}
	dups := len(ms) - len(seen)
	t.Logf("two nodes: %d acknowledged (node a killed after %d of its %d, restarted), %d copies delivered, %d distinct, "+
		"%d duplicates (copies claimed at the kill: %d); accepted in %s, delivered in %s",
		n, killedAt, total/2, len(ms), len(seen), dups, inHands, accepted.Round(time.Millisecond), delivered.Round(time.Millisecond))
	_ = copies
	if dups > inHands {
		t.Fatalf("%d duplicates, more than the %d copies in the nodes' hands at the kill", dups, inHands)
	}
}
