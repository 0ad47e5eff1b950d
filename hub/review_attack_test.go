package hub

// Attacks of the review of issue 12 (branch h12-review): each test shows a
// way around one of the fixes, or a legitimate message the fixes refuse.

import (
	"errors"

	"io"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"codeberg.org/relais/relais/config"
)

// sendOpts is e.send with MAIL FROM parameters (SMTPUTF8, 8BITMIME).
func (e *env) sendOpts(from string, opts *smtp.MailOptions, to []string, msg string) error {
	c, err := smtp.Dial(e.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("client.example.org"); err != nil {
		return err
	}
	if err := c.Mail(from, opts); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// A From whose domain is written in Unicode that IDNA (UTS #46, what
// browsers, mail clients and DMARC verifiers use to look a U-label up)
// maps onto the hub's own domain: fullwidth letters, a soft hyphen or a
// zero-width space (invisible when shown), an ideographic full stop.
// Readers see support@hub.example, a verifier that maps the domain finds
// it aligned with the hub's signature; the hub compared bytes and signed.
func TestReviewFromIDNMappedToHub(t *testing.T) {
	e := newEnv(t)
	e.dns.Set("evil.example", "v=spf1 ip4:127.0.0.1 -all")
	for _, from := range []string{
		"support@ｈｕｂ.example",
		"support@hu\u00adb.example",
		"Support <support@h\u200bub.example>",
		"support@hu\ufeffb.example",
		"support@hub\u3002example",
		"support@ℌub.example",
		"support@mail.hu\u00adb.example",
	} {
		err := e.sendOpts("attacker@evil.example", &smtp.MailOptions{UTF8: true}, []string{"4405.nantes-sud@hub.example"},
			"From: "+from+"\r\nTo: 4405.nantes-sud@hub.example\r\nSubject: Mot de passe\r\n\r\nhttp://evil.example/login\r\n")
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code/100 != 5 {
			t.Errorf("From %q: %v, want a refusal", from, err)
		}
	}
}

// Display names that show the hub's address once their encoded words are
// decoded, where the hub's decoder gives up: one word with a charset Go
// does not know (anywhere in the field) made the whole decoding fail, so
// the check only read the raw text.
func TestReviewFromDisplayNameEncoded(t *testing.T) {
	e := newEnv(t)
	e.dns.Set("evil.example", "v=spf1 ip4:127.0.0.1 -all")
	e.dns.Set("_dmarc.evil.example", "v=DMARC1; p=none")
	for _, from := range []string{
		// net/mail itself reads the display name as "support@hub.example".
		"=?utf-8?Q?support=40hub.example?= <attacker@evil.example> (=?x-unknown?Q?x?=)",
		`"=?x-unknown?Q?x?=" =?utf-8?Q?support=40hub.example?= <attacker@evil.example>`,
		// Base64 without its padding: Go refuses it, mail clients and
		// Python decode it.
		"=?utf-8?B?c3VwcG9ydEBodWIuZXhhbXBsZQ?= <attacker@evil.example>",
		// In a quoted string, where RFC 2047 says no word is, but
		// Thunderbird, Gmail and Python decode it, with a charset net/mail
		// does not know.
		`"=?utf-8*fr?Q?support=40hub.example?=" <attacker@evil.example>`,
		`"=?windows-1252?Q?support=40hub.example?=" <attacker@evil.example>`,
		// A fullwidth commercial at: what a person reads as the hub's.
		"support\uff20hub.example <attacker@evil.example>",
		// A right-to-left override: shown reversed, "support@hub.example".
		"=?utf-8?Q?=E2=80=AEelpmaxe.buh=40troppus?= <attacker@evil.example>",
		"\"\u202eelpmaxe.buh@troppus\" <attacker@evil.example>",
	} {
		err := e.sendOpts("attacker@evil.example", &smtp.MailOptions{UTF8: true}, []string{"4405.nantes-sud@hub.example"},
			"From: "+from+"\r\nTo: 4405.nantes-sud@hub.example\r\nSubject: Mot de passe\r\n\r\nhttp://evil.example/login\r\n")
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code != 550 {
			t.Errorf("From %q: %v, want 550", from, err)
		}
	}
}

// Froms that members' mail clients write every day and the hub refused
// with 554 5.6.0: display names encoded in the charsets of Outlook and of
// French Windows (windows-1252, iso-8859-15), and 8-bit Latin-1 display
// names from old clients.
func TestReviewFromLegitimateCharsets(t *testing.T) {
	e := newEnv(t)
	for _, from := range []string{
		"=?windows-1252?Q?J=E9r=F4me_Dupont?= <marie@example.org>",
		"=?iso-8859-15?Q?J=E9r=F4me_=A4?= <marie@example.org>",
		"=?Windows-1252?B?Suly9G1l?= <marie@example.org>",
		"=?koi8-r?B?8NLJ18XU?= <marie@example.org>",
		"J\xe9r\xf4me Dupont <marie@example.org>",
	} {
		if err := e.send("marie@example.org", []string{"4405.nantes-sud@hub.example"},
			"From: "+from+"\r\nTo: 4405.nantes-sud@hub.example\r\nSubject: RDV\r\n\r\nbonjour\r\n"); err != nil {
			t.Errorf("From %q: %v", from, err)
		}
	}
}

// Once accepted, such a From is read the same way further on: a list
// command from Outlook (windows-1252 display name) and a VERP return path
// is answered at the From, not at the return path, and its DMARC verdict
// names the From's domain.
func TestReviewFromCharsetReadDownstream(t *testing.T) {
	e := newEnv(t)
	e.createList("4405.discussion", "members", []string{"anim@exemple.fr"})
	const rcpt = "4405.discussion+subscribe@hub.example"
	msg := strings.Replace(post("x", rcpt, "inscription", ""), "From: x", "From: =?windows-1252?Q?J=E9r=F4me_Dupont?= <jerome@example.org>", 1)
	e.mustSend("bounces-4242@example.org", rcpt, msg)
	e.settle()
	if got := to(e.box.Mails(), "jerome@example.org"); len(got) != 1 {
		var all []string
		for _, m := range e.box.Mails() {
			all = append(all, m.To)
		}
		t.Fatalf("confirmation sent to %v, want jerome@example.org\n%s", all, e.logs)
	}
}

// The hub's address elsewhere in what readers show as the author: a
// display name with a subdomain of the hub's, and a Sender field (Outlook
// shows "support@hub.example on behalf of …"), which the hub never writes.
func TestReviewHubAddressShownElsewhere(t *testing.T) {
	e := newEnv(t)
	e.dns.Set("evil.example", "v=spf1 ip4:127.0.0.1 -all")
	e.dns.Set("_dmarc.evil.example", "v=DMARC1; p=none")
	for _, h := range []string{
		"From: =?utf-8?Q?support=40mail.hub.example?= <attacker@evil.example>\r\n",
		"From: Attacker <attacker@evil.example>\r\nSender: Support <support@hub.example>\r\n",
		"Sender: support@mail.hub.example\r\nFrom: attacker@evil.example\r\n",
		"From: attacker@evil.example\r\nSender: Attacker <attacker@evil.example>\r\nSender:" + strings.Repeat("\r\n"+strings.Repeat(" ", 70), 40) + "support@hub.example\r\n",
	} {
		err := e.send("attacker@evil.example", []string{"4405.nantes-sud@hub.example"},
			h+"To: 4405.nantes-sud@hub.example\r\nSubject: Mot de passe\r\n\r\nhttp://evil.example/login\r\n")
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code != 550 {
			t.Errorf("%q: %v, want 550", h, err)
		}
	}
}

// Members whose domain merely starts like the hub's are not the hub:
// "@hub.examples.org" does not show "@hub.example".
func TestReviewLookalikeMemberDomainAccepted(t *testing.T) {
	e := newEnv(t)
	e.dns.Set("hub.examples.org", "v=spf1 ip4:127.0.0.1 -all")
	e.dns.Set("hub.example-asso.org", "v=spf1 ip4:127.0.0.1 -all")
	for _, from := range []string{"Marie <marie@hub.examples.org>", "paul@hub.example-asso.org"} {
		_, mailFrom, _ := strings.Cut(from, "<")
		mailFrom = strings.TrimSuffix(mailFrom, ">")
		if mailFrom == "" {
			mailFrom = from
		}
		if err := e.send(mailFrom, []string{"4405.nantes-sud@hub.example"},
			"From: "+from+"\r\nTo: 4405.nantes-sud@hub.example\r\nSubject: RDV\r\n\r\nbonjour\r\n"); err != nil {
			t.Errorf("From %q: %v", from, err)
		}
	}
}

// A hub whose domain is configured in Unicode: its own address in From,
// written in Unicode or in A-labels, is the hub's all the same.
func TestReviewUnicodeHubDomain(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Domains = append(c.Domains, "réseau.example") })
	e.dns.Set("evil.example", "v=spf1 ip4:127.0.0.1 -all")
	for _, from := range []string{"support@réseau.example", "support@xn--rseau-bsa.example", "Support <support@mail.xn--rseau-bsa.example>"} {
		err := e.sendOpts("attacker@evil.example", &smtp.MailOptions{UTF8: true}, []string{"4405.nantes-sud@hub.example"},
			"From: "+from+"\r\nTo: 4405.nantes-sud@hub.example\r\nSubject: Mot de passe\r\n\r\nhttp://evil.example/login\r\n")
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code != 550 {
			t.Errorf("From %q: %v, want 550", from, err)
		}
	}
}
