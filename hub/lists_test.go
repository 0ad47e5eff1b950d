package hub

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-smtp"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/audit"
	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/lists"
	"codeberg.org/relais/relais/outbox"
)

// createList makes a list with owners and members whose consent is on
// record.
func (e *env) createList(local, policy string, owners []string, members ...string) lists.List {
	e.t.Helper()
	code, name, err := address.GroupLocal(local)
	if err != nil {
		e.t.Fatal(err)
	}
	l := lists.List{Code: code, Name: name, DisplayName: "Discussion " + code.String(), Policy: policy, SubjectPrefix: true, Archive: true}
	for _, o := range owners {
		l.Owners = append(l.Owners, lists.Owner{Email: o})
	}
	l, err = lists.Create(context.Background(), e.h.DB, l, audit.Actor{})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(members) > 0 {
		if _, err := lists.Subscribe(context.Background(), e.h.DB, l.ID, "test fixture", members, audit.Actor{}, e.clock.now()); err != nil {
			e.t.Fatal(err)
		}
	}
	return l
}

// waitFor polls the relay's captures until cond holds for them.
func (e *env) waitFor(what string, cond func([]outbox.Mail) bool) []outbox.Mail {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ms := e.box.Mails()
		if cond(ms) {
			return ms
		}
		if time.Now().After(deadline) {
			var got []string
			for _, m := range ms {
				got = append(got, m.To+": "+subject(m))
			}
			e.t.Fatalf("waiting for %s; captured:\n%s\nlogs:\n%s", what, strings.Join(got, "\n"), e.logs)
		}
		time.Sleep(10 * time.Millisecond) // polling an asynchronous result
	}
}

// to returns the captured mails to rcpt.
func to(ms []outbox.Mail, rcpt string) []outbox.Mail {
	var out []outbox.Mail
	for _, m := range ms {
		if m.To == rcpt {
			out = append(out, m)
		}
	}
	return out
}

func countTo(rcpt string, n int) func([]outbox.Mail) bool {
	return func(ms []outbox.Mail) bool { return len(to(ms, rcpt)) >= n }
}

// settle waits until nothing is pending in the hub: every inbound handled
// and every delivery finished.
func (e *env) settle() {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var pending int
		e.h.DB.QueryRow(context.Background(), "test.pending").Scan(&pending)
		c, _ := queueCounts(e)
		if pending == 0 && c == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("hub not settled: %d inbound pending, %d deliveries queued\nlogs:\n%s", pending, c, e.logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func queueCounts(e *env) (int, error) {
	var n int
	err := e.h.DB.QueryRow(context.Background(), "test.queued").Scan(&n)
	return n, err
}

func post(from, rcpt, subject, body string, extra ...string) string {
	return crlf("From: " + from + "\nTo: " + rcpt + "\nSubject: " + mime.QEncoding.Encode("utf-8", subject) + "\nDate: Sat, 21 Nov 2026 10:00:00 +0100\n" +
		"Message-ID: <" + fmt.Sprint(time.Now().UnixNano()) + "@example.org>\n" + strings.Join(extra, "") +
		"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + body + "\n")
}

func addr(t *testing.T, field string) string {
	t.Helper()
	a, err := mail.ParseAddress(field)
	if err != nil {
		t.Fatalf("address %q: %v", field, err)
	}
	return a.Address
}

var confirmRE = regexp.MustCompile(`^4405\.discussion\+confirm-[a-z2-7]{20}@hub\.example$`)

// Double opt-in: +subscribe answers with a confirmation from a single-use
// +confirm-TOKEN address; replying to it subscribes, with the consent
// recorded; nothing before that.
func TestListSubscribeConfirmByReply(t *testing.T) {
	e := newEnv(t)
	l := e.createList("4405.discussion", lists.Members, []string{"anim@exemple.fr"})
	if err := e.send("alice@example.org", []string{"4405.discussion+subscribe@hub.example"},
		post("Alice <alice@example.org>", "4405.discussion+subscribe@hub.example", "subscribe", "")); err != nil {
		t.Fatal(err)
	}
	ms := e.waitFor("confirmation", countTo("alice@example.org", 1))
	c := to(ms, "alice@example.org")[0]
	h := c.Header()
	confirm := addr(t, h.Get("Reply-To"))
	if !confirmRE.MatchString(confirm) || addr(t, h.Get("From")) != "liste-4405.discussion+request@hub.example" || h.Get("Auto-Submitted") != "auto-replied" ||
		!strings.Contains(dec(h.Get("Subject")), strings.TrimSuffix(strings.TrimPrefix(confirm, "4405.discussion+confirm-"), "@hub.example")) ||
		!strings.Contains(text(c), confirm) || h.Get("Content-Language") != "en" {
		t.Fatalf("confirmation:\n%s", c.Data)
	}
	if ms, _ := lists.MemberList(context.Background(), e.h.DB, l.ID); len(ms) != 0 {
		t.Fatalf("subscribed before confirming: %+v", ms)
	}
	// A vacation reply to the confirmation confirms nothing.
	vac := post("alice@example.org", confirm, "Absent", "Je suis absente.", "Auto-Submitted: auto-replied\n")
	if err := e.send("alice@example.org", []string{confirm}, vac); err != nil {
		t.Fatal(err)
	}
	// A forged token is refused at RCPT.
	err := e.send("mallory@example.org", []string{"4405.discussion+confirm-aaaaaaaaaaaaaaaaaaaa@hub.example"}, post("m@example.org", "x", "x", "x"))
	if code, _, _ := smtpCode(t, err); code != 550 {
		t.Fatalf("forged token: %v", err)
	}
	e.settle()
	if ms, _ := lists.MemberList(context.Background(), e.h.DB, l.ID); len(ms) != 0 {
		t.Fatalf("an auto-reply confirmed: %+v", ms)
	}
	reply := post("Alice <alice@example.org>", confirm, "Re: "+dec(h.Get("Subject")), "oui", "In-Reply-To: "+h.Get("Message-Id")+"\n")
	if err := e.send("alice@example.org", []string{confirm}, reply); err != nil {
		t.Fatal(err)
	}
	ms = e.waitFor("welcome", countTo("alice@example.org", 2))
	if s := subject(to(ms, "alice@example.org")[1]); s != "Welcome to 4405.discussion" {
		t.Fatalf("welcome subject %q", s)
	}
	members, _ := lists.MemberList(context.Background(), e.h.DB, l.ID)
	if len(members) != 1 || members[0].Email != "alice@example.org" || members[0].State != "active" ||
		!strings.Contains(members[0].ConsentHow, "confirmed") || !strings.Contains(members[0].ConsentHow, confirm) ||
		members[0].ConsentAt.IsZero() {
		t.Fatalf("member: %+v", members)
	}
	// The token is single-use: a second reply is answered, not re-subscribed.
	if err := e.send("alice@example.org", []string{confirm}, reply); err != nil {
		t.Fatal(err)
	}
	ms = e.waitFor("expired-token notice", countTo("alice@example.org", 3))
	if s := subject(to(ms, "alice@example.org")[2]); !strings.Contains(s, "Expired link") {
		t.Fatalf("second use: %q", s)
	}
}

// Confirming by writing to the +confirm address, in French, after asking
// through +inscription.
func TestListSubscribeConfirmByAddress(t *testing.T) {
	e := newEnv(t)
	l := e.createList("4405.discussion", lists.Members, []string{"anim@exemple.fr"})
	e.send("bob@example.org", []string{"4405.discussion+inscription@hub.example"},
		post("bob@example.org", "4405.discussion+inscription@hub.example", "inscription", ""))
	ms := e.waitFor("confirmation", countTo("bob@example.org", 1))
	h := to(ms, "bob@example.org")[0].Header()
	if !strings.HasPrefix(dec(h.Get("Subject")), "Confirmez votre inscription à 4405.discussion") {
		t.Fatalf("subject %q", dec(h.Get("Subject")))
	}
	confirm := addr(t, h.Get("Reply-To"))
	e.send("bob@example.org", []string{confirm}, post("bob@example.org", confirm, "ok", ""))
	ms = e.waitFor("bienvenue", countTo("bob@example.org", 2))
	if s := subject(to(ms, "bob@example.org")[1]); s != "Bienvenue sur 4405.discussion" {
		t.Fatalf("welcome %q", s)
	}
	if m, _ := lists.MemberList(context.Background(), e.h.DB, l.ID); len(m) != 1 || m[0].State != "active" || m[0].Lang != "fr" {
		t.Fatalf("members %+v", m)
	}
}

// A post from a member reaches every member as a personal copy whose list
// header fields follow RFC 2369, 2919 and 8058 field by field; the
// one-click link unsubscribes with one POST from a real HTTP client, and a
// GET changes nothing.
func TestListPostHeadersAndOneClick(t *testing.T) {
	e := newEnv(t)
	e.createList("4405.discussion", lists.Members, []string{"anim@exemple.fr"}, "alice@example.org", "bob@example.org")
	msg := post("Alice <alice@example.org>", "4405.discussion@hub.example", "Réunion jeudi", "On se voit jeudi à 19h.",
		"List-Id: <forged.example>\nPrecedence: bulk\n")
	if err := e.send("alice@example.org", []string{"4405.discussion@hub.example"}, msg); err != nil {
		t.Fatal(err)
	}
	ms := e.waitFor("two copies", func(ms []outbox.Mail) bool { return len(ms) >= 2 })
	links := map[string]string{}
	web := "http://" + e.h.WebAddr().String() + "/u/"
	for _, rcpt := range []string{"alice@example.org", "bob@example.org"} {
		got := to(ms, rcpt)
		if len(got) != 1 {
			t.Fatalf("%s got %d copies", rcpt, len(got))
		}
		m := got[0]
		if !verpRE.MatchString(m.From) {
			t.Errorf("envelope sender %q", m.From)
		}
		h := m.Header()
		want := map[string]string{
			"List-Id":               `Discussion 4405 <4405.discussion.hub.example>`,
			"List-Post":             "<mailto:4405.discussion@hub.example>",
			"List-Help":             "<mailto:4405.discussion+help@hub.example?subject=help>",
			"List-Subscribe":        "<mailto:4405.discussion+subscribe@hub.example?subject=subscribe>",
			"List-Owner":            "<mailto:4405.discussion+owner@hub.example>",
			"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
			"Precedence":            "list",
			"X-Loop":                "4405.discussion@hub.example",
			"Reply-To":              "4405.discussion@hub.example",
			"From":                  "Alice <alice@example.org>",
			"Subject":               "[4405.discussion] Réunion jeudi",
		}
		for k, v := range want {
			if got := h.Values(k); len(got) != 1 || dec(got[0]) != v {
				t.Errorf("%s: %s = %q, want %q", rcpt, k, got, v)
			}
		}
		// RFC 2369 §3.2: a list of angle-bracketed URIs, here https-or-http
		// first (RFC 8058 §3.1 needs one) then mailto.
		unsub := h.Get("List-Unsubscribe")
		re := regexp.MustCompile(`^<(` + regexp.QuoteMeta(web) + `[0-9]+-[a-z2-7]{16})>, <mailto:4405\.discussion\+unsubscribe@hub\.example\?subject=unsubscribe>$`)
		mm := re.FindStringSubmatch(unsub)
		if mm == nil {
			t.Fatalf("%s: List-Unsubscribe %q", rcpt, unsub)
		}
		links[rcpt] = mm[1]
		body := text(m)
		// The footer names the member, and holds no link that acts alone.
		if !strings.Contains(body, "On se voit jeudi à 19h.") || !strings.Contains(body, "\r\n-- \r\n") ||
			!strings.Contains(body, "reçue par "+rcpt) || strings.Contains(body, "/u/") {
			t.Errorf("%s: footer:\n%s", rcpt, body)
		}
		if h.Get("Content-Transfer-Encoding") != "8bit" {
			t.Errorf("CTE %q", h.Get("Content-Transfer-Encoding"))
		}
	}
	if links["alice@example.org"] == links["bob@example.org"] {
		t.Fatal("unsubscribe links are not personal")
	}
	// GET: a page with a button, nothing changed.
	resp, err := http.Get(links["bob@example.org"])
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `<form method="post">`) || !strings.Contains(string(page), "bob@example.org") {
		t.Fatalf("GET: %d\n%s", resp.StatusCode, page)
	}
	// A forged token is refused.
	resp, err = http.Post(web+"1-aaaaaaaaaaaaaaaa", "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil || resp.StatusCode != 404 {
		t.Fatalf("forged link: %v %v", resp, err)
	}
	resp.Body.Close()
	// RFC 8058 §3.2: POST with List-Unsubscribe=One-Click, nothing else.
	resp, err = http.PostForm(links["bob@example.org"], url.Values{"List-Unsubscribe": {"One-Click"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
	ms = e.waitFor("goodbye", countTo("bob@example.org", 2))
	if s := subject(to(ms, "bob@example.org")[1]); s != "Désinscription de 4405.discussion" {
		t.Fatalf("goodbye %q", s)
	}
	// The next post reaches Alice only.
	e.send("alice@example.org", []string{"4405.discussion@hub.example"}, post("alice@example.org", "4405.discussion@hub.example", "Suite", "suite"))
	e.waitFor("second post", countTo("alice@example.org", 2))
	e.settle()
	if n := len(to(e.box.Mails(), "bob@example.org")); n != 2 {
		t.Fatalf("bob got %d mails after leaving, want 2 (post, goodbye)", n)
	}
}

// Unsubscribing by mail: to +unsubscribe, to +desinscription, and by a
// command to +request.
func TestListUnsubscribeByMail(t *testing.T) {
	e := newEnv(t)
	l := e.createList("4405.discussion", lists.Members, []string{"anim@exemple.fr"}, "a@example.org", "b@example.org")
	e.send("a@example.org", []string{"4405.discussion+unsubscribe@hub.example"}, post("a@example.org", "x", "unsubscribe", ""))
	e.send("b@example.org", []string{"4405.discussion+request@hub.example"}, post("b@example.org", "x", "Question", "desinscription\n\n-- \nB."))
	ms := e.waitFor("answers", func(ms []outbox.Mail) bool {
		return len(to(ms, "a@example.org")) == 1 && len(to(ms, "b@example.org")) == 1
	})
	if s := subject(to(ms, "a@example.org")[0]); s != "Désinscription de 4405.discussion" {
		t.Fatalf("a: %q", s)
	}
	b := to(ms, "b@example.org")[0]
	if s := subject(b); s != "Réponse de la liste 4405.discussion" || !strings.Contains(text(b), "Vous êtes désinscrit(e).") ||
		strings.Contains(text(b), "Commande inconnue") {
		t.Fatalf("b: %q\n%s", s, text(b))
	}
	members, _ := lists.MemberList(context.Background(), e.h.DB, l.ID)
	for _, m := range members {
		if m.State != "unsubscribed" || m.LeftHow == "" {
			t.Fatalf("still a member: %+v", m)
		}
	}
	// Unknown commands get a reply that says what is understood.
	e.send("c@example.org", []string{"4405.discussion+request@hub.example"}, post("c@example.org", "x", "", "abracadabra"))
	ms = e.waitFor("unknown", countTo("c@example.org", 1))
	if body := text(to(ms, "c@example.org")[0]); !strings.Contains(body, "Commande inconnue") || !strings.Contains(body, "Commandes comprises") {
		t.Fatalf("unknown command answer:\n%s", body)
	}
}

// A non-member's post is held; the moderators get it attached with approve
// and reject addresses; the poster is told. Approving by mail delivers it;
// rejecting tells the poster why; a post nobody decides on expires.
func TestListModeration(t *testing.T) {
	e := newEnv(t)
	l := e.createList("4405.discussion", lists.Members, []string{"anim@exemple.fr"}, "alice@example.org")
	stranger := "zoe@example.net"
	e.send(stranger, []string{"4405.discussion@hub.example"}, post("Zoe <zoe@example.net>", "4405.discussion@hub.example", "Bonjour à tous", "Je voudrais participer."))
	ms := e.waitFor("held notices", func(ms []outbox.Mail) bool {
		return len(to(ms, "anim@exemple.fr")) == 1 && len(to(ms, stranger)) == 1
	})
	if len(to(ms, "alice@example.org")) != 0 {
		t.Fatal("a held post was delivered")
	}
	n := to(ms, "anim@exemple.fr")[0]
	approve := regexp.MustCompile(`4405\.discussion\+approve-[a-z2-7]{20}@hub\.example`).FindString(text(n))
	reject := regexp.MustCompile(`4405\.discussion\+reject-[a-z2-7]{20}@hub\.example`).FindString(text(n))
	if approve == "" || reject == "" || !strings.Contains(subject(n), "Bonjour à tous") ||
		!strings.Contains(string(n.Data), "message/rfc822") || !strings.Contains(string(n.Data), "Je voudrais participer.") ||
		!strings.Contains(text(n), "n'est pas membre") {
		t.Fatalf("moderation notice:\n%s", n.Data)
	}
	if s := subject(to(ms, stranger)[0]); s != "Votre message à 4405.discussion attend une modération" {
		t.Fatalf("poster notice %q", s)
	}
	e.send("anim@exemple.fr", []string{approve}, post("anim@exemple.fr", approve, "ok", ""))
	ms = e.waitFor("approved post", countTo("alice@example.org", 1))
	if got := to(ms, "alice@example.org")[0]; subject(got) != "[4405.discussion] Bonjour à tous" ||
		addr(t, got.Header().Get("From")) != stranger {
		t.Fatalf("approved post:\n%s", got.Data)
	}
	// The reject token of that post is used up too.
	if ok, _ := lists.TokenExists(context.Background(), e.h.DB, l.ID, "reject", strings.TrimSuffix(strings.TrimPrefix(reject, "4405.discussion+reject-"), "@hub.example")); !ok {
		t.Fatal("token vanished rather than being marked used")
	}
	// Second post, rejected with a reason.
	e.send(stranger, []string{"4405.discussion@hub.example"}, post(stranger, "4405.discussion@hub.example", "Pub", "Achetez !"))
	ms = e.waitFor("second notice", countTo("anim@exemple.fr", 2))
	n = to(ms, "anim@exemple.fr")[1]
	reject = regexp.MustCompile(`4405\.discussion\+reject-[a-z2-7]{20}@hub\.example`).FindString(text(n))
	e.send("anim@exemple.fr", []string{reject}, post("anim@exemple.fr", reject, "Re: à modérer", "Pas de publicité ici.\n\n> citation"))
	ms = e.waitFor("rejection", countTo(stranger, 3))
	r := to(ms, stranger)[2]
	if !strings.HasPrefix(subject(r), "Message refusé sur 4405.discussion") || !strings.Contains(text(r), "Pas de publicité ici.") ||
		strings.Contains(text(r), "citation") {
		t.Fatalf("rejection:\n%s", r.Data)
	}
	// Third post: nobody decides; it expires with a note to the poster.
	e.send(stranger, []string{"4405.discussion@hub.example"}, post(stranger, "4405.discussion@hub.example", "Encore", "…"))
	e.waitFor("third notice", countTo("anim@exemple.fr", 3))
	e.settle()
	e.clock.advance(e.cfg.Lists.HoldExpiry.D() + time.Minute)
	if n, err := e.h.Lists.ExpireHeld(context.Background()); err != nil || n != 1 {
		t.Fatalf("expired %d, %v", n, err)
	}
	ms = e.waitFor("expiry note", countTo(stranger, 5))
	if s := subject(to(ms, stranger)[4]); s != "Message non diffusé sur 4405.discussion : Encore" {
		t.Fatalf("expiry %q", s)
	}
	e.settle()
	if n := len(to(e.box.Mails(), "alice@example.org")); n != 1 {
		t.Fatalf("alice got %d posts, want only the approved one", n)
	}
}

// An announce list refuses a member's post (telling them), holds a
// stranger's, and sends its owner's with List-Post: NO.
func TestAnnounceList(t *testing.T) {
	e := newEnv(t)
	e.createList("4405.annonces", lists.Announce, []string{"anim@exemple.fr"}, "alice@example.org", "bob@example.org")
	e.send("alice@example.org", []string{"4405.annonces@hub.example"}, post("alice@example.org", "4405.annonces@hub.example", "Une question", "?"))
	ms := e.waitFor("refusal", countTo("alice@example.org", 1))
	if s := subject(to(ms, "alice@example.org")[0]); s != "4405.annonces est une liste d'annonces" {
		t.Fatalf("refusal %q", s)
	}
	e.send("anim@exemple.fr", []string{"4405.annonces@hub.example"}, post("anim@exemple.fr", "4405.annonces@hub.example", "Porte-à-porte samedi", "RDV 10h."))
	ms = e.waitFor("announce", countTo("bob@example.org", 1))
	h := to(ms, "bob@example.org")[0].Header()
	if h.Get("List-Post") != "NO" || h.Get("Reply-To") != "" || dec(h.Get("Subject")) != "[4405.annonces] Porte-à-porte samedi" {
		t.Fatalf("announce header: %v", h)
	}
	e.settle()
	if n := len(to(e.box.Mails(), "bob@example.org")); n != 1 {
		t.Fatalf("bob got %d, want 1 (the member's post was not delivered)", n)
	}
}

// DMARC: a poster whose domain publishes p=reject gets From rewritten to
// the list with themselves in Cc (replies go to the list); p=none is left
// alone.
func TestListDMARCRewrite(t *testing.T) {
	e := newEnv(t)
	e.createList("4405.discussion", lists.Members, []string{"anim@exemple.fr"}, "strict@strict.example", "relaxed@relaxed.example", "m@example.org")
	e.dns.Set("_dmarc.strict.example", "v=DMARC1; p=reject; rua=mailto:d@strict.example")
	e.dns.Set("_dmarc.relaxed.example", "v=DMARC1; p=none")
	e.send("strict@strict.example", []string{"4405.discussion@hub.example"}, post("Sam Strict <strict@strict.example>", "4405.discussion@hub.example", "A", "a"))
	ms := e.waitFor("strict post", countTo("m@example.org", 1))
	h := to(ms, "m@example.org")[0].Header()
	if h.Get("From") != `"Sam Strict via 4405.discussion" <liste-4405.discussion@hub.example>` || h.Get("Reply-To") != "4405.discussion@hub.example" ||
		h.Get("Cc") != `"Sam Strict" <strict@strict.example>` {
		t.Fatalf("p=reject: From %q Reply-To %q Cc %q", h.Get("From"), h.Get("Reply-To"), h.Get("Cc"))
	}
	e.send("relaxed@relaxed.example", []string{"4405.discussion@hub.example"}, post("Rita <relaxed@relaxed.example>", "4405.discussion@hub.example", "B", "b"))
	ms = e.waitFor("relaxed post", countTo("m@example.org", 2))
	h = to(ms, "m@example.org")[1].Header()
	if h.Get("From") != "Rita <relaxed@relaxed.example>" || h.Get("Cc") != "" {
		t.Fatalf("p=none: From %q Cc %q", h.Get("From"), h.Get("Cc"))
	}
}

// Bounces: a failure report on a copy's VERP address counts (one a day), a
// "delayed" one does not; one short of the threshold the member is warned,
// at it they are sent nothing more.
func TestListBouncesDisableMember(t *testing.T) {
	e := newEnvTB(t, func(c *config.Config) { c.Lists.BounceThreshold = 3 })
	l := e.createList("4405.discussion", lists.Members, []string{"anim@exemple.fr"}, "gone@example.org", "ok@example.org")
	bounce := func(action, status string) {
		t.Helper()
		var copy outbox.Mail
		for _, m := range to(e.box.Mails(), "gone@example.org") {
			if strings.HasPrefix(subject(m), "[4405.discussion]") {
				copy = m
			}
		}
		if err := e.send("", []string{copy.From}, dsn("gone@example.org", action, status, "550 5.1.1 no such user")); err != nil {
			t.Fatal(err)
		}
	}
	sendPost := func(n int) {
		t.Helper()
		e.send("ok@example.org", []string{"4405.discussion@hub.example"}, post("ok@example.org", "4405.discussion@hub.example", fmt.Sprint("post ", n), "x"))
		e.waitFor("post", countTo("ok@example.org", n))
		e.settle()
	}
	state := func() lists.Member {
		ms, _ := lists.MemberList(context.Background(), e.h.DB, l.ID)
		for _, m := range ms {
			if m.Email == "gone@example.org" {
				return m
			}
		}
		t.Fatal("member gone")
		return lists.Member{}
	}
	sendPost(1)
	bounce("delayed", "4.4.7")
	e.settle()
	if m := state(); m.Bounce != 0 {
		t.Fatalf("a delayed DSN counted: %+v", m)
	}
	bounce("failed", "5.1.1")
	e.settle()
	bounce("failed", "5.1.1") // same day: not counted again
	e.settle()
	if m := state(); m.Bounce != 1 || m.State != "active" {
		t.Fatalf("after two bounces the same day: %+v", m)
	}
	e.clock.advance(25 * time.Hour)
	sendPost(2)
	bounce("failed", "5.1.1")
	e.settle()
	if m := state(); m.Bounce != 2 {
		t.Fatalf("day 2: %+v", m)
	}
	warned := false
	for _, m := range to(e.box.Mails(), "gone@example.org") {
		warned = warned || strings.HasPrefix(subject(m), "Des messages de 4405.discussion ne vous parviennent pas")
	}
	if !warned {
		t.Fatal("no warning one bounce before the threshold")
	}
	e.clock.advance(25 * time.Hour)
	sendPost(3)
	bounce("failed", "5.1.1")
	e.settle()
	if m := state(); m.State != "bouncing" {
		t.Fatalf("day 3: %+v", m)
	}
	before := len(to(e.box.Mails(), "gone@example.org"))
	sendPost(4)
	if after := len(to(e.box.Mails(), "gone@example.org")); after != before {
		t.Fatalf("a bouncing member was sent %d more", after-before)
	}
}

// Digest mode: one MIME digest with the posts since the last one, the next
// day, and nothing when there is nothing new; the other members get each
// post.
func TestListDigest(t *testing.T) {
	e := newEnv(t)
	e.createList("4405.discussion", lists.Members, []string{"anim@exemple.fr"}, "d@example.org", "each@example.org")
	e.send("d@example.org", []string{"4405.discussion+request@hub.example"}, post("d@example.org", "x", "resume", ""))
	ms := e.waitFor("answer", countTo("d@example.org", 1))
	if b := text(to(ms, "d@example.org")[0]); !strings.Contains(b, "Vous recevrez un résumé par jour.") {
		t.Fatalf("digest answer:\n%s", b)
	}
	for i, s := range []string{"Premier sujet", "Second sujet"} {
		e.send("each@example.org", []string{"4405.discussion@hub.example"}, post("each@example.org", "4405.discussion@hub.example", s, fmt.Sprint("texte ", i)))
	}
	e.waitFor("posts", countTo("each@example.org", 2))
	e.settle()
	if n, _ := e.h.Lists.RunDigests(context.Background()); n != 0 {
		t.Fatal("digest sent before its day")
	}
	e.clock.advance(25 * time.Hour)
	if n, err := e.h.Lists.RunDigests(context.Background()); n != 1 || err != nil {
		t.Fatalf("digests %d %v", n, err)
	}
	ms = e.waitFor("digest", countTo("d@example.org", 2))
	got := to(ms, "d@example.org")
	if len(got) != 2 {
		t.Fatalf("d got %d", len(got))
	}
	dg := got[1]
	h := dg.Header()
	if !strings.HasPrefix(dec(h.Get("Subject")), "Résumé de 4405.discussion") || h.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
		t.Fatalf("digest header %v", h)
	}
	// The parts: a table of contents (with the footer), then a
	// multipart/digest of the two posts.
	msg, err := mail.ReadMessage(bytes.NewReader(dg.Data))
	if err != nil {
		t.Fatal(err)
	}
	_, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	mr := multipart.NewReader(msg.Body, params["boundary"])
	toc, _ := mr.NextPart()
	tocText, _ := io.ReadAll(toc)
	if !strings.Contains(string(tocText), "1. Premier sujet\r\n     each@example.org, ") || !strings.Contains(string(tocText), "2. Second sujet") ||
		!strings.Contains(string(tocText), "reçue par d@example.org") {
		t.Fatalf("table of contents:\n%s", tocText)
	}
	dig, _ := mr.NextPart()
	_, dp, _ := mime.ParseMediaType(dig.Header.Get("Content-Type"))
	inner := multipart.NewReader(dig, dp["boundary"])
	var subjects []string
	for {
		p, err := inner.NextPart()
		if err != nil {
			break
		}
		m, err := mail.ReadMessage(p)
		if err != nil {
			t.Fatal(err)
		}
		subjects = append(subjects, m.Header.Get("Subject"))
	}
	if strings.Join(subjects, "|") != "[4405.discussion] Premier sujet|[4405.discussion] Second sujet" {
		t.Fatalf("digest holds %q", subjects)
	}
	e.clock.advance(25 * time.Hour)
	if n, _ := e.h.Lists.RunDigests(context.Background()); n != 0 {
		t.Fatal("a digest with nothing new")
	}
}

// Pause with an end date: nothing meanwhile, then mail again by itself.
func TestListPauseAndAutomaticResume(t *testing.T) {
	e := newEnv(t)
	e.createList("4405.discussion", lists.Members, []string{"anim@exemple.fr"}, "p@example.org", "w@example.org")
	until := e.clock.now().In(time.UTC).AddDate(0, 0, 3)
	e.send("p@example.org", []string{"4405.discussion+request@hub.example"},
		post("p@example.org", "x", "mode off", "pause jusqu'au "+until.Format("02/01/2006")))
	ms := e.waitFor("answer", countTo("p@example.org", 1))
	if b := text(to(ms, "p@example.org")[0]); !strings.Contains(b, "Pause jusqu'au") {
		t.Fatalf("pause answer:\n%s", b)
	}
	e.send("w@example.org", []string{"4405.discussion@hub.example"}, post("w@example.org", "4405.discussion@hub.example", "Pendant", "x"))
	e.waitFor("post", countTo("w@example.org", 1))
	e.settle()
	if n := len(to(e.box.Mails(), "p@example.org")); n != 1 {
		t.Fatalf("paused member got %d mails", n)
	}
	e.clock.advance(4 * 24 * time.Hour)
	if err := e.h.Lists.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.send("w@example.org", []string{"4405.discussion@hub.example"}, post("w@example.org", "4405.discussion@hub.example", "Après", "x"))
	ms = e.waitFor("post after the pause", countTo("p@example.org", 2))
	if s := subject(to(ms, "p@example.org")[1]); s != "[4405.discussion] Après" {
		t.Fatalf("after pause %q", s)
	}
}

// CODE.groupes reaches the animators of exactly the groups under CODE;
// only they and operators post; others are held for the operators.
func TestTerritoryList(t *testing.T) {
	e := newEnvTB(t, func(c *config.Config) { c.Operators = []string{"ops@exemple.fr"} })
	e.addGroup("4405.nantes-sud", "Nantes Sud", "a1@exemple.fr", "a2@exemple.fr")
	e.addGroup("4401.nantes-nord", "Nantes Nord", "b1@exemple.fr")
	e.addGroup("44.departement", "Loire-Atlantique", "c1@exemple.fr")
	e.addGroup("4501.orleans", "Orléans", "o1@exemple.fr")
	e.send("b1@exemple.fr", []string{"44.groupes@hub.example"}, post("b1@exemple.fr", "44.groupes@hub.example", "Coordination", "Réunion départementale."))
	e.waitFor("territory post", func(ms []outbox.Mail) bool { return len(ms) >= 4 })
	e.settle()
	var got []string
	for _, m := range e.box.Mails() {
		got = append(got, m.To)
		if subject(m) != "[44.groupes] Coordination" {
			t.Errorf("subject %q", subject(m))
		}
	}
	sort.Strings(got)
	if strings.Join(got, " ") != "a1@exemple.fr a2@exemple.fr b1@exemple.fr c1@exemple.fr" {
		t.Fatalf("44.groupes reached %v", got)
	}
	// 4405.groupes: only that circonscription.
	e.send("ops@exemple.fr", []string{"4405.groupes@hub.example"}, post("ops@exemple.fr", "4405.groupes@hub.example", "Circo", "x"))
	e.waitFor("circo", countTo("a2@exemple.fr", 2))
	e.settle()
	if n := len(to(e.box.Mails(), "b1@exemple.fr")); n != 1 {
		t.Fatalf("4405.groupes reached 4401: %d", n)
	}
	// An outsider is held for the operators.
	e.send("x@example.net", []string{"44.groupes@hub.example"}, post("x@example.net", "44.groupes@hub.example", "Spam", "x"))
	ms := e.waitFor("held for operators", countTo("ops@exemple.fr", 1))
	if !strings.HasPrefix(subject(to(ms, "ops@exemple.fr")[0]), "À modérer sur 44.groupes") {
		t.Fatalf("operator notice %q", subject(to(ms, "ops@exemple.fr")[0]))
	}
	// A territory with no group does not exist.
	err := e.send("x@example.net", []string{"75.groupes@hub.example"}, post("x@example.net", "75.groupes@hub.example", "x", "x"))
	if code, _, _ := smtpCode(t, err); code != 550 {
		t.Fatalf("75.groupes: %v", err)
	}
}

// Bad input is never delivered to the list and never lost: held with the
// reason.
func TestListBadInputHeld(t *testing.T) {
	e := newEnv(t)
	l := e.createList("4405.discussion", lists.Open, []string{"anim@exemple.fr"}, "m@example.org")
	cases := map[string]string{
		"mime":        crlf("From: a@example.org\nSubject: broken\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"X\"\n\n--X\nContent-Type: text/plain\n\nno end\n"),
		"8bit-header": crlf("From: a@example.org\nSubject: Réunion\n\nbody\n"),
		"loop":        crlf("From: a@example.org\nSubject: again\nX-Loop: 4405.discussion@hub.example\n\nbody\n"),
	}
	for name, msg := range cases {
		if err := e.send("a@example.org", []string{"4405.discussion@hub.example"}, msg); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// A message without From is refused while its sender waits (RFC 5322
	// §3.6: From is required).
	err := e.send("a@example.org", []string{"4405.discussion@hub.example"}, crlf("Subject: who?\n\nbody\n"))
	if code, enh, _ := smtpCode(t, err); code != 554 || enh != (smtp.EnhancedCode{5, 6, 0}) {
		t.Fatalf("no From: %v", err)
	}
	e.waitFor("moderator notices", countTo("anim@exemple.fr", len(cases)))
	e.settle()
	if n := len(to(e.box.Mails(), "m@example.org")); n != 0 {
		t.Fatalf("bad input delivered to %d", n)
	}
	rows, err := e.h.DB.Query(context.Background(), "held.list", l.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var reasons []string
	for rows.Next() {
		var id, lid, at, exp int64
		var msgID, poster, reason, state string
		rows.Scan(&id, &lid, &msgID, &poster, &reason, &at, &exp, &state)
		reasons = append(reasons, reason)
	}
	if len(reasons) != 3 || strings.Count(strings.Join(reasons, " "), "bad-input") != 2 || !strings.Contains(strings.Join(reasons, " "), "loop") {
		t.Fatalf("held reasons %v", reasons)
	}
}

func dec(s string) string {
	d, err := new(mime.WordDecoder).DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}

// text returns the first text/plain part of a captured mail, decoded.
func text(m outbox.Mail) string {
	e, err := message.Read(bytes.NewReader(m.Data))
	if err != nil && e == nil {
		return ""
	}
	var find func(e *message.Entity) string
	find = func(e *message.Entity) string {
		if mr := e.MultipartReader(); mr != nil {
			for {
				p, err := mr.NextPart()
				if err != nil {
					return ""
				}
				if t := find(p); t != "" {
					return t
				}
			}
		}
		if t, _, _ := e.Header.ContentType(); t != "" && t != "text/plain" {
			return ""
		}
		b, _ := io.ReadAll(e.Body)
		return string(b)
	}
	return find(e)
}

func subject(m outbox.Mail) string { return dec(m.Header().Get("Subject")) }

// The archive exports as an mbox that an independent reader (Python's
// mailbox module) opens, "From " lines in bodies included.
func TestListExportMbox(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed: the mbox is not checked by an independent reader")
	}
	e := newEnv(t)
	l := e.createList("4405.discussion", lists.Members, []string{"anim@exemple.fr"}, "m@example.org")
	e.send("m@example.org", []string{"4405.discussion@hub.example"}, post("m@example.org", "4405.discussion@hub.example", "Un", "From the start\nligne"))
	e.send("m@example.org", []string{"4405.discussion@hub.example"}, post("m@example.org", "4405.discussion@hub.example", "Deux", "deux"))
	e.waitFor("posts", countTo("m@example.org", 2))
	e.settle()
	path := filepath.Join(t.TempDir(), "archive.mbox")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := lists.Export(context.Background(), e.h.DB, l.ID, f)
	if err != nil || n != 2 {
		t.Fatalf("exported %d, %v", n, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "-c", `
import mailbox, sys
from email.header import decode_header, make_header
for m in mailbox.mbox(sys.argv[1]):
    body = m.get_payload(decode=True).decode()
    print(str(make_header(decode_header(m["subject"]))) + "|" + m["list-id"] + "|" + body.splitlines()[0])
`, path).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	// Readers show a quoted "From " line as written (">From"): what
	// matters is that it did not start a new message.
	want := "[4405.discussion] Un|Discussion 4405 <4405.discussion.hub.example>|>From the start\n" +
		"[4405.discussion] Deux|Discussion 4405 <4405.discussion.hub.example>|deux\n"
	if string(out) != want {
		t.Fatalf("mbox read back as:\n%s", out)
	}
}

// A refusal of the address by the relay at delivery (5.1.x, 5.2.x) counts
// as a bounce; a refusal of the post itself (5.7.x) does not.
func TestListRelayRefusalCounts(t *testing.T) {
	e := newEnv(t)
	l := e.createList("4405.discussion", lists.Members, []string{"anim@exemple.fr"}, "gone@example.org", "spamfilter@example.org", "ok@example.org")
	e.box.Rcpt = func(from, to string) error {
		switch to {
		case "gone@example.org":
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		case "spamfilter@example.org":
			return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "rejected as spam"}
		}
		return nil
	}
	e.send("ok@example.org", []string{"4405.discussion@hub.example"}, post("ok@example.org", "4405.discussion@hub.example", "x", "x"))
	e.waitState(map[string]int{"failed": 2, "sent": 1})
	ms, _ := lists.MemberList(context.Background(), e.h.DB, l.ID)
	score := map[string]float64{}
	for _, m := range ms {
		score[m.Email] = m.Bounce
	}
	if score["gone@example.org"] != 1 || score["spamfilter@example.org"] != 0 || score["ok@example.org"] != 0 {
		t.Fatalf("scores %v", score)
	}
}
