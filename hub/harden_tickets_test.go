package hub

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/lists"
	"codeberg.org/relais/relais/outbox"
)

// Issue 12: the desk must not be a relay for a forger's words. Victim
// domains as the attack campaign had them; the attacker's own domain
// passes SPF for the address the tests send from.
const (
	attacker   = "x@attaquant.example"
	evil       = "evil.example"
	evilURL    = "http://evil.example/login"
	victimFail = "moins.example" // SPF -all, no DMARC
	victimSoft = "tilde.example" // SPF ~all, no DMARC
	victimNone = "nu.example"    // no record at all
)

func hardenDNS(e *env) {
	e.dns.Set("attaquant.example", "v=spf1 ip4:127.0.0.1 -all")
	e.dns.Set(victimFail, "v=spf1 ip4:192.0.2.1 -all")
	e.dns.Set(victimSoft, "v=spf1 ip4:192.0.2.1 ~all")
}

// phish is a request whose every part carries the forger's link: display
// name, Subject, Message-ID and text.
func phish(from, msgID string, extra ...string) string {
	return mailTo(`"Banque `+evilURL+`" <`+from+`>`, "support@hub.example", evilURL, msgID,
		"Votre compte est bloqué : reconnectez-vous sur "+evilURL+" avant ce soir.", extra...)
}

// unprovenAck is the whole text of the acknowledgement to a From that
// nothing proves: fixed lines of ours and the ticket's number.
func unprovenAck(n int) string {
	return crlf(fmt.Sprintf(`Bonjour,

Support national a reçu un message envoyé sous votre adresse. Il porte le
numéro %d.

Nous n'en reprenons rien ici : rien ne prouve qu'il vient de vous (ni votre
domaine ni votre messagerie ne l'ont authentifié). Si vous l'avez écrit, un
membre de l'équipe vous répondra par courriel ; pour ajouter une précision,
répondez simplement à ce message.

Si vous n'avez rien écrit, quelqu'un s'est servi de votre adresse : ignorez
ce message, ou répondez-y pour nous le signaler.

-- 
Support national <support@hub.example>
Message automatique. Gardez [#%d] dans le sujet : il permet de
retrouver votre demande.
`, n, n))
}

// noEcho fails the test when m carries anything of the forger's: in its
// bytes as sent, its decoded subject or its decoded text.
func noEcho(t *testing.T, m outbox.Mail) {
	t.Helper()
	if bytes.Contains(bytes.ToLower(m.Data), []byte(evil)) || strings.Contains(subject(m), evil) || strings.Contains(text(m), evil) {
		t.Errorf("mail to %s repeats the forger's words:\n%s", m.To, m.Data)
	}
}

// A request to support@ under a From that nothing proves: the hub mails
// nothing of it to that address. Unproven (the attacker's own envelope, or
// the victim's with ~all or no record): one acknowledgement of fixed lines,
// without subject, text or threading. Shown forged (the victim's own
// envelope with -all): nothing at all. The operators get every request,
// warned when nothing proves its From. A proven requester, by SPF or by
// DKIM, still gets the acknowledgement with their subject.
func TestHardenTicketForgedRequestsEchoNothing(t *testing.T) {
	e := deskEnv(t)
	hardenDNS(e)
	cases := []struct {
		mailFrom, from string
		acked          bool
	}{
		{attacker, "a@" + victimFail, true},
		{attacker, "a@" + victimSoft, true},
		{attacker, "a@" + victimNone, true},
		{"b@" + victimFail, "b@" + victimFail, false}, // SPF fail: shown forged
		{"b@" + victimSoft, "b@" + victimSoft, true},  // softfail
		{"b@" + victimNone, "b@" + victimNone, true},  // none
	}
	for i, c := range cases {
		e.mustSend(c.mailFrom, "support@hub.example", phish(c.from, fmt.Sprintf("<forge-%d@%s>", i, evil)))
		e.waitFor("notifications", countTo(paul, i+1))
	}
	e.settle()
	ms := e.box.Mails()
	for i, c := range cases {
		n := i + 1
		got := to(ms, c.from)
		if !c.acked {
			if len(got) != 0 {
				t.Errorf("%s (MAIL FROM %s), shown forged: %d mails, want none", c.from, c.mailFrom, len(got))
			}
			continue
		}
		if len(got) != 1 {
			t.Errorf("%s (MAIL FROM %s): %d mails, want one acknowledgement", c.from, c.mailFrom, len(got))
			continue
		}
		ack := got[0]
		h := ack.Header()
		noEcho(t, ack)
		if s := subject(ack); s != fmt.Sprintf("[#%d] Message reçu", n) {
			t.Errorf("%s: subject %q", c.from, s)
		}
		if body := text(ack); body != unprovenAck(n) {
			t.Errorf("%s: text\n%s\nwant\n%s", c.from, body, unprovenAck(n))
		}
		if h.Get("In-Reply-To") != "" || h.Get("References") != "" || h.Get("Auto-Submitted") != "auto-replied" ||
			h.Get("From") != `"Support national" <support@hub.example>` || addr(t, h.Get("To")) != c.from ||
			!keyAddrRE.MatchString(addr(t, h.Get("Reply-To"))) || !strings.HasPrefix(ack.From, "bounces+") {
			t.Errorf("%s: header\n%v", c.from, h)
		}
	}
	// The operators see each request whole, and are warned.
	for i, c := range cases {
		notif := to(ms, nadia)[i]
		body := text(notif)
		if s := subject(notif); s != fmt.Sprintf("[#%d] Nouvelle demande : %s", i+1, evilURL) ||
			!strings.Contains(body, "Nouvelle demande de "+c.from+" à support@hub.example :\r\n\r\nAttention : rien ne prouve que ce message vient de "+c.from+", dont\r\nl'adresse a pu être usurpée. Méfiez-vous de ses liens.\r\n\r\nVotre compte est bloqué : reconnectez-vous sur "+evilURL+" avant ce soir.\r\n") {
			t.Errorf("notification %d: %q\n%s", i+1, s, body)
		}
	}
	if len(ms) != 5+2*len(cases) {
		t.Errorf("%d mails sent, want %d", len(ms), 5+2*len(cases))
	}

	// Proven by SPF (exemple.fr names 127.0.0.1), and by DKIM alone (a
	// domain without SPF, through the attacker's envelope as a forwarder
	// would): the acknowledgement names the request as its writer wrote it.
	e.mustSend(camille, "support@hub.example", mailTo("Camille <"+camille+">", "support@hub.example", "Salle pour le 12", "<req7@exemple.fr>", "Bonjour, une salle ?"))
	sign := e.signAs("signe.example")
	e.mustSend(attacker, "support@hub.example", sign(mailTo("Lou <lou@signe.example>", "support@hub.example", "Tracts pour samedi", "<req8@signe.example>", "Bonjour, des tracts ?")))
	e.waitFor("acknowledgements", func(ms []outbox.Mail) bool {
		return len(to(ms, camille)) == 1 && len(to(ms, "lou@signe.example")) == 1 && len(to(ms, paul)) == 8
	})
	e.settle()
	ms = e.box.Mails()
	for _, w := range []struct{ to, subject, inReplyTo string }{
		{camille, "[#7] Demande reçue : Salle pour le 12", "<req7@exemple.fr>"},
		{"lou@signe.example", "[#8] Demande reçue : Tracts pour samedi", "<req8@signe.example>"},
	} {
		ack := to(ms, w.to)[0]
		if s := subject(ack); s != w.subject || ack.Header().Get("In-Reply-To") != w.inReplyTo ||
			!strings.HasPrefix(text(ack), "Bonjour,\r\n\r\nVotre demande a bien été reçue par Support national.") {
			t.Errorf("proven %s: subject %q In-Reply-To %q\n%s", w.to, s, ack.Header().Get("In-Reply-To"), text(ack))
		}
	}
	if n := to(ms, nadia)[6]; strings.Contains(text(n), "Attention") {
		t.Errorf("a proven request is flagged:\n%s", text(n))
	}
}

// An operator answers a ticket whose requester nothing proves: the answer
// carries the operator's words under "Votre demande", threaded under
// nothing of the requester's. A reply with attachments too large gets the
// fixed notice, unthreaded. Once the requester writes with a proven From
// (their domain now signs), answers name the request again.
func TestHardenTicketUnprovenRequesterGetsOnlyOurWords(t *testing.T) {
	e := deskEnv(t, func(c *config.Config) { c.Tickets.MaxAttachmentBytes = 20 << 10 })
	hardenDNS(e)
	const lea = "lea@" + victimNone
	e.mustSend(lea, "support@hub.example", phish(lea, "<req1@"+evil+">"))
	e.waitFor("ack and notifications", func(ms []outbox.Mail) bool { return len(ms) == 3 })
	e.settle()
	ack := to(e.box.Mails(), lea)[0]
	notif := to(e.box.Mails(), nadia)[0]
	nk := keyOf(t, notif, "Reply-To")
	rk := keyOf(t, ack, "Reply-To")

	e.mustSend(nadia, "support+"+nk+"@hub.example", mailTo(nadia, "support+"+nk+"@hub.example", "Re: "+subject(notif), "<op1@ops.example>",
		"Bonjour, pouvez-vous préciser votre demande ?", "In-Reply-To: "+notif.Header().Get("Message-ID")+"\n"))
	e.waitFor("answer", countTo(lea, 2))
	e.settle()
	a := to(e.box.Mails(), lea)[1]
	noEcho(t, a)
	if s := subject(a); s != "Re: [#1] Votre demande" {
		t.Errorf("answer subject %q", s)
	}
	if body := text(a); body != crlf("Bonjour, pouvez-vous préciser votre demande ?\n\n-- \nSupport national <support@hub.example> · demande n° 1\nPour répondre, répondez à ce message.\n") {
		t.Errorf("answer text:\n%s", body)
	}
	if h := a.Header(); h.Get("In-Reply-To") != "" || h.Get("References") != "" || keyOf(t, a, "Reply-To") != rk {
		t.Errorf("answer header: %v", h)
	}

	// Lea adds a file too large, through her key, still unproven.
	big := crlf("From: " + lea + "\nTo: support+" + rk + "@hub.example\nSubject: Re: [#1] " + evilURL + "\nMessage-ID: <req2@" + evil + ">\n" +
		"In-Reply-To: <req1@" + evil + ">\nDate: Sat, 21 Nov 2026 10:00:00 +0100\nMIME-Version: 1.0\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain; charset=utf-8\n\nVoir " + evilURL + "\n" +
		"--b1\nContent-Type: application/pdf; name=\"plan.pdf\"\nContent-Disposition: attachment; filename=\"plan.pdf\"\nContent-Transfer-Encoding: base64\n\n" +
		b64(bytes.Repeat([]byte("x"), 30<<10)) + "--b1--\n")
	e.mustSend(lea, "support+"+rk+"@hub.example", big)
	e.waitFor("withheld notice", countTo(lea, 3))
	e.settle()
	w := to(e.box.Mails(), lea)[2]
	noEcho(t, w)
	if s, h := subject(w), w.Header(); s != "[#1] Pièces jointes non transmises" || h.Get("In-Reply-To") != "" || h.Get("References") != "" {
		t.Errorf("withheld notice: subject %q header %v", s, h)
	}
	if body := text(w); !strings.HasPrefix(body, "Bonjour,\r\n\r\nVotre message a bien été ajouté à la demande n° 1, mais ses pièces\r\njointes dépassent 1 Mo") {
		t.Errorf("withheld notice text:\n%s", body)
	}
	if n := len(e.box.Mails()); n != 8 {
		t.Errorf("%d mails, want 8: ack, 2 notifications, answer, paul's copy, notice, 2 notifications", n)
	}

	// Her domain signs from now on: a proven reply, and the next answer
	// names the request and threads again.
	sign := e.signAs(victimNone)
	e.mustSend(lea, "support+"+rk+"@hub.example", sign(mailTo(lea, "support+"+rk+"@hub.example", "Re: [#1] Votre demande", "<req3@nu.example>", "C'est bien moi.")))
	e.waitFor("notification", countTo(nadia, 3))
	e.mustSend(nadia, "support+"+nk+"@hub.example", mailTo(nadia, "support+"+nk+"@hub.example", "Re: [#1]", "<op2@ops.example>", "Merci, c'est noté."))
	e.waitFor("second answer", countTo(lea, 4))
	e.settle()
	a2 := to(e.box.Mails(), lea)[3]
	if s := subject(a2); s != "Re: [#1] "+evilURL || a2.Header().Get("In-Reply-To") != "<req3@nu.example>" {
		t.Errorf("answer to a proven requester: subject %q In-Reply-To %q", s, a2.Header().Get("In-Reply-To"))
	}
}

// Secrets the hub hands out (reply keys in addresses and Message-IDs, VERP
// tokens, list confirmation tokens) never reach a log line, over a ticket
// conversation, a bounce and a list subscription; the lines still name
// the address without its secret.
func TestHardenTicketKeysNotLogged(t *testing.T) {
	e := deskEnv(t)
	e.createList("4405.discussion", lists.Members, []string{"anim@exemple.fr"})
	ack, notif := openTicket(t, e)
	nk, rk := keyOf(t, notif, "Reply-To"), keyOf(t, ack, "Reply-To")
	note := regexp.MustCompile(`support\+[a-z2-7]{20,48}@hub\.example`).FindString(text(notif))
	e.mustSend(nadia, "support+"+nk+"@hub.example", mailTo(nadia, "support+"+nk+"@hub.example", "Re: tracts", "<op1@ops.example>",
		"Au local, samedi.", "In-Reply-To: "+notif.Header().Get("Message-ID")+"\n"))
	e.waitFor("answer", countTo(camille, 2))
	e.mustSend(camille, "support+"+rk+"@hub.example", mailTo(camille, "support+"+rk+"@hub.example", "Re: tracts", "<req2@exemple.fr>", "Merci !",
		"In-Reply-To: "+to(e.box.Mails(), camille)[1].Header().Get("Message-ID")+"\n"))
	e.waitFor("reply notification", countTo(nadia, 2))
	e.mustSend(nadia, note, mailTo(nadia, note, "Re: tracts", "<op2@ops.example>", "Note : fait."))
	e.waitFor("note notification", countTo(paul, 4))
	// Threading without the +KEY: the Message-ID of ours carries the key.
	e.mustSend(camille, "support@hub.example", mailTo(camille, "support@hub.example", "Re: tracts", "<req3@exemple.fr>", "Encore merci.",
		"In-Reply-To: "+ack.Header().Get("Message-ID")+"\n"))
	e.waitFor("reply notification", countTo(nadia, 3))
	// A bounce to the acknowledgement's VERP address.
	if err := e.send("", []string{ack.From}, dsn(camille, "delayed", "4.4.1", "451 4.4.1 try again")); err != nil {
		t.Fatal(err)
	}
	// A list subscription confirmed by reply.
	e.mustSend("alice@example.org", "4405.discussion+subscribe@hub.example", post("alice@example.org", "4405.discussion+subscribe@hub.example", "subscribe", ""))
	c := e.waitFor("confirmation", countTo("alice@example.org", 1))
	confirm := addr(t, to(c, "alice@example.org")[0].Header().Get("Reply-To"))
	e.mustSend("alice@example.org", confirm, post("alice@example.org", confirm, "oui", "oui"))
	e.waitFor("welcome", countTo("alice@example.org", 2))
	e.settle()

	// Every secret in what the hub sent.
	secrets := map[string]bool{}
	keyRE := regexp.MustCompile(`support\+([a-z2-7]{20,48})@|<([a-z2-7]{20,48})\.[0-9a-f]{12}@mx\.hub\.example>|\+confirm-([a-z2-7]+)@|^bounces\+([^@]+)@`)
	for _, m := range e.box.Mails() {
		for _, s := range []string{string(m.Data), m.From} {
			for _, g := range keyRE.FindAllStringSubmatch(s, -1) {
				for _, k := range g[1:] {
					if k != "" {
						secrets[k] = true
					}
				}
			}
		}
	}
	for _, k := range []string{nk, rk, strings.TrimSuffix(strings.TrimPrefix(ack.From, "bounces+"), "@hub.example"),
		strings.TrimSuffix(strings.TrimPrefix(confirm, "4405.discussion+confirm-"), "@hub.example")} {
		if !secrets[k] {
			t.Fatalf("secret %s not collected: %v", k, secrets)
		}
	}
	logs := e.logs.String()
	for _, line := range strings.Split(logs, "\n") {
		for k := range secrets {
			if strings.Contains(strings.ToLower(line), k) {
				t.Errorf("log line carries %s:\n%s", k, line)
			}
		}
	}
	for _, want := range []string{"rcpt=support+…@hub.example route=ticket", "rcpt=bounces+…@hub.example route=bounce",
		"rcpt=4405.discussion+confirm-…@hub.example route=list-token", "rcpt=4405.discussion+subscribe@hub.example route=list-cmd"} {
		if !strings.Contains(logs, want) {
			t.Errorf("no log line with %q", want)
		}
	}
}
