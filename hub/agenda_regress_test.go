package hub

import (
	"context"
	"strings"
	"testing"
	"time"

	"codeberg.org/relais/relais/digest"
	"codeberg.org/relais/relais/events"
)

// BUG 1: agenda+request@ accepts a From nothing proves (only Failed() is
// refused): anyone can sign a third party up for the weekly digest.
func TestRegressForgedAgendaSubscription(t *testing.T) {
	e := newEnv(t)
	// The attacker's own domain passes SPF; From: is the victim's, whose
	// domain has no SPF/DMARC record: not proven, not "failed" either.
	msg := post("victim@nospf.example", "agenda+request@hub.example", "code-postal 44000", "")
	e.mustSend("attacker@example.org", "agenda+request@hub.example", msg)
	e.settle()
	if m, err := digest.Get(context.Background(), e.h.DB, "victim@nospf.example"); err == nil && m.Active && m.Located() {
		t.Fatalf("victim@nospf.example is now an active agenda member without ever writing: %v", m)
	}
}

// BUG 2: an animator of ANY group can cancel (or rewrite) another group's
// event by naming its UID (given in every public feed; predictable for
// form events); the event also gains the intruding group as organiser.
func TestRegressCrossGroupCancel(t *testing.T) {
	e := newEnv(t)
	e.addGroup("4402.nantes-nord", "Nantes Nord", "zoe@example.org")
	rcpt := "4405.nantes-sud+agenda@hub.example"
	e.mustSend("camille@exemple.fr", rcpt, post("camille@exemple.fr", rcpt, "Événement",
		"Titre : Réunion\nDate : jeudi 3 décembre 2026 à 18h30\nLieu : 44000 Nantes\n"))
	e.waitFor("published", countTo("camille@exemple.fr", 1))
	uid := eventUIDFromAnswer(t, e)
	other := "4402.nantes-nord+agenda@hub.example"
	e.mustSend("zoe@example.org", other, post("zoe@example.org", other, "x", "Id : "+uid+"\nStatut : annulé\n"))
	e.waitFor("answer", countTo("zoe@example.org", 1))
	if ev := eventByUID(t, e, uid); ev.Status == events.Cancelled || len(ev.Groups) != 1 {
		t.Fatalf("Nantes Nord's animator cancelled Nantes Sud's event: status %s, groups %v", ev.Status, ev.Groups)
	}
}

// BUG 3: a form from an overseas group is read in Europe/Paris: "14h30"
// in Guadeloupe is stored as 14:30 Paris (09:30 in Guadeloupe).
func TestRegressFormZoneOverseas(t *testing.T) {
	e := newEnv(t)
	e.addGroup("97101.pap", "Pointe-à-Pitre", "camille@exemple.fr")
	rcpt := "97101.pap+agenda@hub.example"
	e.mustSend("camille@exemple.fr", rcpt, post("camille@exemple.fr", rcpt, "Événement",
		"Titre : Réunion\nDate : 12/12/2026 14h30\nLieu : Mairie, 97110 Pointe-à-Pitre\n"))
	e.waitFor("published", countTo("camille@exemple.fr", 1))
	uid := eventUIDFromAnswer(t, e)
	gp, _ := time.LoadLocation("America/Guadeloupe")
	if ev := eventByUID(t, e, uid); !ev.Start.Equal(time.Date(2026, 12, 12, 14, 30, 0, 0, gp)) {
		t.Fatalf("start %v (zone %s), want 14:30 America/Guadeloupe", ev.Start.In(gp), ev.Zone)
	}
}

// BUG 4: an all-day event is shown in the digest on the member's local
// date of its Paris midnight: the day before, for a member west of Paris.
func TestRegressAllDayInMemberZone(t *testing.T) {
	e := newEnv(t)
	paris, _ := time.LoadLocation("Europe/Paris")
	e.clock.advance(time.Date(2026, 12, 7, 15, 0, 0, 0, paris).Sub(e.clock.now())) // Monday, past 8:00 in Guadeloupe
	rcpt := "4405.nantes-sud+agenda@hub.example"
	e.mustSend("camille@exemple.fr", rcpt, post("camille@exemple.fr", rcpt, "Événement",
		"Titre : Fête du quartier\nDate : samedi 12 décembre 2026\nLieu : 44000 Nantes\nThèmes : fete\n"))
	e.waitFor("published", countTo("camille@exemple.fr", 1))
	e.agendaMember("gp@example.org", "code-postal 97110", "themes fete")
	if _, err := e.h.Digest.Run(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	ms := e.waitFor("digest", countTo("gp@example.org", 2))
	body := text(to(ms, "gp@example.org")[1])
	if !strings.Contains(body, "samedi 12 décembre") {
		t.Fatalf("all-day event of Saturday 12 not shown on that day:\n%s", body)
	}
}

// BUG 5 (low): the week is taken in the member's current zone; a member
// whose zone moves west across Monday gets a second digest the same day.
func TestRegressZoneChangeSecondDigest(t *testing.T) {
	e := newEnv(t)
	noumea, _ := time.LoadLocation("Pacific/Noumea")
	e.clock.advance(time.Date(2026, 12, 7, 9, 0, 0, 0, noumea).Sub(e.clock.now())) // Monday 9:00 in Nouméa, Sunday in Tahiti
	rcpt := "4405.nantes-sud+agenda@hub.example"
	e.mustSend("camille@exemple.fr", rcpt, post("camille@exemple.fr", rcpt, "Événement",
		"Titre : Fête\nDate : samedi 12 décembre 2026 18h\nLieu : 44000 Nantes\nThèmes : fete\n"))
	e.waitFor("published", countTo("camille@exemple.fr", 1))
	e.agendaMember("nc@example.org", "code-postal 98800", "themes fete")
	if _, err := e.h.Digest.Run(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	e.waitFor("digest", countTo("nc@example.org", 2))
	e.agendaMember("nc@example.org", "code-postal 98714")
	rep, err := e.h.Digest.Run(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Queued != 0 {
		t.Fatalf("second digest within minutes after a change of place: %+v", rep)
	}
}
