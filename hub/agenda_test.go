package hub

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"codeberg.org/relais/relais/events"
	"codeberg.org/relais/relais/internal/icalcheck"
)

// invitation is a minimal Thunderbird-like REQUEST for uid at start, in
// Europe/Paris.
func invitation(from, rcpt, uid string, seq int, start, method, status string) string {
	cal := "BEGIN:VCALENDAR\r\nPRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN\r\nVERSION:2.0\r\nMETHOD:" + method + "\r\n" +
		"BEGIN:VTIMEZONE\r\nTZID:Europe/Paris\r\nX-LIC-LOCATION:Europe/Paris\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n" +
		"TZNAME:CET\r\nDTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n" +
		"BEGIN:VEVENT\r\nUID:" + uid + "\r\nSEQUENCE:" + string(rune('0'+seq)) + "\r\nSUMMARY:Réunion publique logement\r\n" +
		"DTSTART;TZID=Europe/Paris:" + start + "\r\nDTEND;TZID=Europe/Paris:" + start[:9] + "180000\r\nDTSTAMP:20261121T100000Z\r\n" +
		"LOCATION:Salle des fêtes\\, 12 rue de la Paix\\, 44000 Nantes\r\nCATEGORIES:logement,climat\r\n" + status +
		"END:VEVENT\r\nEND:VCALENDAR\r\n"
	return crlf("From: Camille <"+from+">\nTo: "+rcpt+"\nSubject: Invitation: Réunion publique\nDate: Sat, 21 Nov 2026 10:00:00 +0100\n"+
		"Message-ID: <inv-"+uid+"-"+string(rune('0'+seq))+"@exemple.fr>\nMIME-Version: 1.0\n"+
		"Content-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain; charset=utf-8\n\nVenez !\n--b1\n"+
		"Content-Type: text/calendar; charset=utf-8; method="+method+"\nContent-Transfer-Encoding: 8bit\n\n") + cal + "--b1--\r\n"
}

func eventByUID(t *testing.T, e *env, uid string) events.Event {
	t.Helper()
	var id int64
	if err := e.h.DB.QueryRow(context.Background(), "event.by-uid", uid).Scan(&id, new(int), new(string)); err != nil {
		t.Fatalf("event %s: %v", uid, err)
	}
	ev, err := events.Get(context.Background(), e.h.DB, id)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// An animator publishes by invitation, updates, and cancels; a stranger
// cannot; the same invitation to a second group makes a joint event; the
// text form works too. Each time the writer is told what was understood.
func TestAgendaPublishByMail(t *testing.T) {
	e := newEnv(t)
	e.addGroup("4402.nantes-nord", "Nantes Nord", "camille@exemple.fr")
	paris, _ := time.LoadLocation("Europe/Paris")
	rcpt := "4405.nantes-sud+agenda@hub.example"
	e.mustSend("camille@exemple.fr", rcpt, invitation("camille@exemple.fr", rcpt, "ev1@exemple.fr", 0, "20261212T143000", "REQUEST", ""))
	ms := e.waitFor("answer", countTo("camille@exemple.fr", 1))
	a := to(ms, "camille@exemple.fr")[0]
	if subject(a) != "Agenda de Nantes Sud : 1 événement reçu" || !strings.Contains(text(a), "samedi 12 décembre à 14h30") ||
		!strings.Contains(text(a), "ajouté à l'agenda") || !strings.Contains(text(a), "Salle des fêtes, 12 rue de la Paix, 44000 Nantes") {
		t.Fatalf("answer:\n%s", a.Data)
	}
	ev := eventByUID(t, e, "ev1@exemple.fr")
	if !ev.Start.Equal(time.Date(2026, 12, 12, 14, 30, 0, 0, paris)) || !ev.End.Equal(time.Date(2026, 12, 12, 18, 0, 0, 0, paris)) ||
		ev.PostCode != "44000" || strings.Join(ev.Themes, ",") != "logement,climat" || strings.Join(ev.Groups, ",") != "4405.nantes-sud" ||
		ev.Status != events.Confirmed || !ev.Located || ev.INSEE != "44109" {
		t.Fatalf("stored: %+v", ev)
	}
	// A stranger: refused, told why.
	e.mustSend("zoe@example.org", rcpt, invitation("zoe@example.org", rcpt, "ev2@example.org", 0, "20261213T100000", "REQUEST", ""))
	ms = e.waitFor("refusal", countTo("zoe@example.org", 1))
	if r := to(ms, "zoe@example.org")[0]; !strings.Contains(text(r), "seuls les animateurs") {
		t.Fatalf("refusal:\n%s", r.Data)
	}
	// Update (SEQUENCE 1, new time), then an old copy (SEQUENCE 0) changes nothing.
	e.mustSend("camille@exemple.fr", rcpt, invitation("camille@exemple.fr", rcpt, "ev1@exemple.fr", 1, "20261212T150000", "REQUEST", ""))
	e.waitFor("second answer", countTo("camille@exemple.fr", 2))
	e.mustSend("camille@exemple.fr", rcpt, invitation("camille@exemple.fr", rcpt, "ev1@exemple.fr", 0, "20261212T143000", "REQUEST", ""))
	ms = e.waitFor("third answer", countTo("camille@exemple.fr", 3))
	if !strings.Contains(text(to(ms, "camille@exemple.fr")[1]), "mis à jour") || !strings.Contains(text(to(ms, "camille@exemple.fr")[2]), "rien de changé") {
		t.Fatalf("update answers:\n%s\n%s", text(to(ms, "camille@exemple.fr")[1]), text(to(ms, "camille@exemple.fr")[2]))
	}
	if ev := eventByUID(t, e, "ev1@exemple.fr"); !ev.Start.Equal(time.Date(2026, 12, 12, 15, 0, 0, 0, paris)) || ev.Sequence != 1 {
		t.Fatalf("after update: %+v", ev)
	}
	// The same invitation to the other group: one joint event.
	other := "4402.nantes-nord+agenda@hub.example"
	e.mustSend("camille@exemple.fr", other, invitation("camille@exemple.fr", other, "ev1@exemple.fr", 1, "20261212T150000", "REQUEST", ""))
	e.waitFor("joint answer", countTo("camille@exemple.fr", 4))
	if ev := eventByUID(t, e, "ev1@exemple.fr"); strings.Join(ev.Groups, ",") != "4402.nantes-nord,4405.nantes-sud" {
		t.Fatalf("joint event organised by %v", ev.Groups)
	}
	// Cancel.
	e.mustSend("camille@exemple.fr", rcpt, invitation("camille@exemple.fr", rcpt, "ev1@exemple.fr", 2, "20261212T150000", "CANCEL", "STATUS:CANCELLED\r\n"))
	ms = e.waitFor("cancel answer", countTo("camille@exemple.fr", 5))
	if ev := eventByUID(t, e, "ev1@exemple.fr"); ev.Status != events.Cancelled || !strings.Contains(text(to(ms, "camille@exemple.fr")[4]), "annulé") {
		t.Fatalf("after cancel: %+v", ev)
	}
	// The text form.
	e.mustSend("camille@exemple.fr", rcpt, post("camille@exemple.fr", rcpt, "Événement", "Titre : Pique-nique\nDate : 3/1/2027 12h\nDurée : 3h\nLieu : Parc de Procé, 44000 Nantes\nPublic : non\n\nApportez à manger."))
	ms = e.waitFor("form answer", countTo("camille@exemple.fr", 6))
	ans := text(to(ms, "camille@exemple.fr")[5])
	if !strings.Contains(ans, "Pique-nique") || !strings.Contains(ans, "dimanche 3 janvier à 12h") || !strings.Contains(ans, "Réservé aux membres") {
		t.Fatalf("form answer:\n%s", ans)
	}
}

// The feeds of a group, a territory and a theme, read by an independent
// parser (python3-icalendar): the published event with its time, place
// and themes; a members-only event is in none; unknown names are 404 (a
// theme no public event has is unknown).
func TestAgendaFeeds(t *testing.T) {
	e := newEnv(t)
	rcpt := "4405.nantes-sud+agenda@hub.example"
	e.mustSend("camille@exemple.fr", rcpt, invitation("camille@exemple.fr", rcpt, "ev1@exemple.fr", 0, "20261212T143000", "REQUEST", ""))
	e.mustSend("camille@exemple.fr", rcpt, post("camille@exemple.fr", rcpt, "Événement", "Titre : Réunion interne\nDate : 13/12/2026 18h\nPublic : non\n"))
	e.waitFor("answers", countTo("camille@exemple.fr", 2))
	get := func(path string) (int, []byte) {
		resp, err := http.Get("http://" + e.h.WebAddr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == 200 && resp.Header.Get("Content-Type") != "text/calendar; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", path, resp.Header.Get("Content-Type"))
		}
		return resp.StatusCode, b
	}
	for _, path := range []string{"/agenda/group/4405.nantes-sud.ics", "/agenda/zone/44.ics", "/agenda/zone/fr.ics", "/agenda/theme/climat.ics"} {
		code, b := get(path)
		if code != 200 {
			t.Fatalf("%s: %d %s", path, code, b)
		}
		name, evs := icalcheck.Parse(t, b)
		if len(evs) != 1 || name == "" {
			t.Fatalf("%s: %q %+v\n%s", path, name, evs, b)
		}
		ev := evs[0]
		if ev.UID != "ev1@exemple.fr" || ev.Summary != "Réunion publique logement" || ev.Start != "2026-12-12T13:30:00+00:00" ||
			ev.End != "2026-12-12T17:00:00+00:00" || ev.Location != "Salle des fêtes, 12 rue de la Paix, 44000 Nantes" ||
			ev.Status != "CONFIRMED" || strings.Join(ev.Themes, ",") != "logement,climat" {
			t.Errorf("%s: %+v", path, ev)
		}
	}
	for _, path := range []string{"/agenda/zone/75.ics"} {
		code, b := get(path)
		if _, evs := icalcheck.Parse(t, b); code != 200 || len(evs) != 0 {
			t.Errorf("%s: %d, %d events", path, code, len(evs))
		}
	}
	for _, path := range []string{"/agenda/group/4405.inconnu.ics", "/agenda/zone/4499.ics", "/agenda/x/y.ics", "/agenda/group/4405.inconnu",
		"/agenda/theme/sport.ics"} {
		if code, _ := get(path); code != 404 {
			t.Errorf("%s: %d, want 404", path, code)
		}
	}
}
