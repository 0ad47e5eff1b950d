package hub

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"codeberg.org/relais/relais/audit"
	"codeberg.org/relais/relais/lists"
)

// Moderation by reply (issue 16): the held notice's Reply-To is the
// approve address; a proven moderator's reply whose first line is ok,
// oui, approuver or approve sends the post; non, refuser or reject
// followed by text rejects it with that text; anything else gets the
// help and decides nothing. A forged moderator From, or a proven From
// that is not a moderator, decides nothing.
func TestModerationByReply(t *testing.T) {
	e := newEnv(t)
	const anim, zoe, alice = "anim@exemple.fr", "zoe@example.net", "alice@example.org"
	l := e.createList("4405.discussion", lists.Members, []string{anim}, alice)
	ctx := context.Background()
	n := 0
	// hold makes zoe's next post wait and returns the notice's Reply-To.
	hold := func(subject string) (string, int64) {
		t.Helper()
		e.mustSend(zoe, "4405.discussion@hub.example", post(zoe, "4405.discussion@hub.example", subject, "Bonjour."))
		n++
		ms := to(e.waitFor("held notice "+subject, countTo(anim, n)), anim)
		rt := addr(t, ms[n-1].Header().Get("Reply-To"))
		if !strings.HasPrefix(rt, "4405.discussion+approve-") {
			t.Fatalf("Reply-To of the held notice: %q", rt)
		}
		hs, err := lists.HeldPosts(ctx, e.h.DB, l.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		return rt, hs[len(hs)-1].ID
	}
	state := func(id int64) string {
		t.Helper()
		h, err := lists.HeldPost(ctx, e.h.DB, id)
		if err != nil {
			t.Fatal(err)
		}
		return h.State
	}
	reply := func(body string) string {
		return body + "\n\nLe 21 nov. 2026 à 10:00, 4405.discussion a écrit :\n> Un message pour la liste attend votre décision.\n"
	}
	delivered := 0
	for _, word := range []string{"ok", "oui", "Approuver", "approve"} {
		rt, id := hold("Approuvé par " + word)
		e.mustSend(anim, rt, post(anim, rt, "Re: À modérer", reply(word+", merci")))
		delivered++
		ms := e.waitFor("approved by "+word, countTo(alice, delivered))
		if got := to(ms, alice)[delivered-1]; !strings.Contains(subject(got), "Approuvé par "+word) {
			t.Fatalf("%s: alice got %q", word, subject(got))
		}
		if s := state(id); s != "approved" {
			t.Fatalf("%s: state %s", word, s)
		}
	}
	zoeMail := len(to(e.box.Mails(), zoe))
	for _, word := range []string{"non", "Refuser", "reject"} {
		rt, id := hold("Refusé par " + word)
		zoeMail++ // "your post waits"
		e.mustSend(anim, rt, post(anim, rt, "Re: À modérer", reply(word+" : hors sujet pour "+word)))
		zoeMail++
		ms := e.waitFor("rejected by "+word, countTo(zoe, zoeMail))
		r := to(ms, zoe)[zoeMail-1]
		if !strings.Contains(r.Body(), "hors sujet pour "+word) || strings.Contains(r.Body(), "a écrit") {
			t.Fatalf("%s: rejection:\n%s", word, r.Body())
		}
		if s := state(id); s != "rejected" {
			t.Fatalf("%s: state %s", word, s)
		}
	}
	// Anything else: the help, nothing decided.
	rt, id := hold("Ni oui ni non")
	zoeMail++
	e.mustSend(anim, rt, post(anim, rt, "Re: À modérer", reply("Je ne sais pas trop")))
	n++
	ms := e.waitFor("help", countTo(anim, n))
	help := to(ms, anim)[n-1]
	if !strings.Contains(subject(help), "non comprise") || addr(t, help.Header().Get("Reply-To")) != rt {
		t.Fatalf("help: %q Reply-To %q\n%s", subject(help), help.Header().Get("Reply-To"), help.Body())
	}
	if s := state(id); s != "held" {
		t.Fatalf("after an answer not understood: %s", s)
	}
	// A forged moderator From (the envelope's domain does not align with
	// it: not proven), and a proven From that is no moderator: nothing.
	e.mustSend(zoe, rt, post(anim, rt, "Re: À modérer", "ok"))
	e.mustSend(zoe, rt, post(zoe, rt, "Re: À modérer", "ok"))
	e.settle()
	if s := state(id); s != "held" {
		t.Fatalf("a forged moderator decided: %s", s)
	}
	if got := len(to(e.box.Mails(), alice)); got != delivered {
		t.Fatalf("alice got %d posts, want %d", got, delivered)
	}
	// The real moderator still can; the decision is in the audit log,
	// as made by mail.
	e.mustSend(anim, rt, post(anim, rt, "ok", ""))
	e.waitFor("approved at last", countTo(alice, delivered+1))
	es, err := audit.List(ctx, e.h.DB, audit.Query{Actor: anim})
	if err != nil || len(es) != 8 || es[0].Via != audit.ViaMail || es[0].Action != "held.approve" {
		t.Fatalf("audit: %d entries %+v %v", len(es), es, err)
	}
}

// The English words of the notice and the help.
func TestModerationReplyWords(t *testing.T) {
	for _, c := range []struct{ body, subject, verdict, why string }{
		{"ok", "", "approve", ""},
		{"OUI !", "", "approve", ""},
		{"Approve.\n\n> quoted", "", "approve", ""},
		{"", "Re: approuver", "approve", ""},
		{"Non, pas ici.\nMerci.", "", "reject", "pas ici.\nMerci."},
		{"reject: spam", "", "reject", "spam"},
		{"refuser", "", "reject", ""},
		{"Okay then", "", "", ""},
		{"On Sat, Nov 21, 2026 wrote:\n> ok", "Re: À modérer", "", ""},
		{"nonsense", "", "", ""},
	} {
		v, why := lists.ModerationReply(c.body, c.subject)
		if v != c.verdict || why != c.why {
			t.Errorf("%q / %q: %q %q, want %q %q", c.body, c.subject, v, why, c.verdict, c.why)
		}
	}
	_ = fmt.Sprint
}
