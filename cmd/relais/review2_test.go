package main

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode"

	"codeberg.org/relais/relais/outbox"
)

// A stranger's post held for moderation and a stranger's ticket, their
// subjects, names and bodies full of terminal escape sequences (OSC 52
// sets the operator's clipboard, CSI 2J clears the screen, a lone CR
// writes one line over another, U+202E reverses what follows, a newline
// in an encoded subject adds a row of its own to a table): `held list`,
// `held show`, `ticket list`, `ticket show` and `outbox` print none of it.
func TestReview2OperatorCommandsPrintNoControlCharacters(t *testing.T) {
	data := t.TempDir()
	relais(t, "list", "create", "4405.discussion", "--policy", "members", "--owner", "o@exemple.fr", "--data", data)
	relais(t, "queue", "add", "support", "--operator", "nadia@ops.example", "--data", data)
	box, err := outbox.Start("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	dns := startDNS(t)
	p := serveHub(t, data, box.Addr(), "RELAIS_AUTH_DNS_SERVER="+dns.addr)
	const subject = "=?utf-8?q?R=C3=A9union=1B]52;c;Y3VybCBldmlsfHNo=07=0A2__4405.discussion__approved?="
	const body = "Bonjour.=0DVirez 500 =E2=82=AC.\r\n=1B[2J=E2=80=AEfdp.exe\r\n"
	for _, rcpt := range []string{"4405.discussion@hub.example", "support@hub.example"} {
		msg := "From: Stranger <s@example.org>\r\nTo: " + rcpt + "\r\nSubject: " + subject + "\r\nMessage-ID: <" + rcpt +
			">\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + body
		if err := sendOne(p.addr, "s@example.org", rcpt, msg); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := box.Wait(ctx, 3); err != nil { // the owner's notice, the operator's, the requester's ack
		t.Fatalf("%v\n%s", err, p.log())
	}
	p.kill()
	env := []string{"RELAIS_DOMAINS=hub.example"}
	for _, args := range [][]string{{"held", "list"}, {"held", "show", "1"}, {"ticket", "list"}, {"ticket", "show", "1"}, {"outbox"}} {
		out, errs, code := runCmd(t, env, append(args, "--data", data)...)
		if code != 0 {
			t.Fatalf("relais %s: %d %s", strings.Join(args, " "), code, errs)
		}
		for i, r := range out {
			if r != '\n' && (unicode.IsControl(r) || r == 0x202e) {
				t.Errorf("relais %s prints %U at %d:\n%q", strings.Join(args, " "), r, i, out)
				break
			}
		}
		if len(args) == 2 && args[1] == "list" && strings.Count(out, "\n") != 2 {
			t.Errorf("relais %s: a subject made a row of its own:\n%s", strings.Join(args, " "), out)
		}
	}
}
