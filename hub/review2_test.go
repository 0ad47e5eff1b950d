package hub

// Second outside review of issues 13, 14 and 15: each test is an attack
// that worked, written so that it fails while the hole is open.

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/digest"
	"codeberg.org/relais/relais/internal/mention"
	"codeberg.org/relais/relais/outbox"
	"codeberg.org/relais/relais/privacy"
	"codeberg.org/relais/relais/tickets"
)

// A reply written from Outlook (Microsoft Defender Safe Links), or sent
// through any gateway that wraps links, quotes a member's footer link
// percent-encoded inside another URL: "…/?url=https%3A%2F%2Fhub%2Fsignin%2Fl.…".
// The hub spends only the links it finds written out as "/signin/…", so
// the quoted link goes to every member of the list and signs anyone in as
// the member who replied: their lists (political opinions), their
// subscriptions, "sign out everywhere", attending in their name.
func TestReview2QuotedFooterLinkPercentEncodedIsSpent(t *testing.T) {
	e := newEnv(t)
	const marie, paul = "marie@example.org", "paul@example.org"
	e.createList("4405.discussion", "members", []string{"camille@exemple.fr"}, marie, paul)
	e.mustSend("camille@exemple.fr", "4405.discussion@hub.example", post("camille@exemple.fr", "4405.discussion@hub.example", "Réunion", "Bonjour."))
	ms := e.waitFor("the post", countTo(paul, 1))
	footer := "http://" + e.h.WebAddr().String() + "/signin/" + linkIn(t, ms, paul, footerLinkRE)

	wrapped := "https://eur01.safelinks.protection.outlook.com/?url=" + url.QueryEscape(footer) +
		"&data=05%7C02%7C%7Cabc&sdata=xyz&reserved=0"
	reply := crlf("From: " + paul + "\nTo: 4405.discussion@hub.example\nSubject: Re: Reunion\nDate: Sat, 21 Nov 2026 10:00:00 +0100\n" +
		"Message-ID: <safelinks@example.org>\nMIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" +
		"<p>D'accord.</p><blockquote><a href=\"" + wrapped + "\">Gérer mes abonnements</a></blockquote>\n")
	e.mustSend(paul, "4405.discussion@hub.example", reply)
	e.waitFor("the reply", countTo(marie, 2))
	e.settle()
	if code, _, _ := newBrowser(t, e).do("GET", footer[len("http://"+e.h.WebAddr().String()):], nil); code != http.StatusNotFound {
		t.Fatalf("a footer link quoted percent-encoded (Safe Links) still signs in: GET %d", code)
	}
}

// The hourly cap of links per client address counts an IPv6 client by its
// whole address, while the web's own rate limit (and every ISP) treats the
// /64 as one subscriber: one machine with a /64 asks for as many links as
// it likes (mail bombing a victim through the hub, with attend
// confirmations that go to any address).
func TestReview2SigninCapPerClientCountsIPv6By64(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Web.SigninPerAddressHour, c.Web.SigninPerIPHour = 100, 3 })
	var people []string
	for i := 0; i < 6; i++ {
		people = append(people, "m"+string(rune('a'+i))+"@example.org")
	}
	e.createList("4405.discussion", "members", []string{"camille@exemple.fr"}, people...)
	b := newBrowser(t, e)
	tok := b.csrf("/signin")
	for i, p := range people {
		// The test client is 127.0.0.1, a trusted proxy by default: the
		// client is the address the proxy appended.
		req, _ := http.NewRequest("POST", b.base+"/signin", strings.NewReader(url.Values{"csrf": {tok}, "email": {p}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", "2001:db8:1:2::"+string(rune('a'+i)))
		resp, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	e.settle()
	n := 0
	for _, p := range people {
		n += len(to(e.box.Mails(), p))
	}
	if n != 3 {
		t.Fatalf("%d links mailed to a client rotating addresses in one IPv6 /64, cap 3", n)
	}
}

// "Sign out everywhere" ends the sessions, but every footer link of the
// last seven days (one in each list mail) and a sign-in link mailed a
// minute before still open new ones: whoever holds one (a forwarded mail,
// a shared mailbox, a quoted footer the hub did not recognise) is back in
// at once. Signing out everywhere must also end the links made before.
func TestReview2SignOutEverywhereEndsLinksMadeBefore(t *testing.T) {
	e := newEnv(t)
	const marie = "marie@example.org"
	e.createList("4405.discussion", "members", []string{"camille@exemple.fr"}, marie)
	e.mustSend("camille@exemple.fr", "4405.discussion@hub.example", post("camille@exemple.fr", "4405.discussion@hub.example", "Réunion", "Bonjour."))
	footer := linkIn(t, e.waitFor("the post", countTo(marie, 1)), marie, footerLinkRE)

	// Marie signs in by a link she asks for, and asks for a second one.
	b := newBrowser(t, e)
	b.do("POST", "/signin", url.Values{"csrf": {b.csrf("/signin")}, "email": {marie}})
	link := linkIn(t, e.waitFor("link", countTo(marie, 2)), marie, signinLinkRE)
	if code, _, _ := b.do("POST", "/signin/"+link, url.Values{"csrf": {b.csrf("/signin/" + link)}}); code != http.StatusSeeOther {
		t.Fatalf("sign in: %d", code)
	}
	other := newBrowser(t, e)
	other.do("POST", "/signin", url.Values{"csrf": {other.csrf("/signin")}, "email": {marie}})
	pending := linkIn(t, e.waitFor("second link", countTo(marie, 3)), marie, signinLinkRE)

	e.clock.advance(time.Minute)
	if code, _, _ := b.do("POST", "/me/signout-everywhere", url.Values{"csrf": {b.csrf("/me")}}); code != http.StatusSeeOther {
		t.Fatalf("sign out everywhere: %d", code)
	}
	for what, tok := range map[string]string{"footer link": footer, "sign-in link asked for before": pending} {
		x := newBrowser(t, e)
		if code, _, _ := x.do("POST", "/signin/"+tok, url.Values{"csrf": {x.csrf("/signin")}}); code != http.StatusNotFound {
			t.Errorf("a %s made before signing out everywhere opens a session: %d", what, code)
		}
	}
	// A footer made afterwards works.
	e.clock.advance(time.Minute)
	e.mustSend("camille@exemple.fr", "4405.discussion@hub.example", post("camille@exemple.fr", "4405.discussion@hub.example", "Suite", "Encore."))
	after := linkIn(t, e.waitFor("the next post", countTo(marie, 4)), marie, footerLinkRE)
	x := newBrowser(t, e)
	if code, _, _ := x.do("POST", "/signin/"+after, url.Values{"csrf": {x.csrf("/signin")}}); code != http.StatusSeeOther {
		t.Errorf("a footer link made after signing out everywhere: %d", code)
	}
}

// A member erased at her request who later subscribes again by mail (a
// fresh, double opt-in consent) is a member like any other, but the
// sign-in page never mails her a link again, nor the event pages a
// confirmation: the erasure's keyed hash, kept so that an operator's old
// import does not bring her back, locks her out of the web for ever.
func TestReview2ErasedMemberWhoComesBackCanSignIn(t *testing.T) {
	e := newEnv(t)
	const marie = "marie@example.org"
	l := e.createList("4405.discussion", "members", []string{"camille@exemple.fr"}, marie)
	if _, err := privacy.Erase(context.Background(), e.h.DB, marie, e.clock.now()); err != nil {
		t.Fatal(err)
	}
	// She subscribes again by mail, and confirms.
	e.mustSend(marie, "4405.discussion+subscribe@hub.example", post(marie, "4405.discussion+subscribe@hub.example", "subscribe", ""))
	ms := e.waitFor("confirmation request", countTo(marie, 1))
	confirm := addr(t, to(ms, marie)[0].Header().Get("Reply-To"))
	e.mustSend(marie, confirm, post(marie, confirm, "Re: confirm", "oui"))
	e.waitFor("welcome", countTo(marie, 2))
	if m := e.memberOf(l.ID, marie); m.State != "active" {
		t.Fatalf("not subscribed again: %+v", m)
	}
	b := newBrowser(t, e)
	b.do("POST", "/signin", url.Values{"csrf": {b.csrf("/signin")}, "email": {marie}})
	e.settle()
	if n := len(to(e.box.Mails(), marie)); n != 3 {
		t.Fatalf("a member who subscribed again after her erasure gets no sign-in link (%d mails)", n)
	}
}

// Erasure looks for the address as written, and base64- or
// base32-encoded on one line. Mail is not written so: base64 bodies are
// cut every 76 characters (RFC 2045 §6.8), so one time in three the
// address's encoding straddles a line break; quoted-printable cuts long
// lines with soft line breaks ("marie@exam=\r\nple.org"); and an encoded
// word in a header writes "@" and "." as =40 and =2E (RFC 2047 §5). Bob's
// posts that name Marie so stay in the archive, and their bodies in the
// messages, after her erasure.
func TestReview2EraseFindsTheAddressInWrappedEncodings(t *testing.T) {
	e := newEnv(t)
	const marie, bob = "marie@example.org", "bob@example.net"
	e.createList("4405.discussion", "members", []string{"camille@exemple.fr"}, marie, bob)
	// Base64, the address across the end of the first line (bytes 50-67
	// of the text are characters 66-90 of the encoding; lines end at 76).
	text := strings.Repeat("x", 50) + marie + " a dit : rendez-vous place Royale, samedi à 15 heures."
	b64 := base64.StdEncoding.EncodeToString([]byte(text))
	var wrapped strings.Builder
	for i := 0; i < len(b64); i += 76 {
		wrapped.WriteString(b64[i:min(i+76, len(b64))] + "\r\n")
	}
	posts := []string{
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" + wrapped.String(),
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
			"Le 3 mars, " + marie[:10] + "=\r\n" + marie[10:] + " a =C3=A9crit :\r\n",
	}
	for i, body := range posts {
		msg := "From: " + bob + "\r\nTo: 4405.discussion@hub.example\r\nSubject: Re: samedi " + strconv.Itoa(i) + "\r\n" +
			"Date: Sat, 21 Nov 2026 10:00:00 +0100\r\nMessage-ID: <wrapped" + strconv.Itoa(i) + "@example.net>\r\nMIME-Version: 1.0\r\n" + body
		e.mustSend(bob, "4405.discussion@hub.example", msg)
	}
	// And a subject with an encoded word.
	e.mustSend(bob, "4405.discussion@hub.example", "From: "+bob+"\r\nTo: 4405.discussion@hub.example\r\n"+
		"Subject: =?utf-8?q?R=C3=A9ponse_=C3=A0_marie=40example=2Eorg?=\r\nDate: Sat, 21 Nov 2026 10:00:00 +0100\r\n"+
		"Message-ID: <wrapped-subject@example.net>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nOui.\r\n")
	e.waitFor("the posts", countTo(marie, 3))
	e.settle()
	x, err := privacy.Erase(context.Background(), e.h.DB, marie, e.clock.now())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range sqliteFiles("relais.db", "relais.db-wal") {
		b, err := os.ReadFile(filepath.Join(e.dir, f))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if i, ok := unwrappedMention(b, marie); ok {
			t.Errorf("after the erasure (%+v), %s holds the address, wrapped: %q", x, f, b[max(0, i-100):min(len(b), i+100)])
		}
	}
}

// unwrappedMention looks for addr in b as a mail reader would read it:
// line breaks and soft line breaks gone, =XX decoded; it returns where.
func unwrappedMention(b []byte, addr string) (int, bool) {
	var out []byte
	var at []int
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == '\r' || b[i] == '\n':
			continue
		case b[i] == '=' && i+2 < len(b) && isHex(b[i+1]) && isHex(b[i+2]):
			v, _ := strconv.ParseUint(string(b[i+1:i+3]), 16, 8)
			out, at = append(out, byte(v)), append(at, i)
			i += 2
			continue
		case b[i] == '=' && i+1 < len(b) && (b[i+1] == '\r' || b[i+1] == '\n'):
			continue
		}
		out, at = append(out, b[i]), append(at, i)
	}
	if !mention.In(out, addr) {
		return 0, false
	}
	if j := bytes.Index(bytes.ToLower(out), []byte(addr)); j >= 0 {
		return at[j], true
	}
	for _, f := range mention.Forms(addr)[1:] {
		if j := bytes.Index(out, f); j >= 0 {
			return at[j], true
		}
	}
	return 0, true
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// The hub spends a footer link quoted in a post to a list, but a member
// who forwards a list mail to a group's contact address ("can you take me
// off this list?"), to the support desk, or to a list's owners hands the
// same link, unspent, to every animator, operator or owner who reads it
// (and to a ticket kept for a year).
func TestReview2FooterLinkForwardedToPeopleIsSpent(t *testing.T) {
	e := newEnv(t)
	const marie = "marie@example.org"
	e.createList("4405.discussion", "members", []string{"camille@exemple.fr"}, marie, "a@example.org", "b@example.org")
	if _, err := tickets.SaveQueue(context.Background(), e.h.DB, domain, tickets.Queue{Name: "support", DisplayName: "Support",
		Operators: []string{nadia, paul}}, e.clock.now()); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		e.mustSend("camille@exemple.fr", "4405.discussion@hub.example", post("camille@exemple.fr", "4405.discussion@hub.example", "Info "+strconv.Itoa(i), "Bonjour."))
	}
	ms := e.waitFor("the posts", countTo(marie, 3))
	base := "http://" + e.h.WebAddr().String()
	var links []string
	for _, m := range to(ms, marie) {
		links = append(links, footerLinkRE.FindStringSubmatch(m.Body())[1])
	}
	for i, rcpt := range []string{"4405.nantes-sud@hub.example", "support@hub.example", "4405.discussion+owner@hub.example"} {
		fwd := "Bonjour, pouvez-vous me retirer de cette liste ?\n\n---------- Message transféré ----------\n" +
			"Gérer mes abonnements : " + base + "/signin/" + links[i] + "\n"
		e.mustSend(marie, rcpt, post(marie, rcpt, "Fwd: Info", fwd))
	}
	e.settle()
	for i, rcpt := range []string{"a group's contact address", "the support desk", "the list's owners"} {
		if code, _, _ := newBrowser(t, e).do("GET", "/signin/"+links[i], nil); code != http.StatusNotFound {
			t.Errorf("a footer link forwarded to %s still signs in: GET %d", rcpt, code)
		}
	}
}

// Anyone may write to agenda+request@ "code-postal 44000" with someone
// else's address as From, from a domain that publishes no SPF or DMARC
// (so the hub cannot tell): the hub keeps an agenda record for that
// address (with the place) and mails it a link to confirm. Nobody
// confirmed: the record, an address tied to a place by a political
// movement, stayed for ever. An agenda record that is off (never
// confirmed, or stopped) now goes retention.agenda_stopped (30 days)
// after its last change; one that is on stays, and one changed lately
// too.
func TestReview2UnconfirmedAgendaRecordIsNotKeptForEver(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const victim = "victime@sans-spf.example"
	e.mustSend(victim, "agenda+request@hub.example", post(victim, "agenda+request@hub.example", "code-postal 44000", "code-postal 44000"))
	ms := e.waitFor("the confirmation", countTo(victim, 1))
	if body := text(to(ms, victim)[0]); !strings.Contains(body, "effacés") || !strings.Contains(body, "dans 30 jours") {
		t.Errorf("the confirmation does not say the settings go in 30 days:\n%s", body)
	}
	if m, err := digest.Get(ctx, e.h.DB, victim); err != nil || m.Active || m.PostCode != "44000" {
		t.Fatalf("agenda record %+v %v", m, err)
	}
	e.agendaMember("bob@example.org", "code-postal 44000") // on: stays
	e.agendaMember("stop@example.org", "code-postal 44000")
	e.mustSend("stop@example.org", "agenda+request@hub.example", post("stop@example.org", "agenda+request@hub.example", "stop", "stop"))
	e.settle()
	if m, err := digest.Get(ctx, e.h.DB, "stop@example.org"); err != nil || m.Active {
		t.Fatalf("the member who said stop: %+v %v", m, err)
	}
	// 29 days on, everything stays; 31 days on, the records that are off go.
	for _, c := range []struct {
		days int
		gone []string
	}{{29, nil}, {31, []string{victim, "stop@example.org"}}} {
		items, err := privacy.Retain(ctx, e.h.DB, Policy(e.cfg), e.clock.now().AddDate(0, 0, c.days), false)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			if it.Kind == "agenda" && it.Count != int64(len(c.gone)) {
				t.Errorf("day %d: retention counts %d agenda records, want %d", c.days, it.Count, len(c.gone))
			}
		}
		for _, who := range []string{victim, "stop@example.org", "bob@example.org"} {
			_, err := digest.Get(ctx, e.h.DB, who)
			if gone := errors.Is(err, digest.ErrNoMember); gone != contains(c.gone, who) {
				t.Errorf("day %d: %s gone %v (%v)", c.days, who, gone, err)
			}
		}
	}
}

// Legitimate use the spending above must not break: a group's contact
// address subscribed to a list gets the list's mail, which the hub
// forwards to the group's animators; they manage that subscription by the
// footer's link. The hub's own mail coming back is not a member quoting
// their link.
func TestReview2GroupAddressSubscribedKeepsItsFooterLink(t *testing.T) {
	e := newEnv(t)
	const group = "4405.nantes-sud@hub.example"
	e.createList("fr.annonces", "announce", []string{"camille@exemple.fr"}, group)
	e.mustSend("camille@exemple.fr", "fr.annonces@hub.example", post("camille@exemple.fr", "fr.annonces@hub.example", "Annonce", "Bonjour."))
	copyOf := to(e.waitFor("the group's copy", countTo(group, 1)), group)[0]
	footer := linkIn(t, []outbox.Mail{copyOf}, group, footerLinkRE)
	// The copy comes back to the hub (the relay delivers the hub's own
	// domain to it), from its VERP return path.
	if err := e.send(copyOf.From, []string{group}, string(copyOf.Data)); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the forward to the animators", countTo("camille@exemple.fr", 1))
	if code, _, _ := newBrowser(t, e).do("GET", "/signin/"+footer, nil); code != http.StatusOK {
		t.Fatalf("the footer link of a group's address subscribed to a list was spent on its way to the animators: %d", code)
	}
}
