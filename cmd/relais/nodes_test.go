package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

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
