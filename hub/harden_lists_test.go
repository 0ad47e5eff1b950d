package hub

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"codeberg.org/relais/relais/audit"
	"codeberg.org/relais/relais/lists"
	"codeberg.org/relais/relais/outbox"
	"codeberg.org/relais/relais/store"
)

// Issue 12: the list command addresses against robots, forged From lines
// and their own help.

// checkAnswer fails the test unless m is an answer of list 4405.discussion
// marked as RFC 3834 §5 asks, with the list's X-Loop.
func checkAnswer(t *testing.T, m outbox.Mail) {
	t.Helper()
	h := m.Header()
	if h.Get("Auto-Submitted") != "auto-replied" || h.Get("X-Loop") != "4405.discussion@hub.example" ||
		addr(t, h.Get("From")) != "liste-4405.discussion+request@hub.example" {
		t.Fatalf("answer to %s: Auto-Submitted %q, X-Loop %q, From %q", m.To, h.Get("Auto-Submitted"), h.Get("X-Loop"), h.Get("From"))
	}
}

// replyAddress is where a robot answers: Reply-To, else From.
func replyAddress(t *testing.T, m outbox.Mail) string {
	if rt := m.Header().Get("Reply-To"); rt != "" {
		return addr(t, rt)
	}
	return addr(t, m.Header().Get("From"))
}

// Two robots that mark nothing (no Auto-Submitted, no Precedence, a plain
// From) answer whatever the hub sends them, for a simulated day:
//   - a vacation program, which replies with In-Reply-To and References
//     naming what it answers: the hub's first answer is its last;
//   - a program that answers with fresh messages (no thread fields, the
//     X-Loop not copied), and on top writes on its own every quarter of an
//     hour: only the hourly cap holds it, at exactly answers_per_hour
//     answers each hour.
//
// Before issue 12 the hub answered both for ever (13,208 messages in five
// minutes): this test then fails at the first quarter of an hour.
func TestHardenListRobotsLoopNoMore(t *testing.T) {
	e := newEnv(t)
	e.createList("4405.discussion", lists.Members, []string{"anim@exemple.fr"}, "vacances@example.org")
	const (
		req      = "4405.discussion+request@hub.example"
		vacation = "vacances@example.org" // a member on holiday
		robot    = "robot@example.net"    // a ticketing system somewhere
	)
	perHour := e.cfg.Lists.AnswersPerHour
	if perHour != 5 {
		t.Fatalf("lists.answers_per_hour defaults to %d, want 5", perHour)
	}
	start := e.clock.now()
	got := map[string]map[int]int{vacation: {}, robot: {}} // robot → hour → answers
	seen := 0
	n := 0
	fresh := func() string {
		n++
		return post(robot, req, "Votre demande", fmt.Sprintf("Merci, votre message a bien été reçu (dossier %d).", n))
	}
	// The member asks for the help before leaving, then the robot starts.
	e.mustSend(vacation, req, post(vacation, req, "aide", ""))
	const step = 15 * time.Minute
	for at := time.Duration(0); at < 24*time.Hour; at += step {
		if at > 0 {
			e.clock.advance(step)
		}
		e.mustSend(robot, req, fresh())
		for round := 0; ; round++ {
			e.settle()
			ms := e.box.Mails()
			news := ms[seen:]
			seen = len(ms)
			if len(news) == 0 {
				break
			}
			if round > 3*perHour {
				t.Fatalf("at %s the hub and the robots are still talking after %d rounds (%d messages so far)", at, round, len(ms))
			}
			for _, m := range news {
				checkAnswer(t, m)
				hour := int(e.clock.now().Sub(start) / time.Hour)
				switch m.To {
				case vacation:
					got[vacation][hour]++
					h := m.Header()
					id := h.Get("Message-Id")
					e.mustSend(vacation, replyAddress(t, m), post(vacation, replyAddress(t, m), "Re: "+dec(h.Get("Subject")),
						"Je suis en congés jusqu'au 3 janvier, sans accès à mes messages.",
						"In-Reply-To: "+id+"\n", "References: "+id+"\n"))
				case robot:
					got[robot][hour]++
					e.mustSend(robot, replyAddress(t, m), fresh())
				default:
					t.Fatalf("the hub wrote to %s: %s", m.To, subject(m))
				}
			}
		}
	}
	total := func(r string) int {
		s := 0
		for _, c := range got[r] {
			s += c
		}
		return s
	}
	// The vacation program got the help and nothing more.
	if total(vacation) != 1 || got[vacation][0] != 1 {
		t.Errorf("the vacation program got %v answers by hour, want one in hour 0", got[vacation])
	}
	// The other robot: answers_per_hour each hour, 24 hours.
	for h := 0; h < 24; h++ {
		if got[robot][h] != perHour {
			t.Errorf("hour %d: the robot got %d answers, want %d", h, got[robot][h], perHour)
		}
	}
	if total(robot) != 24*perHour {
		t.Errorf("the robot got %d answers in a day, want %d", total(robot), 24*perHour)
	}
	if !strings.Contains(e.logs.String(), "reply to an answer of the lists not run as a command") ||
		!strings.Contains(e.logs.String(), "list answers over the hourly cap") {
		t.Errorf("the stops are not logged")
	}
}

// What stops a loop does not stop a person: mail carrying our X-Loop, or a
// reply to one of our answers, runs no command and is not answered; a
// reference that merely looks like one of ours (no valid MAC) does not
// silence anybody. Every kind of command answer is marked.
func TestHardenListLoopMarks(t *testing.T) {
	e := newEnv(t)
	l := e.createList("4405.discussion", lists.Members, []string{"anim@exemple.fr"}, "m@example.org")
	req := "4405.discussion+request@hub.example"
	e.mustSend("m@example.org", "4405.discussion+help@hub.example", post("m@example.org", "4405.discussion+help@hub.example", "aide", ""))
	e.mustSend("new@example.org", "4405.discussion+subscribe@hub.example", post("new@example.org", "4405.discussion+subscribe@hub.example", "inscription", ""))
	e.mustSend("out@example.org", "4405.discussion+unsubscribe@hub.example", post("out@example.org", "4405.discussion+unsubscribe@hub.example", "unsubscribe", ""))
	e.mustSend("m@example.org", req, post("m@example.org", req, "normal", ""))
	e.settle()
	ms := e.box.Mails()
	if len(ms) != 4 || len(to(ms, "m@example.org")) != 2 || len(to(ms, "new@example.org")) != 1 || len(to(ms, "out@example.org")) != 1 {
		t.Fatalf("answers: %d", len(ms))
	}
	for _, m := range ms {
		checkAnswer(t, m)
		if !regexp.MustCompile(`^<[a-z2-7]{16}\.[a-z2-7]{16}@mx\.hub\.example>$`).MatchString(m.Header().Get("Message-Id")) {
			t.Errorf("Message-ID %q", m.Header().Get("Message-Id"))
		}
	}
	ours := to(ms, "m@example.org")[1].Header().Get("Message-Id")

	// Our X-Loop: nothing runs, nothing is answered.
	e.mustSend("m@example.org", req, post("m@example.org", req, "desinscription", "", "X-Loop: 4405.discussion@hub.example\n"))
	// A reply to our answer: the same.
	e.mustSend("m@example.org", req, post("m@example.org", req, "Re: Réponse de la liste 4405.discussion", "desinscription",
		"In-Reply-To: "+ours+"\n", "References: <a@example.org> "+ours+"\n"))
	// The same ID under another host part is still ours.
	other := strings.Replace(ours, "@mx.hub.example>", "@elsewhere.example>", 1)
	e.mustSend("m@example.org", req, post("m@example.org", req, "pause", "", "References: "+other+"\n"))
	e.settle()
	if n := len(e.box.Mails()); n != 4 {
		t.Fatalf("%d messages after the loops, want still 4", n)
	}
	if m := memberOf(t, e, l.ID, "m@example.org"); m.State != "active" || m.Paused {
		t.Fatalf("a command in a loop ran: %+v", m)
	}
	// An ID shaped like ours with a MAC that is not: an ordinary message.
	forged := "<" + strings.Repeat("a", 16) + "." + strings.Repeat("b", 16) + "@mx.hub.example>"
	e.mustSend("m@example.org", req, post("m@example.org", req, "pause", "", "In-Reply-To: "+forged+"\n", "References: "+forged+"\n"))
	ms = e.waitFor("answer to a reply with a made-up ID", countTo("m@example.org", 3))
	if b := text(to(ms, "m@example.org")[2]); !strings.Contains(b, "Pause : vous ne recevez plus rien") {
		t.Fatalf("answer:\n%s", b)
	}
	if m := memberOf(t, e, l.ID, "m@example.org"); !m.Paused {
		t.Fatalf("not paused: %+v", m)
	}
	// Only answers to commands are such: a member who replies to their
	// welcome with a command is heard.
	confirm := addr(t, to(ms, "new@example.org")[0].Header().Get("Reply-To"))
	e.mustSend("new@example.org", confirm, post("new@example.org", confirm, "Re: confirmation", "oui"))
	ms = e.waitFor("welcome", countTo("new@example.org", 2))
	welcome := to(ms, "new@example.org")[1]
	if subject(welcome) != "Bienvenue sur 4405.discussion" {
		t.Fatalf("welcome: %s", subject(welcome))
	}
	e.mustSend("new@example.org", replyAddress(t, welcome), post("new@example.org", replyAddress(t, welcome), "Re: "+subject(welcome), "digest",
		"In-Reply-To: "+welcome.Header().Get("Message-Id")+"\n"))
	ms = e.waitFor("answer to a reply to the welcome", countTo("new@example.org", 3))
	if b := text(to(ms, "new@example.org")[2]); !strings.Contains(b, "Vous recevrez un résumé par jour.") {
		t.Fatalf("answer:\n%s", b)
	}
}

// memberOf returns the member addr of list id.
func memberOf(t *testing.T, e *env, id int64, addr string) lists.Member {
	t.Helper()
	ms, err := lists.MemberList(context.Background(), e.h.DB, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Email == addr {
			return m
		}
	}
	t.Fatalf("%s is not on the list", addr)
	return lists.Member{}
}

// A From nobody proved changes nothing by itself. The attacker sends from
// their own domain (SPF passes for it) with a member's address in From;
// the member's domain has SPF -all and no DMARC, SPF ~all, or no record at
// all. Leaving (+unsubscribe, +desinscription), a pause and a digest mode
// asked that way wait for the member's confirmation at their address,
// which then makes exactly that change; the confirmation works once. A
// proven From still acts at once.
func TestHardenListChangesNeedProvenFrom(t *testing.T) {
	e := newEnv(t)
	e.dns.Set("dash.example", "v=spf1 ip4:192.0.2.1 -all")
	e.dns.Set("tilde.example", "v=spf1 ip4:192.0.2.1 ~all")
	domains := []string{"dash.example", "tilde.example", "nodns.example"} // nodns.example: nothing published
	type command struct {
		name, rcpt, subject string
		// did says whether the member shows the change; left alone, the
		// member shows none.
		did func(lists.Member) bool
		// answer is the start of the confirmation's subject, and what the
		// answer after confirming says.
		ask, done string
	}
	commands := []command{
		{"unsubscribe", "4405.discussion+unsubscribe@hub.example", "unsubscribe",
			func(m lists.Member) bool { return m.State == "unsubscribed" }, "Confirmez votre désinscription de 4405.discussion", "Désinscription de 4405.discussion"},
		{"desinscription", "4405.discussion+desinscription@hub.example", "desinscription",
			func(m lists.Member) bool { return m.State == "unsubscribed" }, "Confirmez votre désinscription de 4405.discussion", "Désinscription de 4405.discussion"},
		{"pause", "4405.discussion+request@hub.example", "pause",
			func(m lists.Member) bool { return m.Paused }, "Réponse de la liste 4405.discussion", "Pause : vous ne recevez plus rien"},
		{"digest", "4405.discussion+request@hub.example", "digest",
			func(m lists.Member) bool { return m.Mode == "daily" }, "Réponse de la liste 4405.discussion", "Vous recevrez un résumé par jour."},
	}
	untouched := func(m lists.Member) bool {
		return m.State == "active" && m.Mode == "each" && !m.Paused && m.LeftHow == ""
	}
	var victims []string
	for _, d := range domains {
		for _, c := range commands {
			victims = append(victims, c.name+"@"+d)
		}
	}
	l := e.createList("4405.discussion", lists.Members, []string{"anim@exemple.fr"}, append(victims, "alice@example.org", "bob@example.org")...)
	for _, d := range domains {
		for _, c := range commands {
			v := c.name + "@" + d
			// What the forger writes besides the command is not echoed
			// to the member under the hub's signature.
			e.mustSend("mallory@example.net", c.rcpt, post(v, c.rcpt, c.subject, "Votre compte sera fermé : https://phish.example/login"))
		}
	}
	// Shown forged (SPF fails for the member's own address): nothing at
	// all, as before.
	e.mustSend("pause@dash.example", "4405.discussion+request@hub.example", post("pause@dash.example", "4405.discussion+request@hub.example", "pause", ""))
	e.settle()
	confirms := map[string]string{}
	for _, d := range domains {
		for _, c := range commands {
			v := c.name + "@" + d
			if m := memberOf(t, e, l.ID, v); !untouched(m) {
				t.Errorf("%s: forged %s took effect: %+v", d, c.name, m)
			}
			got := to(e.box.Mails(), v)
			if len(got) != 1 {
				t.Fatalf("%s got %d messages, want one confirmation", v, len(got))
			}
			m := got[0]
			checkAnswer(t, m)
			confirm := addr(t, m.Header().Get("Reply-To"))
			if !confirmRE.MatchString(confirm) || !strings.HasPrefix(subject(m), c.ask) || !strings.Contains(text(m), confirm) ||
				!strings.Contains(text(m), "rien ne change") {
				t.Fatalf("%s: confirmation:\n%s", v, m.Data)
			}
			if c.rcpt == "4405.discussion+request@hub.example" && !strings.Contains(text(m), "> "+c.subject+"\r\nPas encore fait : à confirmer") {
				t.Fatalf("%s: answer:\n%s", v, text(m))
			}
			if strings.Contains(string(m.Data), "phish") {
				t.Fatalf("%s: the forger's words are echoed:\n%s", v, text(m))
			}
			confirms[v] = confirm
		}
	}
	// The same forged command again within the hour: nothing new is asked.
	e.mustSend("mallory@example.net", "4405.discussion+unsubscribe@hub.example", post("unsubscribe@nodns.example", "4405.discussion+unsubscribe@hub.example", "unsubscribe", ""))
	e.mustSend("mallory@example.net", "4405.discussion+request@hub.example", post("pause@nodns.example", "4405.discussion+request@hub.example", "pause", ""))
	e.settle()
	if n := len(to(e.box.Mails(), "unsubscribe@nodns.example")); n != 1 {
		t.Errorf("a second forged +unsubscribe sent %d messages in all, want the first only", n)
	}
	if ms := to(e.box.Mails(), "pause@nodns.example"); len(ms) != 2 || ms[1].Header().Get("Reply-To") != "" ||
		!strings.Contains(text(ms[1]), "la même demande attend déjà votre confirmation") {
		t.Errorf("a second forged pause: %d messages", len(ms))
	}
	// Each member confirms by replying; their own domain proves nothing
	// (dash.example even fails SPF here): the token does.
	for _, d := range domains {
		for _, c := range commands {
			v := c.name + "@" + d
			before := len(to(e.box.Mails(), v))
			e.mustSend(v, confirms[v], post(v, confirms[v], "Re: confirmation", "oui"))
			ms := e.waitFor("answer to "+v, countTo(v, before+1))
			done := to(ms, v)[before]
			if m := memberOf(t, e, l.ID, v); !c.did(m) {
				t.Fatalf("%s: confirmed %s not done: %+v", v, c.name, m)
			}
			if !strings.Contains(subject(done)+"\n"+text(done), c.done) {
				t.Fatalf("%s: after confirming:\n%s", v, text(done))
			}
		}
	}
	// Exactly the change asked: nothing else moved.
	for _, d := range domains {
		for _, c := range commands {
			m := memberOf(t, e, l.ID, c.name+"@"+d)
			switch c.name {
			case "pause":
				if m.State != "active" || m.Mode != "each" || m.ResumeAt.After(time.Time{}) {
					t.Errorf("pause did more: %+v", m)
				}
			case "digest":
				if m.State != "active" || m.Paused {
					t.Errorf("digest did more: %+v", m)
				}
			default:
				if m.Mode != "each" || m.Paused || !strings.Contains(m.LeftHow, "confirmed") {
					t.Errorf("%s did more, or is not recorded: %+v", c.name, m)
				}
			}
		}
	}
	// A used confirmation does nothing: the members are put back as they
	// were, and the same replies come again.
	err := e.h.DB.Write(context.Background(), func(tx *store.Tx) error {
		for _, v := range victims {
			if _, err := tx.Exec("member.subscribe", l.ID, v, "fr", e.clock.now().Unix(), "test: back", false); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	before := map[string]int{}
	for _, v := range victims {
		before[v] = len(to(e.box.Mails(), v))
		e.mustSend(v, confirms[v], post(v, confirms[v], "Re: confirmation", "oui"))
	}
	e.settle()
	for _, v := range victims {
		if m := memberOf(t, e, l.ID, v); !untouched(m) {
			t.Errorf("%s: a used confirmation changed something: %+v", v, m)
		}
		ms := to(e.box.Mails(), v)
		if last := ms[len(ms)-1]; len(ms) != before[v]+1 || !strings.Contains(text(last), "ce message ne change rien") {
			t.Errorf("%s: %d messages, last:\n%s", v, len(ms)-before[v], text(last))
		}
	}

	// A pause until a date: the confirmation says until when, and
	// confirming sets exactly that end.
	dated := "dated@nodns.example"
	if _, err := lists.Subscribe(context.Background(), e.h.DB, l.ID, "test fixture", []string{dated}, audit.Actor{}, e.clock.now()); err != nil {
		t.Fatal(err)
	}
	e.mustSend("mallory@example.net", "4405.discussion+request@hub.example", post(dated, "4405.discussion+request@hub.example", "Question",
		"mode off "+e.clock.now().In(time.UTC).AddDate(0, 0, 10).Format("02/01/2006")))
	ms := e.waitFor("dated pause confirmation", countTo(dated, 1))
	ask := to(ms, dated)[0]
	if !strings.Contains(text(ask), "> mode off\r\nPas encore fait : à confirmer (voir plus bas) ; pause jusqu'au ") || strings.Contains(text(ask), "Question") {
		t.Fatalf("dated pause:\n%s", text(ask))
	}
	if m := memberOf(t, e, l.ID, dated); !untouched(m) {
		t.Fatalf("dated pause done before confirming: %+v", m)
	}
	confirm := addr(t, ask.Header().Get("Reply-To"))
	e.mustSend(dated, confirm, post(dated, confirm, "Re: confirmation", "ok"))
	ms = e.waitFor("dated pause done", countTo(dated, 2))
	end := e.clock.now().In(time.UTC).AddDate(0, 0, 10)
	want := time.Date(end.Year(), end.Month(), end.Day(), 0, 0, 0, 0, paris)
	if m := memberOf(t, e, l.ID, dated); !m.Paused || !m.ResumeAt.Equal(want) || m.Mode != "each" {
		t.Fatalf("dated pause: %+v, want until %s", m, want)
	}
	if b := text(to(ms, dated)[1]); !strings.Contains(b, "Votre confirmation est bien reçue") || !strings.Contains(b, "Pause jusqu'au ") {
		t.Fatalf("after confirming:\n%s", b)
	}

	// Proven (example.org publishes 127.0.0.1): at once, no confirmation.
	e.mustSend("alice@example.org", "4405.discussion+request@hub.example", post("alice@example.org", "4405.discussion+request@hub.example", "pause", ""))
	e.mustSend("bob@example.org", "4405.discussion+desinscription@hub.example", post("bob@example.org", "4405.discussion+desinscription@hub.example", "desinscription", ""))
	e.settle()
	if m := memberOf(t, e, l.ID, "alice@example.org"); !m.Paused {
		t.Errorf("proven pause not done: %+v", m)
	}
	if m := memberOf(t, e, l.ID, "bob@example.org"); m.State != "unsubscribed" {
		t.Errorf("proven unsubscribe not done: %+v", m)
	}
	a, b := to(e.box.Mails(), "alice@example.org"), to(e.box.Mails(), "bob@example.org")
	if len(a) != 1 || a[0].Header().Get("Reply-To") != "" || !strings.Contains(text(a[0]), "Pause : vous ne recevez plus rien") {
		t.Errorf("proven pause answer: %d", len(a))
	}
	if len(b) != 1 || subject(b[0]) != "Désinscription de 4405.discussion" {
		t.Errorf("proven unsubscribe answer: %d", len(b))
	}
}

// "aide" or "help" to LIST+request: the help follows the line that says
// so, in French and in English; LIST+help has it too.
func TestHardenListHelpInRequest(t *testing.T) {
	e := newEnv(t)
	e.createList("4405.discussion", lists.Members, []string{"anim@exemple.fr"}, "membre@example.org")
	req := "4405.discussion+request@hub.example"
	e.mustSend("membre@example.org", req, post("membre@example.org", req, "aide", ""))
	e.mustSend("someone@example.org", req, post("someone@example.org", req, "help", ""))
	e.mustSend("other@example.org", "4405.discussion+aide@hub.example", post("other@example.org", "4405.discussion+aide@hub.example", "", ""))
	e.settle()
	fr, en, page := to(e.box.Mails(), "membre@example.org"), to(e.box.Mails(), "someone@example.org"), to(e.box.Mails(), "other@example.org")
	if len(fr) != 1 || len(en) != 1 || len(page) != 1 {
		t.Fatalf("answers: fr %d, en %d, +aide %d", len(fr), len(en), len(page))
	}
	in := func(body string, want ...string) {
		t.Helper()
		at := 0
		for _, w := range want {
			i := strings.Index(body[at:], w)
			if i < 0 {
				t.Fatalf("%q missing (or out of order) in:\n%s", w, body)
			}
			at += i + len(w)
		}
	}
	in(text(fr[0]), "> aide\r\nL'aide est ci-dessous.",
		"se désinscrire   4405.discussion+desinscription@hub.example",
		"Commandes comprises", "desinscription           se désinscrire", "pause [jusqu'au 24/12]", "reprendre                recevoir de nouveau")
	in(text(en[0]), "> help\r\nHelp is below.",
		"Commands understood", "unsubscribe              unsubscribe", "pause [until 24/12]", "unpause")
	in(text(page[0]), "La liste « Discussion 4405 »", "Commandes comprises", "inscription              s'inscrire")
	for _, m := range []outbox.Mail{fr[0], en[0], page[0]} {
		checkAnswer(t, m)
	}
	if fr[0].Header().Get("Content-Language") != "fr" || en[0].Header().Get("Content-Language") != "en" {
		t.Errorf("languages: %q %q", fr[0].Header().Get("Content-Language"), en[0].Header().Get("Content-Language"))
	}
}

// "Your post is held" (and the announce list's refusal) go only to a
// proven From: the notice echoes the poster's subject under the hub's
// signature. The moderators still get every held post.
func TestHardenListHeldNoticeOnlyToProvenPoster(t *testing.T) {
	e := newEnv(t)
	e.dns.Set("tilde.example", "v=spf1 ip4:192.0.2.1 ~all")
	e.createList("4405.discussion", lists.Members, []string{"anim@exemple.fr"}, "m@example.org")
	e.createList("4405.annonces", lists.Announce, []string{"anim@exemple.fr"}, "lecteur@nodns.example")
	lure := "Gagnez un iPhone : https://phish.example/x"
	e.mustSend("mallory@example.net", "4405.discussion@hub.example", post("Victime <victime@nodns.example>", "4405.discussion@hub.example", lure, "…"))
	e.mustSend("mallory@example.net", "4405.discussion@hub.example", post("victime@tilde.example", "4405.discussion@hub.example", lure, "…"))
	e.mustSend("lecteur@nodns.example", "4405.annonces@hub.example", post("lecteur@nodns.example", "4405.annonces@hub.example", lure, "…"))
	e.mustSend("zoe@example.org", "4405.discussion@hub.example", post("Zoe <zoe@example.org>", "4405.discussion@hub.example", "Bonjour à tous", "…"))
	e.settle()
	ms := e.box.Mails()
	if n := len(to(ms, "anim@exemple.fr")); n != 3 {
		t.Errorf("moderators got %d notices, want 3 (two forged posts, Zoe's)", n)
	}
	for _, v := range []string{"victime@nodns.example", "victime@tilde.example", "lecteur@nodns.example", "mallory@example.net"} {
		if n := len(to(ms, v)); n != 0 {
			t.Errorf("%s got %d messages", v, n)
		}
	}
	z := to(ms, "zoe@example.org")
	if len(z) != 1 || subject(z[0]) != "Votre message à 4405.discussion attend une modération" || !strings.Contains(text(z[0]), "« Bonjour à tous »") {
		t.Fatalf("proven poster: %d notices", len(z))
	}
	if len(ms) != 4 {
		t.Errorf("%d messages in all, want 4", len(ms))
	}
}
