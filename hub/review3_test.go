package hub

// Third outside review (issues 16 and 19: the console, moderation by
// reply, the REST API; the list archives on the web and over IMAP). Each
// test is an attack that worked, kept as a regression test once fixed.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap"
	"github.com/emersion/go-imap/client"

	"codeberg.org/relais/relais/access"
	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/archive"
	"codeberg.org/relais/relais/audit"
	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/groups"
	"codeberg.org/relais/relais/lists"
	"codeberg.org/relais/relais/outbox"
	"codeberg.org/relais/relais/store"
)

// A session opened by a footer's link is weak: the link travels in every
// copy of a list's mail, so whoever receives a forwarded copy (or reads a
// reply that quotes it outside the hub) opens it first. The console and
// the member's data refuse such a session; the archives' writes must too:
// making an app password (a credential that outlives the session and
// reads every archive of the member over IMAP), writing to a list as the
// member (a "proven" post in their name) and removing a post as an owner.
// A session opened by a link asked for does all three.
func TestReview3FooterSessionWritesNothing(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.IMAP.Listen = "127.0.0.1:0" })
	const marie, owner = "marie@example.org", "camille@exemple.fr"
	e.createList("4405.discussion", "members", []string{owner}, marie, owner)
	if err := e.send(marie, []string{"4405.discussion@hub.example"}, post(marie, "4405.discussion@hub.example", "Premier", "Bonjour.")); err != nil {
		t.Fatal(err)
	}
	ms := e.waitFor("the post", countTo(owner, 1))
	e.settle()
	m := archivedAtRE.FindStringSubmatch(string(to(ms, owner)[0].Data))
	path := m[1]
	ctx := context.Background()
	later := time.Now().Add(time.Hour)

	weak := e.session(marie, false, later)
	tok := weak.csrf("/me")
	if page := weak.get("/me"); strings.Contains(page, `action="/me/app-passwords"`) {
		t.Error("a footer's session is offered an app password")
	}
	if code, page, _ := weak.do("POST", "/me/app-passwords", url.Values{"csrf": {tok}, "name": {"x"}}); code != 403 || strings.Contains(page, `class="pw"`) {
		t.Errorf("a footer's session made an app password: %d", code)
	}
	if pws, _ := e.h.SignIn.AppPasswords(ctx, marie); len(pws) != 0 {
		t.Errorf("app passwords made by a footer's session: %d", len(pws))
	}
	before := e.count("test.post-count")
	if code, _, _ := weak.do("POST", "/archives/4405.discussion/new", url.Values{"csrf": {tok}, "subject": {"Au nom de Marie"},
		"text": {"Ce n'est pas Marie qui écrit."}}); code != 403 {
		t.Errorf("a footer's session wrote to the list: %d", code)
	}
	if code, _, _ := weak.do("POST", path+"/reply", url.Values{"csrf": {tok}, "subject": {"Re: Premier"}, "text": {"Pas Marie."}}); code != 403 {
		t.Errorf("a footer's session answered on the list: %d", code)
	}
	if n := e.count("test.post-count"); n != before {
		t.Errorf("posts from a footer's session: %d more", n-before)
	}
	weakOwner := e.session(owner, false, later)
	tok = weakOwner.csrf("/me")
	if code, _, _ := weakOwner.do("POST", path+"/remove", url.Values{"csrf": {tok}, "reason": {"x"}}); code != 403 {
		t.Errorf("a footer's session of an owner removed a post: %d", code)
	}
	if e.session(owner, true, later).get(path) == "" {
		t.Error("the post is gone")
	}

	strong := e.session(marie, true, later)
	tok = strong.csrf("/me")
	if code, page, _ := strong.do("POST", "/me/app-passwords", url.Values{"csrf": {tok}, "name": {"x"}}); code != 200 || !strings.Contains(page, `class="pw"`) {
		t.Errorf("a strong session made no app password: %d", code)
	}
	if code, _, h := strong.do("POST", "/archives/4405.discussion/new", url.Values{"csrf": {tok}, "subject": {"De Marie"},
		"text": {"C'est bien moi."}}); code != 303 || !strings.Contains(h.Get("Location"), "done=sent") {
		t.Errorf("a strong session could not write: %d %s", code, h.Get("Location"))
	}
}

// imapFetchAll returns the bodies of every message of the selected folder,
// by UID, as the client can fetch them now.
func imapFetchAll(c *client.Client) (map[uint32]string, error) {
	set := new(imap.SeqSet)
	set.AddRange(1, 0)
	section := &imap.BodySectionName{}
	ch := make(chan *imap.Message, 100)
	done := make(chan error, 1)
	go func() { done <- c.UidFetch(set, []imap.FetchItem{imap.FetchUid, section.FetchItem()}, ch) }()
	out := map[uint32]string{}
	for m := range ch {
		if r := m.GetBody(section); r != nil {
			b, _ := io.ReadAll(r)
			out[m.Uid] = string(b)
		}
	}
	return out, <-done
}

// A member an owner removes from a list (an infiltrator found out, in the
// case this hub is for) keeps no window on it: a session signed in over
// IMAP before the removal must not be told of, nor fetch, what is posted
// after. The folder was checked only at SELECT; NOOP and IDLE then
// announced every new post for as long as the client stayed connected.
func TestReview3IMAPRemovedMemberSeesNoNewPost(t *testing.T) {
	e := newIMAPEnv(t, 1)
	c, err := client.Dial(e.h.IMAPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Logout()
	if err := c.Login(imapMember, e.password); err != nil {
		t.Fatal(err)
	}
	mb, err := c.Select("4405.discussion", true)
	if err != nil || mb.Messages != 1 {
		t.Fatalf("select: %+v %v", mb, err)
	}
	ctx := context.Background()
	if err := e.h.Lists.Remove(ctx, e.list.ID, imapMember, "infiltrée", auditNone); err != nil {
		t.Fatal(err)
	}
	secret := "Rendez-vous secret jeudi"
	if err := e.send("paul@example.org", []string{"4405.discussion@hub.example"}, post("paul@example.org", "4405.discussion@hub.example", secret, secret+".")); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the new post", countTo("paul@example.org", 2))
	e.settle()
	c.Noop() // an error, or a BYE, is the right answer
	if n := c.Mailbox(); n != nil && n.Messages > 1 {
		t.Errorf("a removed member was told of %d messages", n.Messages)
	}
	bodies, _ := imapFetchAll(c)
	for uid, b := range bodies {
		if strings.Contains(b, secret) {
			t.Errorf("a removed member fetched UID %d: %.80q", uid, b)
		}
	}
}

// apiToken makes a token with every scope and returns a client of the API
// (without the OpenAPI check: these requests are attacks).
func (e *env) apiCall(t *testing.T, token, method, path string, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, "http://"+e.h.WebAddr().String()+"/api/v1"+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The API's pages take any offset: one near the largest int overflowed
// offset+limit and sliced out of range (a panic in the handler, the
// connection dropped, a stack trace in the log).
func TestReview3APIOffsetOverflow(t *testing.T) {
	e := newEnv(t)
	tok, _, err := access.CreateToken(context.Background(), e.h.DB, "platform", access.Scopes, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"offset=9223372036854775807", "offset=9223372036854775000&limit=1000"} {
		req, _ := http.NewRequest("GET", "http://"+e.h.WebAddr().String()+"/api/v1/groups?"+q, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("?%s: %v", q, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != 200 && resp.StatusCode != 400 {
			t.Errorf("?%s: %d", q, resp.StatusCode)
		}
	}
}

// A list's or a group's name is written into header fields (List-Id, the
// From of notices) and pages. A name of several lines given to the API
// (the platform passes on what its users typed) was stored: every post to
// the list then failed as it was prepared (go-message refuses a field
// with a line break), and the list was dead. The API must refuse it, as
// the console does (one line).
func TestReview3APINamesOfOneLine(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const marie, paul = "marie@example.org", "paul@example.org"
	e.createList("4405.discussion", "members", []string{"camille@exemple.fr"}, marie, paul)
	tok, _, err := access.CreateToken(ctx, e.h.DB, "platform", access.Scopes, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	evil := `"Nantes\r\nBcc: spy@evil.example"`
	if code, body := e.apiCall(t, tok, "PATCH", "/lists/4405.discussion", `{"name": `+evil+`}`); code != 422 {
		t.Errorf("a list's name of two lines: %d %s", code, body)
	}
	if code, body := e.apiCall(t, tok, "POST", "/lists", `{"address": "4405.jeunes", "policy": "members", "owners": ["camille@exemple.fr"], "name": `+evil+`}`); code != 422 {
		t.Errorf("a new list's name of two lines: %d %s", code, body)
	}
	if code, body := e.apiCall(t, tok, "PATCH", "/groups/4405.nantes-sud", `{"name": `+evil+`}`); code != 422 {
		t.Errorf("a group's name of two lines: %d %s", code, body)
	}
	if code, body := e.apiCall(t, tok, "PUT", "/groups", `{"groups": [{"address": "4405.nantes-sud", "name": "Nantes Sud", "animators": ["camille@exemple.fr"]},
		{"address": "4405.x", "name": `+evil+`, "animators": ["a@example.org"]}]}`); code != 422 || !strings.Contains(body, `"line":2`) {
		t.Errorf("a sync with a name of two lines: %d %s", code, body)
	}
	// The list still works.
	if err := e.send(marie, []string{"4405.discussion@hub.example"}, post(marie, "4405.discussion@hub.example", "Toujours là", "Bonjour.")); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the post", countTo(paul, 1))
}

// A PATCH the API refuses (422) changed nothing, the document says; but
// the owners were written first, in a transaction of their own, and the
// settings refused after: the platform, told "refused", believed nothing
// changed while the list had new owners (who may read its members, its
// archive, decide its held posts). The same for a new list whose texts
// are refused: 422, and the list exists (a retry is 409).
func TestReview3APIRefusedChangeChangesNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	l := e.createList("4405.discussion", "members", []string{"camille@exemple.fr"})
	tok, _, err := access.CreateToken(ctx, e.h.DB, "platform", access.Scopes, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if code, body := e.apiCall(t, tok, "PATCH", "/lists/4405.discussion", `{"owners": ["intrus@example.net"], "policy": "nonsense"}`); code != 422 {
		t.Fatalf("a refused change: %d %s", code, body)
	}
	_, _, err = lists.SettingsOf(ctx, e.h.DB, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := access.Of(ctx, e.h.DB, "intrus@example.net", nil); r.Any() {
		t.Errorf("a refused change made an owner: %+v", r.Lists)
	}
	if code, body := e.apiCall(t, tok, "POST", "/lists", `{"address": "4405.jeunes", "policy": "members", "owners": ["camille@exemple.fr"], "welcome": {"de": "Willkommen"}}`); code != 422 {
		t.Fatalf("a new list with a refused text: %d %s", code, body)
	}
	if code, body := e.apiCall(t, tok, "GET", "/lists/4405.jeunes", ""); code != 404 {
		t.Errorf("the refused list exists: %d %s", code, body)
	}
}

// Public archives never show an address whole: the text of an HTML post
// is masked, but an address in an attribute the sanitiser keeps (a link's
// title, an image's alt, an http link's query) came out whole.
func TestReview3PublicArchiveMasksAttributes(t *testing.T) {
	e := newEnv(t)
	const marie, owner = "marie@example.org", "camille@exemple.fr"
	l := e.createList("4405.discussion", "members", []string{owner}, marie, owner)
	archive.SetVisibility(context.Background(), e.h.DB, l.ID, archive.Public)
	html := crlf("From: " + marie + "\nTo: 4405.discussion@hub.example\nSubject: Contacts\nDate: Sat, 21 Nov 2026 11:00:00 +0100\n" +
		"Message-ID: <attrs@example.org>\nMIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n" +
		`<p><a href="https://petition.example/sign?email=jean.dupont@example.net" title="jean.dupont@example.net">la pétition</a>` +
		`<img src="https://x.example/a.png" alt="photo de lea.martin@example.net"></p>` + "\n")
	if err := e.send(marie, []string{"4405.discussion@hub.example"}, html); err != nil {
		t.Fatal(err)
	}
	ms := e.waitFor("the post", countTo(owner, 1))
	e.settle()
	path := archivedAtRE.FindStringSubmatch(string(to(ms, owner)[0].Data))[1]
	page := newBrowser(t, e).get(path)
	for _, whole := range []string{"jean.dupont@example.net", "jean.dupont%40example.net", "lea.martin@example.net"} {
		if strings.Contains(page, whole) {
			t.Errorf("a public archive's page shows %s whole", whole)
		}
	}
}

// Public archives never show whole addresses: their pages and feed are
// masked, and whole messages (mbox) were kept for readers signed in. But
// anyone may sign in who is known to the hub for anything (an event's
// attendee, a member of any list, whoever subscribes to an open list a
// minute before): the mbox of any public archive gave them every
// poster's address whole. Whole messages are for the list's own people,
// as over IMAP, whose folders are the lists a member is on or runs.
func TestReview3PublicArchiveMboxOnlyForTheList(t *testing.T) {
	e := newEnv(t)
	const marie, owner, stranger = "marie@example.org", "camille@exemple.fr", "zoe@example.net"
	l := e.createList("4405.discussion", "members", []string{owner}, marie, owner)
	e.createList("4405.autre", "members", []string{owner}, stranger)
	archive.SetVisibility(context.Background(), e.h.DB, l.ID, archive.Public)
	if err := e.send(marie, []string{"4405.discussion@hub.example"}, post(marie, "4405.discussion@hub.example", "Bonjour", "Texte.")); err != nil {
		t.Fatal(err)
	}
	ms := e.waitFor("the post", countTo(owner, 1))
	e.settle()
	m := archivedAtRE.FindStringSubmatch(string(to(ms, owner)[0].Data))
	ym := e.clock.now().UTC().Format("2006-01")
	thread := "/archives/4405.discussion/t/" + m[2] + "/mbox"
	z := e.session(stranger, true, time.Now().Add(time.Hour))
	for _, p := range []string{"/archives/4405.discussion/mbox/" + ym, thread} {
		if code, body, _ := z.do("GET", p, nil); code == 200 || strings.Contains(body, marie) {
			t.Errorf("%s to someone not on the list: %d, whole address %v", p, code, strings.Contains(body, marie))
		}
	}
	if page := z.get("/archives/4405.discussion/t/" + m[2]); strings.Contains(page, "/mbox") {
		t.Error("someone not on the list is offered an mbox")
	}
	mb := e.session(marie, true, time.Now().Add(time.Hour))
	if code, body, _ := mb.do("GET", "/archives/4405.discussion/mbox/"+ym, nil); code != 200 || !strings.Contains(body, marie) {
		t.Errorf("the month's mbox to a member: %d", code)
	}
}

// A member who finds an app password they did not make (a lost laptop, a
// client set up by someone else) revokes it on their page: the page says
// a client using it is refused from its next sign-in. But a client that
// idles never signs in again, and was told of every new post for as long
// as it stayed connected. A revoked password now ends its sessions at
// the folder's next change.
func TestReview3IMAPRevokedPasswordSeesNoNewPost(t *testing.T) {
	e := newIMAPEnv(t, 1)
	c, err := client.Dial(e.h.IMAPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Logout()
	if err := c.Login(imapMember, e.password); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("4405.discussion", true); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pws, _ := e.h.SignIn.AppPasswords(ctx, imapMember)
	if err := e.h.SignIn.RevokeAppPassword(ctx, imapMember, pws[0].ID); err != nil {
		t.Fatal(err)
	}
	secret := "Rendez-vous secret vendredi"
	if err := e.send("paul@example.org", []string{"4405.discussion@hub.example"}, post("paul@example.org", "4405.discussion@hub.example", secret, secret+".")); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the new post", countTo("paul@example.org", 2))
	e.settle()
	c.Noop()
	if n := c.Mailbox(); n != nil && n.Messages > 1 {
		t.Errorf("a revoked password's session was told of %d messages", n.Messages)
	}
	bodies, _ := imapFetchAll(c)
	for uid, b := range bodies {
		if strings.Contains(b, secret) {
			t.Errorf("a revoked password's session fetched UID %d", uid)
		}
	}
}

// The console's forms were read with the member pages' bound (16 kB, URL
// encoded), below what the console itself takes: a message to attendees
// may be 20,000 characters, a list's four texts 2,000 each; in French,
// every accented letter takes six bytes once encoded. An animator's
// message of a few thousand words was answered "not understood" (400),
// and the text was lost.
func TestReview3ConsoleLongFormsTaken(t *testing.T) {
	f := newConsoleFixture(t)
	e := f.e
	b := e.session(fxAnimator, true, time.Now().Add(time.Hour))
	tok := b.csrf("/console")
	body := strings.Repeat("Rendez-vous à l'école élémentaire, près de la mairie. ", 300) // 16,500 bytes, 27 kB encoded
	code, page, h := b.do("POST", fmt.Sprintf("/console/events/%d/message", f.event), url.Values{"csrf": {tok}, "subject": {"Précisions"}, "body": {body}})
	if code != 303 || !strings.Contains(h.Get("Location"), "done=sent") {
		t.Errorf("a long message to attendees: %d %s\n%.300s", code, h.Get("Location"), page)
	}
	o := e.session(fxOwner, true, time.Now().Add(time.Hour))
	tok = o.csrf("/console")
	text := strings.Repeat("é", 1990)
	code, _, h = o.do("POST", fmt.Sprintf("/console/lists/%d/settings", f.listA.ID), url.Values{"csrf": {tok}, "policy": {"members"},
		"reply_to": {"list"}, "auth": {"strict"}, "lang": {"fr"}, "welcome_fr": {text}, "welcome_en": {text}, "footer_fr": {text}, "footer_en": {text}})
	if code != 303 || !strings.Contains(h.Get("Location"), "done=saved") {
		t.Errorf("a list's four texts of 1,990 characters: %d", code)
	}
}

// Every change an owner makes is in the audit log (who, when, what, from
// where), which operators read and export: a post's removal from an
// archive was kept aside (archive_removals), out of the log.
func TestReview3ArchiveRemovalAudited(t *testing.T) {
	e := newEnv(t)
	const marie, owner = "marie@example.org", "camille@exemple.fr"
	e.createList("4405.discussion", "members", []string{owner}, marie, owner)
	if err := e.send(marie, []string{"4405.discussion@hub.example"}, post(marie, "4405.discussion@hub.example", "À retirer", "Texte.")); err != nil {
		t.Fatal(err)
	}
	ms := e.waitFor("the post", countTo(owner, 1))
	e.settle()
	path := archivedAtRE.FindStringSubmatch(string(to(ms, owner)[0].Data))[1]
	o := e.session(owner, true, time.Now().Add(time.Hour))
	tok := o.csrf(path)
	if code, _, _ := o.do("POST", path+"/remove", url.Values{"csrf": {tok}, "reason": {"à la demande de l'autrice"}}); code != 303 {
		t.Fatalf("removal: %d", code)
	}
	es, err := audit.List(context.Background(), e.h.DB, audit.Query{Actor: owner})
	if err != nil || len(es) != 1 || es[0].Action != "archive.remove" || es[0].Target != "4405.discussion" ||
		!strings.Contains(es[0].Detail, "autrice") || es[0].From == "" || es[0].Via != audit.ViaWeb {
		t.Errorf("audit of a removal: %+v %v", es, err)
	}
}

// Attacks on moderation by reply that held (kept as regression tests): a
// proven moderator of another list answering "ok" to this list's approve
// address, even sent to their own list's address with this list's token;
// a moderator's "ok" replayed after a decision on the web; an "ok" after
// the post expired; an "ok" quoted below an attribution line. None sends
// the post.
func TestReview3ModerationByReplyHolds(t *testing.T) {
	e := newEnv(t)
	const anim, other, zoe, alice = "anim@exemple.fr", "otheranim@exemple.fr", "zoe@example.net", "alice@example.org"
	l := e.createList("4405.discussion", lists.Members, []string{anim}, alice)
	e.createList("4405.autre", lists.Members, []string{other}, alice)
	ctx := context.Background()
	hold := func(subj string) (string, int64) {
		t.Helper()
		e.mustSend(zoe, "4405.discussion@hub.example", post(zoe, "4405.discussion@hub.example", subj, "Bonjour."))
		var rt string
		e.waitFor("held notice "+subj, func(ms []outbox.Mail) bool {
			for _, m := range to(ms, anim) {
				if strings.HasPrefix(subject(m), "À modérer") && strings.HasSuffix(subject(m), " "+subj) {
					rt = addr(t, m.Header().Get("Reply-To"))
					return true
				}
			}
			return false
		})
		hs, _ := lists.HeldPosts(ctx, e.h.DB, l.ID, "held")
		return rt, hs[len(hs)-1].ID
	}
	state := func(id int64) string {
		h, _ := lists.HeldPost(ctx, e.h.DB, id)
		return h.State
	}
	rt, id := hold("Un")
	e.mustSend(other, rt, post(other, rt, "Re: À modérer", "ok"))
	token := strings.TrimPrefix(strings.TrimSuffix(rt, "@hub.example"), "4405.discussion+")
	e.send(other, []string{"4405.autre+" + token + "@hub.example"}, post(other, "4405.autre+"+token+"@hub.example", "Re", "ok"))
	e.mustSend(anim, rt, post(anim, rt, "Re: À modérer", "\nLe 21 nov. 2026, 4405.discussion a écrit :\n> ok\n"))
	e.settle()
	if s := state(id); s != "held" {
		t.Fatalf("decided by another list's moderator or a quote: %s", s)
	}
	// Decided on the web (rejected), then "ok" by mail: still rejected.
	if err := e.h.Lists.Moderate(ctx, id, lists.Decision{Approve: false, Why: "non"}, auditNone); err != nil {
		t.Fatal(err)
	}
	e.mustSend(anim, rt, post(anim, rt, "Re: À modérer", "ok"))
	e.settle()
	if s := state(id); s != "rejected" {
		t.Fatalf("an ok after a rejection: %s", s)
	}
	// Expired, then "ok".
	rt2, id2 := hold("Deux")
	e.clock.advance(e.cfg.Lists.HoldExpiry.D() + time.Hour)
	e.mustSend(anim, rt2, post(anim, rt2, "Re: À modérer", "ok"))
	e.settle()
	if s := state(id2); s == "approved" {
		t.Fatalf("an ok after expiry: %s", s)
	}
	for _, m := range to(e.box.Mails(), alice) {
		if s := subject(m); strings.Contains(s, "Un") || strings.Contains(s, "Deux") {
			t.Errorf("alice got %q", s)
		}
	}
}

// A footer's link opens a session to the member's subscriptions; anyone
// who receives a forwarded copy of list mail may be the first to follow
// it. Since the archives, that session also read every members-only (and,
// for an owner, owners-only) archive of the member's lists, years of
// them, for the session's week: far more than the member's own data,
// which a footer's session may not download. Non-public archives now need
// a session opened by a link asked for; public ones read as for anyone.
func TestReview3FooterSessionReadsOnlyPublicArchives(t *testing.T) {
	e := newEnv(t)
	const marie, owner = "marie@example.org", "camille@exemple.fr"
	e.createList("4405.discussion", "members", []string{owner}, marie, owner)
	pub := e.createList("4405.annonces", "members", []string{owner}, marie, owner)
	archive.SetVisibility(context.Background(), e.h.DB, pub.ID, archive.Public)
	for _, l := range []string{"4405.discussion", "4405.annonces"} {
		if err := e.send(marie, []string{l + "@hub.example"}, post(marie, l+"@hub.example", "Stratégie", "Plan de la semaine.")); err != nil {
			t.Fatal(err)
		}
	}
	ms := e.waitFor("the posts", countTo(owner, 2))
	e.settle()
	var private string
	for _, m := range to(ms, owner) {
		if p := archivedAtRE.FindStringSubmatch(string(m.Data)); p != nil {
			private = p[1]
		}
	}
	if private == "" {
		t.Fatal("no permalink")
	}
	ym := e.clock.now().UTC().Format("2006-01")
	weak := e.session(marie, false, time.Now().Add(time.Hour))
	for _, p := range []string{"/archives/4405.discussion", private, "/archives/4405.discussion/" + ym,
		"/archives/4405.discussion/search?q=plan", "/archives/4405.discussion/mbox/" + ym} {
		if code, body, _ := weak.do("GET", p, nil); code == 200 || strings.Contains(body, "Plan de la semaine") {
			t.Errorf("%s to a footer's session: %d", p, code)
		}
	}
	if page := weak.get("/archives"); strings.Contains(page, "4405.discussion") || !strings.Contains(page, "4405.annonces") {
		t.Errorf("the archives a footer's session sees:\n%s", page)
	}
	if page := weak.get("/archives/4405.annonces"); !strings.Contains(page, "Stratégie") {
		t.Error("a public archive to a footer's session")
	}
	strong := e.session(marie, true, time.Now().Add(time.Hour))
	if page := strong.get(private); !strings.Contains(page, "Plan de la semaine") {
		t.Error("a members' archive to a member signed in by a link asked for")
	}
}

// A public archive's search results quote the words around what matched,
// masked. But the marks around a matched word cut an address in two for
// the mask, which then saw no address: searching for a word of one
// ("dupont", "example") showed it whole, highlighted.
func TestReview3PublicSearchMasksMatchedAddresses(t *testing.T) {
	e := newEnv(t)
	const marie, owner = "marie@example.org", "camille@exemple.fr"
	l := e.createList("4405.discussion", "members", []string{owner}, marie, owner)
	archive.SetVisibility(context.Background(), e.h.DB, l.ID, archive.Public)
	if err := e.send(marie, []string{"4405.discussion@hub.example"}, post(marie, "4405.discussion@hub.example", "Covoiturage",
		"Pour le covoiturage, écrivez à jean.dupont@example.net avant jeudi.")); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the post", countTo(owner, 1))
	e.settle()
	v := newBrowser(t, e)
	for _, q := range []string{"dupont", "example", "jean", "net", "covoiturage"} {
		page := v.get("/archives/4405.discussion/search?q=" + q)
		plain := strings.NewReplacer("<mark>", "", "</mark>", "").Replace(page)
		if strings.Contains(plain, "jean.dupont@example.net") || !strings.Contains(page, "<mark>") {
			t.Errorf("search %q shows the address whole (or finds nothing)", q)
		}
	}
}

// A public archive's attachments were served as sent: a CSV of sign-ups,
// or a message forwarded as an attachment (message/rfc822, what "forward
// as attachment" makes), gave every address whole to any visitor. Text
// attachments are masked like the page for a reader who is not of the
// list; the list's own people get them as sent.
func TestReview3PublicArchiveAttachmentsMasked(t *testing.T) {
	e := newEnv(t)
	const marie, owner = "marie@example.org", "camille@exemple.fr"
	l := e.createList("4405.discussion", "members", []string{owner}, marie, owner)
	archive.SetVisibility(context.Background(), e.h.DB, l.ID, archive.Public)
	msg := crlf("From: " + marie + "\nTo: 4405.discussion@hub.example\nSubject: Inscrits\nDate: Sat, 21 Nov 2026 11:00:00 +0100\n" +
		"Message-ID: <csv@example.org>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n" +
		"--b\nContent-Type: text/plain; charset=utf-8\n\nLa liste et le message d'origine.\n" +
		"--b\nContent-Type: text/csv; name=inscrits.csv\nContent-Disposition: attachment; filename=inscrits.csv\n\nnom,adresse\nJean,jean.dupont@example.net\n" +
		"--b\nContent-Type: message/rfc822\nContent-Disposition: attachment\n\nFrom: Léa <lea.martin@example.net>\nTo: marie@example.org\nSubject: Moi aussi\n\nInscrivez-moi.\n" +
		"--b--\n")
	if err := e.send(marie, []string{"4405.discussion@hub.example"}, msg); err != nil {
		t.Fatal(err)
	}
	ms := e.waitFor("the post", countTo(owner, 1))
	e.settle()
	path := archivedAtRE.FindStringSubmatch(string(to(ms, owner)[0].Data))[1]
	v := newBrowser(t, e)
	m := e.session(marie, true, time.Now().Add(time.Hour))
	for n, whole := range map[int]string{2: "jean.dupont@example.net", 3: "lea.martin@example.net"} {
		p := fmt.Sprintf("%s/part/%d", path, n)
		if code, body, _ := v.do("GET", p, nil); code != 200 || strings.Contains(body, whole) {
			t.Errorf("part %d to a visitor: %d, whole %v", n, code, strings.Contains(body, whole))
		}
		if code, body, _ := m.do("GET", p, nil); code != 200 || !strings.Contains(body, whole) {
			t.Errorf("part %d to a member: %d", n, code)
		}
	}
}

// A bulk sync removed every group the platform's list lacked, at once:
// one truncated or empty export (a platform bug, a paging error) removed
// every group of the hub in one transaction, animators lost their console
// and events their organising groups for good. A sync that would remove
// every group, or more than ten and more than a tenth of them, is now
// refused (422, nothing changed) unless ?allow_removals=N confirms it; a
// dry run says it would need the confirmation.
func TestReview3SyncRefusesMassRemoval(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tok, _, _ := access.CreateToken(ctx, e.h.DB, "platform", access.Scopes, time.Now())
	entry := func(i int) string {
		return fmt.Sprintf(`{"address": "44%02d.g%d", "name": "G %d", "animators": ["a%d@exemple.fr"]}`, i%10+1, i, i, i)
	}
	list := func(from, to int) string {
		var es []string
		for i := from; i < to; i++ {
			es = append(es, entry(i))
		}
		return `{"groups": [` + strings.Join(es, ",") + `]}`
	}
	count := func() int {
		gs, err := groups.List(ctx, e.h.DB)
		if err != nil {
			t.Fatal(err)
		}
		return len(gs)
	}
	if code, body := e.apiCall(t, tok, "PUT", "/groups?allow_removals=1", list(0, 40)); code != 200 || !strings.Contains(body, `"created":40`) {
		t.Fatalf("the first sync: %d %s", code, body)
	}
	base := count() // the hub's own group went: the list replaced it, confirmed

	// Empty, and truncated to its first half: refused, nothing changed.
	for _, body := range []string{`{"groups": []}`, list(0, 20)} {
		code, resp := e.apiCall(t, tok, "PUT", "/groups", body)
		if code != 422 || !strings.Contains(resp, "allow_removals=") {
			t.Errorf("a sync removing many groups: %d %s", code, resp)
		}
		if n := count(); n != base {
			t.Errorf("a refused sync changed the groups: %d, want %d", n, base)
		}
	}
	// A dry run says so, and changes nothing either.
	code, resp := e.apiCall(t, tok, "PUT", "/groups?dry_run=true", list(0, 20))
	if code != 200 || !strings.Contains(resp, `"needs_confirmation":true`) || !strings.Contains(resp, `"removed":20`) {
		t.Errorf("a dry run of a mass removal: %d %s", code, resp)
	}
	// A confirmation too small is refused; a bad one is a 400.
	if code, resp := e.apiCall(t, tok, "PUT", "/groups?allow_removals=19", list(0, 20)); code != 422 {
		t.Errorf("allow_removals=19 for 20 removals: %d %s", code, resp)
	}
	if code, resp := e.apiCall(t, tok, "PUT", "/groups?allow_removals=-1", list(0, 20)); code != 400 {
		t.Errorf("allow_removals=-1: %d %s", code, resp)
	}
	// A few removals go through without asking (groups that closed).
	if code, resp := e.apiCall(t, tok, "PUT", "/groups", list(0, 37)); code != 200 || !strings.Contains(resp, `"removed":3`) {
		t.Errorf("a sync removing 3 of 40: %d %s", code, resp)
	}
	// The confirmed one goes through.
	if code, resp := e.apiCall(t, tok, "PUT", "/groups?allow_removals=17", list(0, 20)); code != 200 || !strings.Contains(resp, `"removed":17`) {
		t.Errorf("a confirmed sync: %d %s", code, resp)
	}
	if n := count(); n != base-20 {
		t.Errorf("after the confirmed sync: %d groups, want %d", n, base-20)
	}
}

// Who reads a territory list's archive (CODE.groupes): the animators of
// the groups inside its code, and its owners (the hub's operators). The
// hub found them by reading every group's animators once per territory
// list, for every member's page and every IMAP LIST, SELECT and STATUS:
// with a hundred territory lists and 2,000 groups, 175 ms each time.
// The codes of the groups a person animates are now read once; the
// answer is the same.
func TestReview3TerritoryArchiveReaders(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Operators = []string{"ops@exemple.fr"} })
	e.addGroup("7506.paris-11", "Paris 11", "other@exemple.fr")
	e.addGroup("2A01.ajaccio", "Ajaccio", "corse@exemple.fr")
	e.createList("4405.discussion", "members", []string{"owner@exemple.fr"}, "alice@example.org")
	ctx := context.Background()
	ids := map[string]int64{}
	err := e.h.DB.Write(ctx, func(tx *store.Tx) error {
		for _, code := range []string{"44", "4405", "75", "2A", "fr"} {
			c, _ := address.ParseCode(code)
			l, err := e.h.Lists.Zone(tx, c)
			ids[strings.ToLower(code)] = l.ID
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	im := imapArchives{e.h}
	for who, want := range map[string]string{
		"camille@exemple.fr": "44 4405 fr",
		"other@exemple.fr":   "75 fr",
		"corse@exemple.fr":   "2a fr",
		"alice@example.org":  "",
		"ops@exemple.fr":     "44 4405 75 2a fr",
	} {
		rs, err := e.h.readable(ctx, who, false)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rs {
			if code, name, _ := strings.Cut(r.local, "."); name == "groupes" {
				got = append(got, code)
			}
		}
		sort.Strings(got)
		w := strings.Fields(want)
		sort.Strings(w)
		if strings.Join(got, " ") != strings.Join(w, " ") {
			t.Errorf("%s reads the territory archives %v, want %v", who, got, w)
		}
		for code, id := range ids {
			ok, err := im.Reads(ctx, who, id)
			if err != nil || ok != contains(w, code) {
				t.Errorf("IMAP: %s reads %s.groupes: %v %v", who, code, ok, err)
			}
		}
	}
}

// A token's scopes were not a boundary: a token made for "lists" only
// (list settings) could name any address an owner of any list, and that
// address then read and exported the list's members in the console: the
// "members" scope's power, and its Art. 9 data. Likewise "groups" named
// animators, who read events' attendees. Naming people to a role now
// takes the scope whose data the role opens: owners "members",
// moderators "held", animators "events"; the same people in another
// order or case is no change.
func TestReview3ScopesAreABoundary(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.createList("4405.discussion", "members", []string{"camille@exemple.fr"}, "alice@example.org")
	settings, _, _ := access.CreateToken(ctx, e.h.DB, "settings", []string{"lists"}, time.Now())
	forGroups, _, _ := access.CreateToken(ctx, e.h.DB, "groups", []string{"groups"}, time.Now())
	full, _, _ := access.CreateToken(ctx, e.h.DB, "platform", access.Scopes, time.Now())

	for _, c := range []struct {
		tok, method, path, body string
		want                    int
		scope                   string
	}{
		{settings, "PATCH", "/lists/4405.discussion", `{"owners": ["tool@example.net"]}`, 403, "members"},
		{settings, "PATCH", "/lists/4405.discussion", `{"owners": ["camille@exemple.fr", "tool@example.net"]}`, 403, "members"},
		{settings, "PATCH", "/lists/4405.discussion", `{"moderators": ["tool@example.net"]}`, 403, "held"},
		{settings, "POST", "/lists", `{"address": "4405.annonces", "policy": "announce", "owners": ["tool@example.net"]}`, 403, "members"},
		{forGroups, "POST", "/groups", `{"address": "4406.reze", "name": "Rezé", "animators": ["tool@example.net"]}`, 403, "events"},
		{forGroups, "PUT", "/groups/4405.nantes-sud/animators", `{"animators": ["tool@example.net"]}`, 403, "events"},
		{forGroups, "PATCH", "/groups/4405.nantes-sud", `{"animators": ["camille@exemple.fr", "tool@example.net"]}`, 403, "events"},
		{forGroups, "PUT", "/groups", `{"groups": [{"address": "4405.nantes-sud", "name": "Nantes Sud", "animators": ["tool@example.net"]}]}`, 403, "events"},
		// What names nobody new passes.
		{settings, "PATCH", "/lists/4405.discussion", `{"owners": ["Camille@Exemple.fr"], "name": "Discussion"}`, 200, ""},
		{forGroups, "PATCH", "/groups/4405.nantes-sud", `{"name": "Nantes Sud (44)"}`, 200, ""},
		{forGroups, "PUT", "/groups", `{"groups": [{"address": "4405.nantes-sud", "name": "Nantes Sud", "animators": ["karim@exemple.fr", "CAMILLE@exemple.fr"]}]}`, 200, ""},
		// A token with the scope does it (a group has an animator at least:
		// creating one takes the scope "events" too).
		{full, "POST", "/groups", `{"address": "4406.reze", "name": "Rezé", "animators": ["tool@example.net"]}`, 201, ""},
		{full, "PATCH", "/lists/4405.discussion", `{"moderators": ["modo@exemple.fr"]}`, 200, ""},
		{full, "PUT", "/groups/4406.reze/animators", `{"animators": ["reze@exemple.fr"]}`, 200, ""},
	} {
		code, body := e.apiCall(t, c.tok, c.method, c.path, c.body)
		if code != c.want || (c.scope != "" && !strings.Contains(body, "takes the scope "+c.scope)) {
			t.Errorf("%s %s %s: %d %s, want %d", c.method, c.path, c.body, code, body, c.want)
		}
	}
	var l struct{ Owners, Moderators []string }
	if code, body := e.apiCall(t, full, "GET", "/lists/4405.discussion", ""); code != 200 || json.Unmarshal([]byte(body), &l) != nil {
		t.Fatalf("the list: %d %s", code, body)
	}
	if strings.Join(l.Owners, " ") != "camille@exemple.fr" || strings.Join(l.Moderators, " ") != "modo@exemple.fr" {
		t.Errorf("after the refusals: owners %v, moderators %v", l.Owners, l.Moderators)
	}
	for local, want := range map[string]string{"4405.nantes-sud": "camille@exemple.fr karim@exemple.fr", "4406.reze": "reze@exemple.fr"} {
		g, err := groups.Get(ctx, e.h.DB, local)
		if err != nil || strings.Join(g.Animators, " ") != want {
			t.Errorf("%s animated by %v (%v), want %s", local, g.Animators, err, want)
		}
	}
}
