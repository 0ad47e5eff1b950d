package hub

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"codeberg.org/relais/relais/digest"
	"codeberg.org/relais/relais/events"
	"codeberg.org/relais/relais/geo"
	"codeberg.org/relais/relais/lists"
	"codeberg.org/relais/relais/outbox"
	"codeberg.org/relais/relais/queue"
	"codeberg.org/relais/relais/store"
)

// setPlace sends agenda+request@ the commands of a member and waits for
// the answer.
func (e *env) agendaMember(addr string, commands ...string) outbox.Mail {
	e.t.Helper()
	before := len(to(e.box.Mails(), addr))
	e.mustSend(addr, "agenda+request@hub.example", post(addr, "agenda+request@hub.example", commands[0], strings.Join(commands[1:], "\n")))
	return to(e.waitFor("agenda settings for "+addr, countTo(addr, before+1)), addr)[before]
}

func km(t *testing.T, a, b string) int {
	t.Helper()
	g := geo.Default()
	ca, err1 := g.Place(a)
	cb, err2 := g.Place(b)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	return int(geo.Distance(ca.Point, cb.Point) + 0.5)
}

// The weekly digest, end to end: a group publishes an event by mail;
// a member 5 km away gets it as nearby, one 40 km away with a 50 km radius
// too, one further away who follows its theme under themes, one of the
// group's members (a list of its code) among their groups' events; one
// with nothing near gets nothing; a second run the same week sends
// nothing more.
func TestWeeklyDigest(t *testing.T) {
	e := newEnv(t)
	paris, _ := time.LoadLocation("Europe/Paris")
	monday := time.Date(2026, 11, 23, 9, 0, 0, 0, paris) // past the digest hour (8:00)
	e.clock.advance(monday.Sub(e.clock.now()))
	rcpt := "4405.nantes-sud+agenda@hub.example"
	e.mustSend("camille@exemple.fr", rcpt, post("camille@exemple.fr", rcpt, "Événement",
		"Titre : Réunion publique logement\nDate : jeudi 3 décembre 2026 à 18h30\nFin : 21h\n"+
			"Lieu : Salle des fêtes, 12 rue de la Paix, 44000 Nantes\nThèmes : logement\n"))
	e.waitFor("published", countTo("camille@exemple.fr", 1))

	if a := e.agendaMember("near@example.org", "code-postal 44400"); !strings.Contains(text(a), "à\nmoins de 25 km de 44400 Rezé") &&
		!strings.Contains(strings.Join(strings.Fields(text(a)), " "), "à moins de 25 km de 44400 Rezé") {
		t.Fatalf("settings answer:\n%s", text(a))
	}
	e.agendaMember("forty@example.org", "code-postal 44150", "rayon 50")
	e.agendaMember("theme@example.org", "cp 44600", "themes logement, climat")
	e.agendaMember("far@example.org", "code-postal 29200")
	e.agendaMember("member@example.org", "code-postal 75011")
	e.createList("4405.discussion", lists.Members, []string{"camille@exemple.fr"}, "member@example.org")
	if a := e.agendaMember("bad@example.org", "rayon 500", "code-postal 99999"); !strings.Contains(text(a), "un rayon va de 1 à 200 km") ||
		!strings.Contains(text(a), "code postal ou commune inconnu") {
		t.Fatalf("bad settings answer:\n%s", text(a))
	}
	e.settle()
	before := len(e.box.Mails())
	rep, err := e.h.Digest.Run(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Members != 5 || rep.Queued != 4 || rep.Empty != 1 {
		t.Fatalf("run: %+v", rep)
	}
	ms := e.waitFor("digests", func(ms []outbox.Mail) bool { return len(ms) >= before+4 })
	e.settle()
	got := map[string]outbox.Mail{}
	for _, m := range ms[before:] {
		got[m.To] = m
	}
	if len(got) != 4 || got["far@example.org"].To != "" {
		t.Fatalf("digests went to %v", got)
	}
	sections := func(m outbox.Mail) string {
		var s []string
		for _, h := range []string{"DANS VOS GROUPES", "PRÈS DE CHEZ VOUS", "SUR VOS THÈMES, PLUS LOIN"} {
			if strings.Contains(text(m), h) {
				s = append(s, h)
			}
		}
		return strings.Join(s, "|")
	}
	for addr, want := range map[string]string{
		"near@example.org":   "PRÈS DE CHEZ VOUS",
		"forty@example.org":  "PRÈS DE CHEZ VOUS",
		"theme@example.org":  "SUR VOS THÈMES, PLUS LOIN",
		"member@example.org": "DANS VOS GROUPES",
	} {
		m := got[addr]
		body := text(m)
		if s := sections(m); s != want {
			t.Errorf("%s: sections %q, want %q:\n%s", addr, s, want, body)
		}
		if !strings.Contains(body, "jeudi 3 décembre à 18h30") || !strings.Contains(body, "Réunion publique logement") ||
			!strings.Contains(body, "organisé par Nantes Sud") || strings.Count(body, "Réunion publique logement") != 1 {
			t.Errorf("%s: the event is not announced once, in French:\n%s", addr, body)
		}
		h := m.Header()
		if h.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" || !strings.HasPrefix(h.Get("List-Unsubscribe"), "<http://") ||
			!strings.Contains(h.Get("Content-Type"), "multipart/alternative") || h.Get("Auto-Submitted") != "auto-generated" {
			t.Errorf("%s: headers %v", addr, h)
		}
		if !strings.Contains(string(m.Data), "text/html") {
			t.Errorf("%s: no HTML part", addr)
		}
	}
	if d := km(t, "44400", "44000"); !strings.Contains(text(got["near@example.org"]), fmt.Sprintf(", à %d km : Réunion", d)) {
		t.Errorf("near: distance %d km not shown:\n%s", d, text(got["near@example.org"]))
	}
	if d := km(t, "44150", "44000"); d < 30 || d > 45 || !strings.Contains(text(got["forty@example.org"]), fmt.Sprintf("à %d km", d)) {
		t.Errorf("forty: distance %d km not shown:\n%s", d, text(got["forty@example.org"]))
	}
	if s := dec(got["near@example.org"].Header().Get("Subject")); s != "Agenda de la semaine autour de Rezé : 1 événement" {
		t.Errorf("subject %q", s)
	}

	// Twice the same week: nothing more; nor after a restart.
	rep, err = e.h.Digest.Run(context.Background(), false)
	if err != nil || rep.Queued != 0 || rep.Due != 0 {
		t.Fatalf("second run: %+v %v", rep, err)
	}
	e.stop()
	e.start()
	rep, err = e.h.Digest.Run(context.Background(), false)
	if err != nil || rep.Queued != 0 {
		t.Fatalf("run after a restart: %+v %v", rep, err)
	}
	e.settle()
	if n := len(e.box.Mails()); n != before+4 {
		t.Fatalf("%d mails after the second runs, want %d", n, before+4)
	}

	// Next week: the event was cancelled meanwhile; last week's readers
	// are told.
	e.mustSend("camille@exemple.fr", rcpt, post("camille@exemple.fr", rcpt, "Annulation", "Id : "+eventUIDFromAnswer(t, e)+"\nStatut : annulé\n"))
	e.waitFor("cancel answer", countTo("camille@exemple.fr", 2))
	e.settle()
	e.clock.advance(7 * 24 * time.Hour)
	nearBefore := len(to(e.box.Mails(), "near@example.org"))
	rep, err = e.h.Digest.Run(context.Background(), false)
	if err != nil || rep.Queued == 0 {
		t.Fatalf("next week: %+v %v", rep, err)
	}
	ms = e.waitFor("cancellation notices", countTo("near@example.org", nearBefore+1))
	nearNext := to(ms, "near@example.org")
	if last := text(nearNext[len(nearNext)-1]); !strings.Contains(last, "ANNULÉ DEPUIS LA SEMAINE DERNIÈRE") || !strings.Contains(last, "Réunion publique logement") {
		t.Errorf("next week:\n%s", last)
	}

	// The stop link: a GET changes nothing, a POST stops at once.
	// (The link of the latest digest: the hub was restarted on a new port.)
	link := strings.Trim(strings.Split(nearNext[len(nearNext)-1].Header().Get("List-Unsubscribe"), ",")[0], "<> ")
	if resp, err := http.Get(link); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %v", link, err)
	}
	if m, _ := digest.Get(context.Background(), e.h.DB, "near@example.org"); !m.Active {
		t.Fatal("a GET stopped the digest")
	}
	if resp, err := http.Post(link, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click")); err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST %s: %v", link, err)
	}
	if m, _ := digest.Get(context.Background(), e.h.DB, "near@example.org"); m.Active {
		t.Fatal("the one-click POST did not stop the digest")
	}
}

// eventUIDFromAnswer reads the Id line of the first agenda answer.
func eventUIDFromAnswer(t *testing.T, e *env) string {
	t.Helper()
	for _, line := range strings.Split(text(to(e.box.Mails(), "camille@exemple.fr")[0]), "\n") {
		if id, ok := strings.CutPrefix(strings.TrimSpace(line), "Id : "); ok {
			return id
		}
	}
	t.Fatal("no Id in the answer")
	return ""
}

// "Je participe": the link in the digest records the attendance (a GET
// only shows it); the attendee gets changes, and a reminder the day
// before, once.
func TestEventAttendanceAndReminder(t *testing.T) {
	e := newEnv(t)
	paris, _ := time.LoadLocation("Europe/Paris")
	monday := time.Date(2026, 11, 23, 9, 0, 0, 0, paris)
	e.clock.advance(monday.Sub(e.clock.now()))
	rcpt := "4405.nantes-sud+agenda@hub.example"
	e.mustSend("camille@exemple.fr", rcpt, post("camille@exemple.fr", rcpt, "Événement",
		"Titre : Collage d'affiches\nDate : jeudi 26 novembre 2026 à 18h\nDurée : 2h\nLieu : Place Royale, 44000 Nantes\n"))
	e.waitFor("published", countTo("camille@exemple.fr", 1))
	e.agendaMember("near@example.org", "code-postal 44000")
	if _, err := e.h.Digest.Run(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	ms := e.waitFor("digest", countTo("near@example.org", 2))
	var link string
	for _, line := range strings.Split(text(to(ms, "near@example.org")[1]), "\n") {
		if l, ok := strings.CutPrefix(strings.TrimSpace(line), "Je participe : "); ok {
			link = l
		}
	}
	if link == "" {
		t.Fatalf("no attend link:\n%s", text(to(ms, "near@example.org")[1]))
	}
	attendees := func() int {
		var n int
		e.h.DB.QueryRow(context.Background(), "test.attendees").Scan(&n)
		return n
	}
	if resp, err := http.Get(link); err != nil || resp.StatusCode != 200 || attendees() != 0 {
		t.Fatalf("GET: %v, %d attendees", err, attendees())
	}
	if resp, err := http.Post(link, "application/x-www-form-urlencoded", nil); err != nil || resp.StatusCode != 200 || attendees() != 1 {
		t.Fatalf("POST: %v, %d attendees", err, attendees())
	}
	if resp, _ := http.Get(link + "x"); resp.StatusCode != 404 {
		t.Fatalf("forged link: %d", resp.StatusCode)
	}
	// The time changes: the attendee is told.
	uid := eventUIDFromAnswer(t, e)
	e.mustSend("camille@exemple.fr", rcpt, post("camille@exemple.fr", rcpt, "Changement",
		"Id : "+uid+"\nTitre : Collage d'affiches\nDate : jeudi 26 novembre 2026 à 19h\nDurée : 2h\nLieu : Place Royale, 44000 Nantes\n"))
	ms = e.waitFor("change notice", countTo("near@example.org", 3))
	if c := to(ms, "near@example.org")[2]; subject(c) != "Changement : Collage d'affiches" || !strings.Contains(text(c), "jeudi 26 novembre à 19h") {
		t.Fatalf("change notice %q:\n%s", subject(c), text(c))
	}
	// Nothing two days before; the reminder within the last day; once.
	if err := e.h.remind(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.clock.advance(time.Date(2026, 11, 25, 20, 0, 0, 0, paris).Sub(e.clock.now()))
	for i := 0; i < 2; i++ {
		if err := e.h.remind(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	ms = e.waitFor("reminder", countTo("near@example.org", 4))
	e.settle()
	if n := len(to(e.box.Mails(), "near@example.org")); n != 4 {
		t.Fatalf("near got %d mails, want 4", n)
	}
	if r := to(ms, "near@example.org")[3]; subject(r) != "Rappel : Collage d'affiches, jeudi 26 novembre à 19h" {
		t.Fatalf("reminder %q", subject(r))
	}
}

// Joining a list, the confirming reply may give the place for the agenda.
func TestAgendaPlaceOnJoining(t *testing.T) {
	e := newEnv(t)
	e.createList("4405.discussion", lists.Members, []string{"anim@exemple.fr"})
	e.mustSend("new@example.org", "4405.discussion+subscribe@hub.example", post("new@example.org", "4405.discussion+subscribe@hub.example", "inscription", ""))
	c := to(e.waitFor("confirmation", countTo("new@example.org", 1)), "new@example.org")[0]
	if !strings.Contains(text(c), "« code-postal » suivi") {
		t.Fatalf("the confirmation does not say how to give a place:\n%s", text(c))
	}
	confirm := addr(t, c.Header().Get("Reply-To"))
	// The reply quotes the confirmation (its words must not count).
	reply := "D'accord.\ncode-postal 44600\n\n> " + strings.ReplaceAll(text(c), "\n", "\n> ")
	e.mustSend("new@example.org", confirm, post("new@example.org", confirm, "Re: confirm", reply))
	e.waitFor("welcome", countTo("new@example.org", 2))
	m, err := digest.Get(context.Background(), e.h.DB, "new@example.org")
	if err != nil || m.PostCode != "44600" || m.Place != "Saint-Nazaire" || !m.Active || m.Radius != digest.DefaultRadius {
		t.Fatalf("agenda member: %+v %v", m, err)
	}
	// A reply without a place makes no agenda member.
	e.mustSend("other@example.org", "4405.discussion+subscribe@hub.example", post("other@example.org", "4405.discussion+subscribe@hub.example", "inscription", ""))
	c = to(e.waitFor("confirmation", countTo("other@example.org", 1)), "other@example.org")[0]
	confirm = addr(t, c.Header().Get("Reply-To"))
	e.mustSend("other@example.org", confirm, post("other@example.org", confirm, "Re: confirm", "Oui"))
	e.waitFor("welcome", countTo("other@example.org", 2))
	if _, err := digest.Get(context.Background(), e.h.DB, "other@example.org"); err != digest.ErrNoMember {
		t.Fatalf("an agenda member without a place: %v", err)
	}
}

// An address whose From is not proven is not sent digests until it
// confirms by the link of the answer.
func TestAgendaUnprovenAddressConfirms(t *testing.T) {
	e := newEnv(t)
	// nospf.example publishes nothing: not forged, not proven.
	a := e.agendaMember("bob@nospf.example", "code-postal 44000")
	if subject(a) != "Votre agenda de la semaine : à confirmer" {
		t.Fatalf("answer %q:\n%s", subject(a), text(a))
	}
	if m, err := digest.Get(context.Background(), e.h.DB, "bob@nospf.example"); err != nil || m.Active {
		t.Fatalf("unconfirmed member active: %+v %v", m, err)
	}
	// "reprendre" from the same unproven From does not start it either.
	e.agendaMember("bob@nospf.example", "reprendre")
	if m, _ := digest.Get(context.Background(), e.h.DB, "bob@nospf.example"); m.Active {
		t.Fatal("started without confirmation")
	}
	var link string
	for _, line := range strings.Split(text(a), "\n") {
		if strings.Contains(line, "/agenda/start/") {
			link = strings.TrimSpace(line)
		}
	}
	if resp, err := http.Get(link); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %q: %v", link, err)
	}
	if m, _ := digest.Get(context.Background(), e.h.DB, "bob@nospf.example"); m.Active {
		t.Fatal("a GET started it")
	}
	if resp, err := http.Post(link, "", nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST: %v", err)
	}
	if m, _ := digest.Get(context.Background(), e.h.DB, "bob@nospf.example"); !m.Active {
		t.Fatal("not started by the confirmation link")
	}
}

// A digest's copy is made when it is sent, from the events as they are
// then: an event renamed after the digest was queued (its first attempt
// deferred by the relay) shows its new title. The copies are made from
// events kept in memory; a change to them is seen at once.
func TestDigestCopyShowsChangeSinceQueued(t *testing.T) {
	e := newEnv(t)
	paris, _ := time.LoadLocation("Europe/Paris")
	e.clock.advance(time.Date(2026, 11, 23, 9, 0, 0, 0, paris).Sub(e.clock.now()))
	rcpt := "4405.nantes-sud+agenda@hub.example"
	e.mustSend("camille@exemple.fr", rcpt, post("camille@exemple.fr", rcpt, "Événement",
		"Titre : Réunion publique logement\nDate : jeudi 3 décembre 2026 à 18h30\nFin : 21h\n"+
			"Lieu : Salle des fêtes, 12 rue de la Paix, 44000 Nantes\n"))
	e.waitFor("published", countTo("camille@exemple.fr", 1))
	e.agendaMember("near@example.org", "code-postal 44400")
	e.agendaMember("other@example.org", "code-postal 44000")
	e.settle()
	var mu sync.Mutex
	hold := true
	e.box.Rcpt = func(from, to string) error {
		mu.Lock()
		defer mu.Unlock()
		if to == "near@example.org" && hold {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "greylisted"}
		}
		return nil
	}
	if rep, err := e.h.Digest.Run(context.Background(), false); err != nil || rep.Queued != 2 {
		t.Fatalf("run: %+v %v", rep, err)
	}
	// other@ gets it at once (the events are now in memory); near@'s
	// first attempt is deferred.
	first := e.waitFor("other's digest", countTo("other@example.org", 2)) // the settings answer, then the digest
	if body := text(to(first, "other@example.org")[1]); !strings.Contains(body, "Réunion publique logement") {
		t.Fatalf("other's digest:\n%s", body)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		ds, _ := queue.List(context.Background(), e.h.DB, "queued", 10)
		if len(ds) == 1 && ds[0].Attempts == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("near's digest not deferred: %+v", ds)
		}
		time.Sleep(10 * time.Millisecond)
	}
	err := e.h.DB.Write(context.Background(), func(tx *store.Tx) error {
		evs, err := events.Window(context.Background(), e.h.DB, e.clock.now(), e.clock.now().AddDate(0, 0, 30))
		if err != nil || len(evs) != 1 {
			return fmt.Errorf("events %v %v", evs, err)
		}
		ev := evs[0]
		ev.Title, ev.Sequence = "Réunion publique déplacée", ev.Sequence+1
		_, err = events.Save(tx, &ev, ev.GroupIDs[0], e.clock.now())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	hold = false
	mu.Unlock()
	e.clock.advance(2 * time.Minute)
	e.h.Queue.Kick()
	ms := e.waitFor("near's digest", countTo("near@example.org", 2)) // the settings answer, then the digest
	body := text(to(ms, "near@example.org")[1])
	if !strings.Contains(body, "Réunion publique déplacée") || strings.Contains(body, "Réunion publique logement") {
		t.Errorf("near's digest, made after the change:\n%s", body)
	}
}
