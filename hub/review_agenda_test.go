package hub

import (
	"context"
	"encoding/base32"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"codeberg.org/relais/relais/audit"
	"codeberg.org/relais/relais/events"
)

// Finding (fixed: joining takes an animator of an organising group): the animator of any group takes over another
// group's public event in two messages. Save refuses a change or a
// cancellation from a group that does not organise the event ("its UID is
// public in the feeds"), but lets any group join it with a SEQUENCE not
// above the stored one; once joined, the group organises it and may change
// or cancel it, and the hub tells the event's attendees, under its own
// signature, of the new time and place the attacker chose.
func TestReviewAgendaJoinThenTakeOver(t *testing.T) {
	e := newEnv(t)
	e.addGroup("2A01.ajaccio", "Ajaccio", "mallory@example.net")
	e.dns.Set("example.net", "v=spf1 ip4:127.0.0.1 -all")
	victim := "4405.nantes-sud+agenda@hub.example"
	e.mustSend("camille@exemple.fr", victim, invitation("camille@exemple.fr", victim, "ev1@exemple.fr", 3, "20261212T143000", "REQUEST", ""))
	e.waitFor("answer", countTo("camille@exemple.fr", 1))
	// The attacker's group, with the UID read from the public feed: an
	// old copy joins it, then a newer one cancels it.
	own := "2A01.ajaccio+agenda@hub.example"
	e.mustSend("mallory@example.net", own, invitation("mallory@example.net", own, "ev1@exemple.fr", 0, "20261212T143000", "REQUEST", ""))
	e.mustSend("mallory@example.net", own, invitation("mallory@example.net", own, "ev1@exemple.fr", 4, "20261212T143000", "CANCEL", "STATUS:CANCELLED\r\n"))
	e.settle()
	ev := eventByUID(t, e, "ev1@exemple.fr")
	if ev.Status == events.Cancelled || strings.Contains(strings.Join(ev.Groups, ","), "2A01") {
		t.Fatalf("another group's animator made itself organiser (%v) and cancelled the event: %s", ev.Groups, ev.Status)
	}
}

// A members-only event reached anyone who subscribed to any list of its
// group's code: the digest counted as a group's member whoever was on a
// list of that code, and subscribing takes only the subscriber's own
// confirmation, whatever the list (the group's open announcement list
// was enough). Members-only events now go to the group's animators and
// to the members of its code's lists that someone responsible admitted:
// added by an owner or the platform, imported by an operator, invited by
// an owner, or admitted in the console. One who subscribed themselves
// still gets the group's public events first.
func TestReviewMembersOnlyEventToAnySubscriber(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.createList("4405.annonces", "announce", []string{"camille@exemple.fr"})
	disc := e.createList("4405.discussion", "members", []string{"camille@exemple.fr"}, "ami@example.org")
	rcpt := "4405.nantes-sud+agenda@hub.example"
	for n, ev := range []string{
		"Titre : Reunion interne strategie\nDate : jeudi 3 décembre 2026 à 18h30\nLieu : 12 rue de la Paix, 44000 Nantes\nPublic : non\n",
		"Titre : Fete du quartier\nDate : samedi 5 décembre 2026 à 15h00\nLieu : 12 rue de la Paix, 44000 Nantes\nPublic : oui\n",
	} {
		e.mustSend("camille@exemple.fr", rcpt, post("camille@exemple.fr", rcpt, "Événement", ev))
		e.waitFor("published", countTo("camille@exemple.fr", n+1))
	}
	const spy = "spy@example.org"
	joined := 0
	selfSubscribe := func(list string) {
		t.Helper()
		req := list + "+subscribe@hub.example"
		e.mustSend(spy, req, post(spy, req, "inscription", ""))
		ms := e.waitFor("confirmation", countTo(spy, joined+1))
		confirm := replyAddress(t, to(ms, spy)[joined])
		e.mustSend(spy, confirm, post(spy, confirm, "Re: confirmer", "oui"))
		e.waitFor("welcome", countTo(spy, joined+2))
		joined += 2
	}
	selfSubscribe("4405.annonces")
	selfSubscribe("4405.discussion")
	e.agendaMember(spy, "code-postal 29200") // Brest: nothing near Nantes
	e.agendaMember("ami@example.org", "code-postal 29200")
	sees := func(who string) (secret, public bool) {
		t.Helper()
		_, body, err := e.h.Digest.Preview(ctx, who)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Contains(string(body), "Reunion interne strategie"), strings.Contains(string(body), "Fete du quartier")
	}
	if secret, public := sees(spy); secret || !public {
		t.Fatalf("one who subscribed themselves to the group's lists: members-only event %v (want false), public one %v (want true)", secret, public)
	}
	if secret, _ := sees("ami@example.org"); !secret {
		t.Errorf("a member the operator added does not see the members-only event")
	}
	// The owner admits the spy in the console: now they see it.
	b := e.session("camille@exemple.fr", true, time.Now().Add(time.Hour))
	members := fmt.Sprintf("/console/lists/%d/members", disc.ID)
	if _, page, _ := b.do("GET", members, nil); !strings.Contains(page, "non (inscrit de lui-même)") || !strings.Contains(page, "Admettre "+spy) {
		t.Errorf("the members page does not say who subscribed themselves:\n%s", page)
	}
	form := url.Values{"csrf": {b.csrf("/me")}, "action": {"admit"}, "emails": {spy}}
	if code, _, hdr := b.do("POST", members, form); code != http.StatusSeeOther || !strings.Contains(hdr.Get("Location"), "done=admitted") {
		t.Fatalf("admit in the console: %d %v", code, hdr)
	}
	owner := audit.Actor{Who: "camille@exemple.fr", Via: audit.ViaWeb}
	if secret, _ := sees(spy); !secret {
		t.Errorf("an admitted member does not see the members-only event")
	}
	// Leaving ends it; coming back by oneself does not bring it back.
	if err := e.h.Lists.Remove(ctx, disc.ID, spy, "test", owner); err != nil {
		t.Fatal(err)
	}
	joined++ // the goodbye
	e.waitFor("goodbye", countTo(spy, joined))
	selfSubscribe("4405.discussion")
	if secret, _ := sees(spy); secret {
		t.Errorf("one admitted, who left and subscribed again by themselves, sees the members-only event")
	}
}

// Finding (fixed by the privacy work: a member id under a MAC): the agenda's links (start, stop, "je participe")
// carry the member's address, base32-encoded, in their path: every proxy,
// access log and browser history that sees a link learns who follows the
// movement's agenda (political opinion, GDPR Art. 9). design.md: "no
// address in any link or log line that can avoid it"; the lists' one-click
// links carry a member id and a MAC.
func TestReviewAgendaLinksHoldNoAddress(t *testing.T) {
	e := newEnv(t)
	a := e.agendaMember("bob@nospf.example", "code-postal 44000")
	link := regexp.MustCompile(`/agenda/start/([A-Za-z0-9]+)\.`).FindStringSubmatch(text(a))
	if link == nil {
		t.Fatalf("no start link:\n%s", text(a))
	}
	if raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(link[1])); err == nil && strings.Contains(string(raw), "@") {
		t.Fatalf("the link /agenda/start/%s… reads %q", link[1], raw)
	}
}
