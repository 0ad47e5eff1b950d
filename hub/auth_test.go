package hub

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"codeberg.org/relais/relais/audit"
	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/dkim"
	"codeberg.org/relais/relais/internal/dkimcheck"
	"codeberg.org/relais/relais/internal/spamcheck"
	"codeberg.org/relais/relais/lists"
	"codeberg.org/relais/relais/outbox"
	"codeberg.org/relais/relais/tickets"
)

// signAs gives domain DKIM keys published in the test DNS, and returns a
// function that signs a message as that domain's mail server would.
func (e *env) signAs(domain string) func(string) string {
	e.t.Helper()
	dir := e.t.TempDir()
	if _, err := dkim.Generate(dir, domain, time.Now()); err != nil {
		e.t.Fatal(err)
	}
	keys, _ := dkim.Keys(dir)
	for _, k := range keys {
		e.dns.Set(k.Name(), k.Record())
	}
	s, err := dkim.NewSigner(dir, domain, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return func(msg string) string {
		b, err := s.Sign([]byte(msg))
		if err != nil {
			e.t.Fatal(err)
		}
		return string(b)
	}
}

// verdicts returns the Authentication-Results fields of m that carry the
// hub's authserv-id.
func verdicts(m outbox.Mail, id string) []string {
	var out []string
	for _, v := range m.Header().Values("Authentication-Results") {
		if strings.HasPrefix(strings.ToLower(v), strings.ToLower(id)+";") {
			out = append(out, strings.Join(strings.Fields(v), " "))
		}
	}
	return out
}

// Every kind of message the hub sends carries the hub's two DKIM
// signatures, which an independent verifier (dkimpy) finds valid: group
// forward, list post, list command reply, moderation notice, list digest,
// ticket acknowledgement, notification and answer.
func TestAuthEveryMessageSigned(t *testing.T) {
	// Both RSA paths: OpenSSL's libcrypto where the machine has it, and
	// Go's crypto/rsa (the fallback).
	for _, engine := range []string{"auto", "go"} {
		t.Run("rsa="+engine, func(t *testing.T) { everyMessageSigned(t, engine) })
	}
}

func everyMessageSigned(t *testing.T, engine string) {
	e := deskEnv(t, func(c *config.Config) { c.DKIM.RSA = engine })
	if !strings.Contains(e.logs.String(), "msg=dkim rsa=") {
		t.Fatalf("no log line says what signs RSA:\n%s", e.logs)
	}
	if engine == "go" && !strings.Contains(e.logs.String(), `rsa="Go crypto/rsa"`) {
		t.Fatalf("dkim.rsa = go not followed:\n%s", e.logs)
	}
	if engine == "auto" && !strings.Contains(e.logs.String(), dkim.RSAEngine()) {
		t.Fatalf("auto does not sign with %s:\n%s", dkim.RSAEngine(), e.logs)
	}
	t.Logf("RSA: %s", map[string]string{"auto": dkim.RSAEngine(), "go": "Go crypto/rsa"}[engine])
	// Ticket: acknowledgement and notifications, then an answer.
	_, notif := openTicket(t, e)
	e.mustSend(nadia, addr(t, notif.Header().Get("Reply-To")), mailTo("Nadia <"+nadia+">", addr(t, notif.Header().Get("Reply-To")), "Re: tracts", "<ans1@ops.example>", "Au local, samedi dès 9h."))
	e.waitFor("answer", countTo(camille, 2))
	e.createList("4405.discussion", lists.Members, []string{"anim@exemple.fr"}, "alice@example.org", "d@example.org")
	// Group forward.
	e.mustSend("marie@example.org", "4405.nantes-sud@hub.example", crlf(groupMessage))
	// List command reply (a confirmation), and digest mode for d.
	e.mustSend("newbie@example.org", "4405.discussion+subscribe@hub.example", post("newbie@example.org", "4405.discussion+subscribe@hub.example", "inscription", ""))
	e.mustSend("d@example.org", "4405.discussion+request@hub.example", post("d@example.org", "x", "resume", ""))
	// List post, and a stranger's post held (moderation notice).
	e.mustSend("alice@example.org", "4405.discussion@hub.example", post("alice@example.org", "4405.discussion@hub.example", "Réunion jeudi", "À jeudi."))
	e.mustSend("zoe@example.net", "4405.discussion@hub.example", post("zoe@example.net", "4405.discussion@hub.example", "Pub", "…"))
	e.waitFor("post", countTo("alice@example.org", 1))
	e.settle()
	e.clock.advance(25 * time.Hour)
	if n, err := e.h.Lists.RunDigests(context.Background()); n != 1 || err != nil {
		t.Fatalf("digests %d %v", n, err)
	}
	e.waitFor("digest", countTo("d@example.org", 2))
	e.settle()

	kinds := map[string]bool{}
	recs := dkimRecords(t)
	for _, m := range e.box.Mails() {
		h := m.Header()
		kind := ""
		switch {
		case h.Get("From") == "Marie Dupont <marie@example.org>":
			kind = "group forward"
		case m.To == "newbie@example.org":
			kind = "command reply"
		case m.To == "d@example.org" && strings.HasPrefix(subject(m), "Résumé"):
			kind = "digest"
		case m.To == "d@example.org":
			kind = "command reply"
		case subject(m) == "[4405.discussion] Réunion jeudi":
			kind = "list post"
		case m.To == "anim@exemple.fr":
			kind = "moderation notice"
		case m.To == camille && h.Get("Auto-Submitted") == "auto-replied" && strings.HasPrefix(h.Get("From"), "\"Support"):
			kind = "ticket acknowledgement"
		case m.To == camille && strings.HasPrefix(h.Get("From"), "\"Support"):
			kind = "ticket answer"
		case m.To == nadia || m.To == paul:
			kind = "ticket notification"
		}
		kinds[kind] = true
		dkimcheck.Require(t, m.Data, recs, "hub.example", "rsa-sha256", "ed25519-sha256")
		if t.Failed() {
			t.Fatalf("%s to %s:\n%.2000s", kind, m.To, m.Data)
		}
	}
	for _, k := range []string{"group forward", "list post", "command reply", "moderation notice", "digest",
		"ticket acknowledgement", "ticket notification", "ticket answer"} {
		if !kinds[k] {
			t.Errorf("no %s among the mail checked", k)
		}
	}
}

// The verdict on every message received is recorded on top of it, and an
// Authentication-Results field that claims the hub's id on arrival is
// removed; another server's is kept.
func TestAuthResultsRecordedAndForgedOnesStripped(t *testing.T) {
	e := newEnv(t)
	msg := "Authentication-Results: mx.hub.example; spf=pass smtp.mailfrom=example.org; dmarc=pass header.from=elysee.fr\r\n" +
		"Authentication-Results: MX.HUB.EXAMPLE;\r\n\tdkim=pass header.d=elysee.fr\r\n" +
		"Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=example.org\r\n" + crlf(groupMessage)
	e.mustSend("marie@example.org", "4405.nantes-sud@hub.example", msg)
	m := e.wait(2)[0]
	got := verdicts(m, "mx.hub.example")
	want := "mx.hub.example; spf=pass smtp.mailfrom=example.org; dkim=permerror header.d=example.org; dmarc=none header.from=example.org"
	if len(got) != 1 || got[0] != want {
		t.Fatalf("verdicts with our id: %q\nwant [%q]", got, want)
	}
	if vs := m.Header().Values("Authentication-Results"); len(vs) != 2 || !strings.HasPrefix(vs[1], "mx.example.org;") {
		t.Errorf("another server's field must stay: %q", vs)
	}
}

// A post to a members list whose From is a member but which nothing
// proves (SPF fails, no DKIM) is held for the moderators; the member whose
// address was used hears nothing (no backscatter). The same member's post
// signed by their domain goes through; a domain with p=reject is refused
// at SMTP time.
func TestAuthForgedMemberPostHeld(t *testing.T) {
	e := newEnv(t)
	e.createList("4405.discussion", lists.Members, []string{"anim@example.org"}, "alice@example.org", "camille@exemple.fr")
	// exemple.fr sends only from 192.0.2.1: mail from here fails SPF.
	e.dns.Set("exemple.fr", "v=spf1 ip4:192.0.2.1 -all")
	e.mustSend("camille@exemple.fr", "4405.discussion@hub.example", post("Camille <camille@exemple.fr>", "4405.discussion@hub.example", "Faux message", "Rendez-vous ailleurs."))
	ms := e.waitFor("moderation notice", countTo("anim@example.org", 1))
	e.settle()
	if n := len(to(e.box.Mails(), "alice@example.org")); n != 0 {
		t.Fatalf("a forged post was delivered to %d members", n)
	}
	if n := len(to(e.box.Mails(), "camille@exemple.fr")); n != 0 {
		t.Fatalf("the owner of the forged address got %d mails", n)
	}
	if n := to(ms, "anim@example.org")[0]; !strings.Contains(text(n), "Faux message") || !strings.Contains(subject(n), "Faux message") {
		t.Fatalf("moderation notice:\n%s", n.Data)
	}
	var reason string
	if err := e.h.DB.QueryRow(context.Background(), "test.held-reason").Scan(&reason); err != nil || reason != lists.HoldAuth {
		t.Fatalf("held for %q (%v), want %q", reason, err, lists.HoldAuth)
	}

	// Signed by exemple.fr's DKIM key: proven although SPF fails.
	sign := e.signAs("exemple.fr")
	e.mustSend("camille@exemple.fr", "4405.discussion@hub.example", sign(post("Camille <camille@exemple.fr>", "4405.discussion@hub.example", "Vrai message", "Réunion jeudi.")))
	ms = e.waitFor("signed post", countTo("alice@example.org", 1))
	if subject(to(ms, "alice@example.org")[0]) != "[4405.discussion] Vrai message" {
		t.Fatalf("delivered: %s", subject(to(ms, "alice@example.org")[0]))
	}
	// The same signature over an altered body proves nothing.
	altered := strings.Replace(sign(post("Camille <camille@exemple.fr>", "4405.discussion@hub.example", "Modifié", "Réunion jeudi.")), "jeudi", "vendredi", 1)
	e.mustSend("camille@exemple.fr", "4405.discussion@hub.example", altered)
	e.waitFor("second moderation notice", countTo("anim@example.org", 2))

	// p=reject: refused while the forger is still connected.
	e.dns.Set("_dmarc.exemple.fr", "v=DMARC1; p=reject")
	err := e.send("camille@exemple.fr", []string{"4405.discussion@hub.example"}, post("Camille <camille@exemple.fr>", "4405.discussion@hub.example", "Encore", "…"))
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 26}) {
		t.Fatalf("forged mail with p=reject: %v", err)
	}
	e.settle()
	if n := len(to(e.box.Mails(), "alice@example.org")); n != 1 {
		t.Fatalf("alice got %d posts, want the signed one only", n)
	}
}

// A list set to relaxed holds only what is shown forged; one set to off
// believes the From line.
func TestAuthPerListSetting(t *testing.T) {
	e := newEnv(t)
	relaxed := e.createList("4405.relax", lists.Members, []string{"anim@example.org"}, "alice@example.org", "camille@exemple.fr", "bob@nospf.example")
	relaxed.Auth = lists.AuthRelaxed
	relaxed.Owners = []lists.Owner{{Email: "anim@example.org"}}
	if _, err := lists.Update(context.Background(), e.h.DB, relaxed, audit.Actor{}); err != nil {
		t.Fatal(err)
	}
	e.dns.Set("exemple.fr", "v=spf1 ip4:192.0.2.1 -all")
	// No SPF record, no DKIM: not proven, not forged either.
	e.mustSend("bob@nospf.example", "4405.relax@hub.example", post("bob@nospf.example", "4405.relax@hub.example", "Sans SPF", "…"))
	e.waitFor("unproven post on a relaxed list", countTo("alice@example.org", 1))
	e.mustSend("camille@exemple.fr", "4405.relax@hub.example", post("camille@exemple.fr", "4405.relax@hub.example", "Falsifié", "…"))
	e.waitFor("forged post held", countTo("anim@example.org", 1))
	e.settle()
	if n := len(to(e.box.Mails(), "alice@example.org")); n != 1 {
		t.Fatalf("relaxed list delivered %d posts, want 1", n)
	}
	off := e.createList("4405.libre", lists.Members, []string{"anim@example.org"}, "alice@example.org", "camille@exemple.fr")
	off.Auth = lists.AuthOff
	off.Owners = []lists.Owner{{Email: "anim@example.org"}}
	if _, err := lists.Update(context.Background(), e.h.DB, off, audit.Actor{}); err != nil {
		t.Fatal(err)
	}
	e.mustSend("camille@exemple.fr", "4405.libre@hub.example", post("camille@exemple.fr", "4405.libre@hub.example", "Cru", "…"))
	e.waitFor("post on a list that does not judge", countTo("alice@example.org", 2))
}

// Forged senders get nothing back: no subscription confirmation, no
// ticket acknowledgement, no failure notice.
func TestAuthNoBackscatter(t *testing.T) {
	e := deskEnv(t)
	e.createList("4405.discussion", lists.Members, []string{"anim@exemple.fr"})
	e.dns.Set("example.net", "v=spf1 ip4:192.0.2.1 -all")
	victim := "victime@example.net"
	e.mustSend(victim, "4405.discussion+subscribe@hub.example", post(victim, "4405.discussion+subscribe@hub.example", "inscription", ""))
	e.mustSend(victim, "support@hub.example", mailTo(victim, "support@hub.example", "Aide", "<v1@example.net>", "Bonjour"))
	e.waitFor("operators told of the ticket", countTo(nadia, 1))
	e.settle()
	if n := len(to(e.box.Mails(), victim)); n != 0 {
		t.Fatalf("the forged sender's address got %d mails", n)
	}
	tk, _ := ticketOf(t, e, 1)
	if tk.Requester != victim {
		t.Fatalf("ticket %+v", tk)
	}
	// The same requests, proven: answered.
	e.dns.Set("example.net", "v=spf1 ip4:127.0.0.1 -all")
	e.mustSend(victim, "4405.discussion+subscribe@hub.example", post(victim, "4405.discussion+subscribe@hub.example", "inscription", ""))
	e.waitFor("confirmation", countTo(victim, 1))
}

// Operator powers need the operator's From, proven: a reply through an
// operator's key whose SPF fails is an outsider's message, and commands
// in it do nothing.
func TestAuthForgedOperatorKeyHasNoPowers(t *testing.T) {
	e := deskEnv(t)
	ack, notif := openTicket(t, e)
	key := addr(t, notif.Header().Get("Reply-To"))
	e.dns.Set("ops.example", "v=spf1 ip4:192.0.2.1 -all")
	e.mustSend(nadia, key, mailTo("Nadia <"+nadia+">", key, "Re: tracts", "<forged1@ops.example>", "#fermer\nIl n'y a plus de tracts."))
	e.waitFor("operators warned", countTo(paul, 2))
	e.settle()
	if n := len(to(e.box.Mails(), camille)); n != 1 {
		t.Fatalf("the requester got %d mails, want only the acknowledgement", n)
	}
	tk, tm := ticketOf(t, e, 1)
	if tk.State != tickets.StateNew || kinds(tm) != "request,reply" {
		t.Fatalf("unproven operator mail ran a command: state %s, %s", tk.State, kinds(tm))
	}
	// Signed by ops.example: the powers are back.
	sign := e.signAs("ops.example")
	e.mustSend(nadia, key, sign(mailTo("Nadia <"+nadia+">", key, "Re: tracts", "<real1@ops.example>", "#fermer\nAu local, samedi.")))
	ms := e.waitFor("answer", countTo(camille, 2))
	if a := to(ms, camille)[1]; !strings.Contains(text(a), "Au local, samedi.") || a.Header().Get("In-Reply-To") == "" {
		t.Fatalf("answer:\n%s", a.Data)
	}
	if tk, _ := ticketOf(t, e, 1); tk.State != tickets.StateClosed {
		t.Fatalf("state %s after a proven #fermer", tk.State)
	}
	_ = ack
}

// Abuse limits for clients outside limit_exempt: connections per minute
// (421), messages per sender and hour (450), recipients per message (452),
// subscriptions per address and hour (no more confirmations).
func TestAbuseLimits(t *testing.T) {
	e := newEnv(t, func(c *config.Config) {
		c.SMTP.LimitExempt = nil
		c.SMTP.MessagesPerSenderHour = 2
		c.SMTP.ConnectionsPerIPMinute = 8
		c.Lists.SubscribePerAddressHour = 2
	})
	for _, l := range []string{"4405.a", "4405.b", "4405.c"} {
		e.createList(l, lists.Members, []string{"anim@exemple.fr"})
	}
	var errs []error
	for _, l := range []string{"4405.a", "4405.b", "4405.c"} {
		rcpt := l + "+subscribe@hub.example"
		errs = append(errs, e.send("bot@example.org", []string{rcpt}, post("bot@example.org", rcpt, "inscription", "")))
	}
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("first two messages refused: %v", errs)
	}
	var se *smtp.SMTPError
	if !errors.As(errs[2], &se) || se.Code != 450 || se.EnhancedCode != (smtp.EnhancedCode{4, 7, 1}) {
		t.Fatalf("third message from the same sender in the hour: %v", errs[2])
	}
	// Another sender of the same robot, to the third list: over the cap of
	// subscriptions for victim@.
	e.mustSend("bot2@example.org", "4405.c+subscribe@hub.example", post("victim@example.org", "4405.c+subscribe@hub.example", "inscription", ""))
	e.mustSend("bot3@example.org", "4405.a+subscribe@hub.example", post("victim@example.org", "4405.a+subscribe@hub.example", "inscription", ""))
	e.mustSend("bot4@example.org", "4405.b+subscribe@hub.example", post("victim@example.org", "4405.b+subscribe@hub.example", "inscription", ""))
	e.settle()
	if n := len(to(e.box.Mails(), "victim@example.org")); n != 2 {
		t.Fatalf("victim got %d confirmations, want 2 (the hourly cap)", n)
	}
	// An hour later the sender may write again.
	e.clock.advance(2 * time.Hour)
	if err := e.send("bot@example.org", []string{"4405.c+subscribe@hub.example"}, post("bot@example.org", "4405.c+subscribe@hub.example", "inscription", "")); err != nil {
		t.Fatalf("an hour later: %v", err)
	}
	// Connections: one was made in this minute; seven more pass, the
	// ninth is refused with 421.
	accepted := 1
	for ; accepted < 20; accepted++ {
		c, err := smtp.Dial(e.addr)
		if err == nil {
			err = c.Hello("client.example.org")
			c.Close()
		}
		if err != nil {
			if !errors.As(err, &se) || se.Code != 421 {
				t.Fatalf("connection %d: %v", accepted+1, err)
			}
			break
		}
	}
	if accepted != 8 {
		t.Fatalf("%d connections accepted in the minute, want 8", accepted)
	}
	// Loopback exemption, as configured by default, is what lets a local
	// Postfix through: checked by every other test.
	if !regexp.MustCompile(`reason="message rate per sender"`).MatchString(e.logs.String()) {
		t.Error("the refusal is not logged with its reason")
	}
}

// SpamAssassin (offline, the rules Debian ships) scores a list post, a
// digest and a ticket acknowledgement below 1.0 each, as a member's
// provider would see them.
func TestSpamAssassinScores(t *testing.T) {
	e := deskEnv(t)
	e.createList("4405.discussion", lists.Members, []string{"anim@exemple.fr"}, "alice@example.org", "d@example.org")
	e.mustSend("d@example.org", "4405.discussion+request@hub.example", post("d@example.org", "x", "resume", ""))
	e.waitFor("digest mode", countTo("d@example.org", 1))
	e.mustSend("alice@example.org", "4405.discussion@hub.example", post("Alice Martin <alice@example.org>", "4405.discussion@hub.example",
		"Réunion de jeudi", "Bonjour à toutes et tous,\n\nLa réunion de jeudi aura lieu à 19h à la maison des associations.\nOrdre du jour : préparation du forum.\n\nAlice"))
	ms := e.waitFor("post", countTo("alice@example.org", 1))
	listPost := to(ms, "alice@example.org")[0]
	e.settle()
	e.clock.advance(25 * time.Hour)
	if n, err := e.h.Lists.RunDigests(context.Background()); n != 1 || err != nil {
		t.Fatalf("digests %d %v", n, err)
	}
	ms = e.waitFor("digest", countTo("d@example.org", 2))
	digest := to(ms, "d@example.org")[1]
	ack, _ := openTicket(t, e)
	for name, m := range map[string]outbox.Mail{"list post": listPost, "digest": digest, "ticket acknowledgement": ack} {
		score, rules := spamcheck.Score(t, m.Data)
		t.Logf("%s: SpamAssassin %.1f (%s)", name, score, rules)
		if score >= 1.0 {
			t.Errorf("%s scores %.1f (%s), want below 1.0:\n%s", name, score, rules, m.Data)
		}
	}
}

// Regressions found by review: ways around the verdict.
func TestAuthCannotBeTalkedRound(t *testing.T) {
	e := newEnv(t)
	e.createList("4405.discussion", lists.Members, []string{"anim@example.org"}, "alice@example.org", "bob@nospf.example")
	// A reverse path whose quoted local part smuggles "dkim=pass" for the
	// member's domain into the hub's own field.
	e.mustSend(`"x@;dkim=pass header.d=nospf.example;x=y"@evil.example`, "4405.discussion@hub.example",
		post("Bob <bob@nospf.example>", "4405.discussion@hub.example", "Forged", "…"))
	e.waitFor("moderation notice", countTo("anim@example.org", 1))
	// The same through the HELO, with the null sender.
	c, err := smtp.Dial(e.addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Hello("x;dkim=pass header.d=nospf.example;x=y"); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("", []string{"4405.discussion@hub.example"}, strings.NewReader(post("Bob <bob@nospf.example>", "4405.discussion@hub.example", "Forged 2", "…"))); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	e.settle()
	if n := len(to(e.box.Mails(), "alice@example.org")); n != 0 {
		t.Fatalf("a forged post reached %d members", n)
	}
	// Two From fields: refused, DMARC could not judge them.
	var se *smtp.SMTPError
	err = e.send("x@example.net", []string{"4405.discussion@hub.example"}, post("bob@nospf.example", "4405.discussion@hub.example", "two From", "…", "From: bob@nospf.example\n"))
	if !errors.As(err, &se) || se.Code != 554 || se.EnhancedCode != (smtp.EnhancedCode{5, 6, 0}) {
		t.Fatalf("two From fields: %v", err)
	}
	// A From in the hub's own domain the hub did not write would leave
	// signed by the hub: refused.
	err = e.send("x@example.net", []string{"4405.nantes-sud@hub.example"}, crlf("From: Support Relais <support@hub.example>\nTo: 4405.nantes-sud@hub.example\n"+
		"Subject: Reset your password\nDate: Sat, 21 Nov 2026 10:00:00 +0100\nMessage-ID: <phish@evil.example>\n\nClick\n"))
	if !errors.As(err, &se) || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 26}) {
		t.Fatalf("forged hub From: %v", err)
	}
}

// The attacker's own envelope passes SPF, the From is the victim's and
// fails its domain's DMARC: the victim gets nothing.
func TestAuthNoBackscatterThroughOwnEnvelope(t *testing.T) {
	e := deskEnv(t)
	e.createList("4405.discussion", lists.Members, []string{"anim@exemple.fr"})
	e.dns.Set("example.net", "v=spf1 ip4:192.0.2.1 -all")
	e.dns.Set("_dmarc.example.net", "v=DMARC1; p=quarantine")
	victim := "victime@example.net"
	e.mustSend("bot@example.org", "4405.discussion+subscribe@hub.example", post(victim, "4405.discussion+subscribe@hub.example", "inscription", ""))
	e.mustSend("bot@example.org", "support@hub.example", mailTo(victim, "support@hub.example", "Aide", "<v1@example.net>", "Bonjour"))
	e.waitFor("operators told of the ticket", countTo(nadia, 1))
	e.settle()
	if n := len(to(e.box.Mails(), victim)); n != 0 {
		t.Fatalf("the forged From got %d mails", n)
	}
}

// Behind a front MTA (loopback, skip_spf_from): genuine SPF-only mail from
// a p=reject domain is not refused (the front would bounce it), and the
// per-IP subscription cap does not apply to everyone at once.
func TestAuthBehindFrontMTA(t *testing.T) {
	e := newEnv(t, func(c *config.Config) {
		c.Auth.SkipSPFFrom = []string{"127.0.0.0/8"}
		c.Lists.SubscribePerIPHour = 3
	})
	e.dns.Set("_dmarc.example.org", "v=DMARC1; p=reject")
	if err := e.send("marie@example.org", []string{"4405.nantes-sud@hub.example"}, crlf(groupMessage)); err != nil {
		t.Fatalf("genuine mail refused behind the front MTA: %v", err)
	}
	e.createList("4405.discussion", lists.Members, []string{"anim@exemple.fr"})
	for i := 0; i < 4; i++ {
		a := fmt.Sprintf("p%d@exemple.fr", i)
		e.mustSend(a, "4405.discussion+subscribe@hub.example", post(a, "4405.discussion+subscribe@hub.example", "inscription", ""))
	}
	e.waitFor("four confirmations", countTo("p3@exemple.fr", 1))
}

// MAIL FROM commands in someone's name do not spend their allowance: only
// messages accepted do.
func TestSenderRateCountsAcceptedMessages(t *testing.T) {
	e := newEnv(t, func(c *config.Config) {
		c.SMTP.LimitExempt = nil
		c.SMTP.MessagesPerSenderHour = 3
	})
	c, err := smtp.Dial(e.addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Hello("attacker.example")
	for i := 0; i < 5; i++ {
		if err := c.Mail("marie@example.org", nil); err != nil {
			t.Fatal(err)
		}
		c.Reset()
	}
	c.Quit()
	if err := e.send("marie@example.org", []string{"4405.nantes-sud@hub.example"}, crlf(groupMessage)); err != nil {
		t.Fatalf("sender locked out by someone else's MAIL FROM: %v", err)
	}
}
