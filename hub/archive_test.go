package hub

import (
	"context"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"codeberg.org/relais/relais/archive"
	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/lists"
	"codeberg.org/relais/relais/outbox"
)

// signIn signs b in as email through a mailed link.
func (b *browser) signIn(e *env, email string) {
	b.t.Helper()
	before := len(to(e.box.Mails(), email))
	tok := b.csrf("/signin")
	b.do("POST", "/signin", url.Values{"csrf": {tok}, "email": {email}})
	ms := e.waitFor("sign-in link", countTo(email, before+1))
	link := linkIn(b.t, ms, email, signinLinkRE)
	tok = b.csrf("/signin/" + link)
	if code, _, _ := b.do("POST", "/signin/"+link, url.Values{"csrf": {tok}}); code != 303 {
		b.t.Fatalf("sign-in of %s: %d", email, code)
	}
}

// get fetches a page that must answer 200.
func (b *browser) get(path string) string {
	b.t.Helper()
	code, body, _ := b.do("GET", path, nil)
	if code != 200 {
		b.t.Fatalf("GET %s: %d\n%.800s", path, code, body)
	}
	return body
}

var archivedAtRE = regexp.MustCompile(`(?m)^Archived-At: <http://[^/]+(/archives/4405\.discussion/m/(\d+))>\r?$`)

// Posts made over SMTP are archived threaded, carry List-Archive and
// Archived-At, and read on the web by the list's members only (members
// visibility), found by words with or without accents, by author and by
// dates; once public, anyone reads them, with no address shown whole, and
// an Atom feed; whole messages (mbox) only signed in.
func TestArchiveWeb(t *testing.T) {
	e := newEnv(t)
	const marie, paul, owner = "marie@example.org", "paul@example.org", "camille@exemple.fr"
	l := e.createList("4405.discussion", "members", []string{owner}, marie, paul, owner)
	first := post(marie, "4405.discussion@hub.example", "Réunion publique samedi", "La réunion aura lieu à la salle des fêtes.\nÉcrivez à marie@example.org.")
	if err := e.send(marie, []string{"4405.discussion@hub.example"}, first); err != nil {
		t.Fatal(err)
	}
	ms := e.waitFor("the first post", countTo(paul, 1))
	copy1 := to(ms, paul)[0]
	m := archivedAtRE.FindStringSubmatch(string(copy1.Data))
	if m == nil || !strings.Contains(string(copy1.Data), "List-Archive: <http://") {
		t.Fatalf("copy without Archived-At or List-Archive:\n%s", copy1.Data)
	}
	firstPath := m[1]
	msgid := msgidOf(first)
	answer := post(paul, "4405.discussion@hub.example", "Re: [4405.discussion] Réunion publique samedi", "J'y serai, pour la reunion.",
		"In-Reply-To: "+msgid+"\nReferences: "+msgid+"\n")
	if err := e.send(paul, []string{"4405.discussion@hub.example"}, answer); err != nil {
		t.Fatal(err)
	}
	other := post(owner, "4405.discussion@hub.example", "Tracts du marché", "Qui distribue dimanche ?")
	if err := e.send(owner, []string{"4405.discussion@hub.example"}, other); err != nil {
		t.Fatal(err)
	}
	rich := crlf("From: " + owner + "\nTo: 4405.discussion@hub.example\nSubject: Programme pour karim@example.net\n" +
		"Date: Sat, 21 Nov 2026 11:00:00 +0100\nMessage-ID: <rich@exemple.fr>\nMIME-Version: 1.0\n" +
		"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/html; charset=utf-8\n\n" +
		"<p>Le <b>programme</b><script>alert(1)</script><img src=\"https://pixel.example/t.gif\"></p>\n" +
		"--b\nContent-Type: application/x-msdownload; name=prog.exe\nContent-Disposition: attachment; filename=prog.exe\n" +
		"Content-Transfer-Encoding: base64\n\nTVo=\n--b--\n")
	if err := e.send(owner, []string{"4405.discussion@hub.example"}, rich); err != nil {
		t.Fatal(err)
	}
	e.waitFor("four posts", countTo(paul, 4))
	e.settle()

	visitor := newBrowser(t, e)
	if code, body, _ := visitor.do("GET", "/archives/4405.discussion", nil); code != 401 || !strings.Contains(body, "signin") {
		t.Fatalf("a members' archive to a visitor: %d\n%.300s", code, body)
	}
	if code, _, _ := visitor.do("GET", firstPath, nil); code != 401 {
		t.Fatalf("a permalink to a visitor: %d", code)
	}
	stranger := newBrowser(t, e)
	e.createList("4405.autre", "members", []string{"nadia@exemple.fr"}, "nadia@exemple.fr", "zoe@example.net")
	stranger.signIn(e, "zoe@example.net")
	if code, _, _ := stranger.do("GET", "/archives/4405.discussion", nil); code != 404 {
		t.Fatalf("a members' archive to someone not on the list: %d", code)
	}

	b := newBrowser(t, e)
	b.signIn(e, marie)
	index := b.get("/archives/4405.discussion")
	for _, want := range []string{"Réunion publique samedi", "Tracts du marché", "4 messages", "Programme pour karim@e…"} {
		if !strings.Contains(index, want) {
			t.Errorf("the archive's page lacks %q", want)
		}
	}
	ym := regexp.MustCompile(`/archives/4405\.discussion/(\d{4}-\d\d)"`).FindStringSubmatch(index)
	if ym == nil {
		t.Fatalf("no month on the archive's page:\n%s", index)
	}
	month := b.get("/archives/4405.discussion/" + ym[1])
	threads := regexp.MustCompile(`href="(/archives/4405\.discussion/t/\d+)"`).FindAllStringSubmatch(month, -1)
	if len(threads) != 3 || !strings.Contains(month, "2 messages") {
		t.Fatalf("the month has %d threads:\n%s", len(threads), month)
	}
	var thread string
	for _, th := range threads {
		if p := b.get(th[1]); strings.Contains(p, "J&#39;y serai") {
			thread = p
		}
	}
	if thread == "" || !strings.Contains(thread, "La réunion aura lieu") || !strings.Contains(thread, `class="post d1"`) {
		t.Fatalf("the thread does not show the answer under the post:\n%s", thread)
	}
	if strings.Contains(thread, "marie@example.org") || !strings.Contains(thread, "marie@e…") {
		t.Error("the thread shows an address whole")
	}
	if p := b.get(firstPath); !strings.Contains(p, "Réunion publique samedi") {
		t.Errorf("the permalink:\n%s", p)
	}
	// HTML sanitised, attachments served as downloads of bytes.
	var richPage string
	for _, th := range threads {
		if p := b.get(th[1]); strings.Contains(p, "programme") {
			richPage = p
		}
	}
	if !strings.Contains(richPage, "<b>programme</b>") || strings.Contains(richPage, "alert(1)") || strings.Contains(richPage, "pixel.example") ||
		strings.Contains(richPage, "karim@example.net") {
		t.Errorf("the HTML post's page:\n%s", richPage)
	}
	part := regexp.MustCompile(`href="(/archives/4405\.discussion/m/\d+/part/\d+)" download>prog\.exe`).FindStringSubmatch(richPage)
	if part == nil {
		t.Fatalf("no link to the attachment:\n%s", richPage)
	}
	pcode, data, ph := b.do("GET", part[1], nil)
	if pcode != 200 || data != "MZ" || ph.Get("Content-Type") != "application/octet-stream" ||
		!strings.HasPrefix(ph.Get("Content-Disposition"), "attachment") || !strings.Contains(ph.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("attachment: %d %q %v", pcode, data, ph)
	}
	search := func(b *browser, q url.Values) string {
		t.Helper()
		p := b.get("/archives/4405.discussion/search?" + q.Encode())
		return strings.Join(regexp.MustCompile(`href="/archives/4405\.discussion/m/(\d+)"`).FindAllString(p, -1), " ")
	}
	accents := search(b, url.Values{"q": {"réunion"}})
	plain := search(b, url.Values{"q": {"reunion"}})
	if accents == "" || accents != plain || strings.Count(plain, "href") != 2 {
		t.Errorf("search réunion: %q, reunion: %q", accents, plain)
	}
	if got := search(b, url.Values{"q": {"fetes"}}); !strings.Contains(got, firstPath) {
		t.Errorf("search fetes: %q", got)
	}
	if got := search(b, url.Values{"author": {"paul"}}); strings.Count(got, "href") != 1 {
		t.Errorf("search by author: %q", got)
	}
	if got := search(b, url.Values{"q": {"reunion"}, "from": {"2000-01-01"}, "to": {"2000-12-31"}}); got != "" {
		t.Errorf("search out of its dates: %q", got)
	}
	code, mbox, h := b.do("GET", "/archives/4405.discussion/mbox/"+ym[1], nil)
	if code != 200 || h.Get("Content-Type") != "application/mbox" || strings.Count(mbox, "\nFrom ") != 3 {
		t.Fatalf("month mbox: %d %s, %d messages", code, h.Get("Content-Type"), strings.Count(mbox, "\nFrom ")+1)
	}

	// Made public: anyone reads it, and its feed.
	if err := archive.SetVisibility(context.Background(), e.h.DB, l.ID, archive.Public); err != nil {
		t.Fatal(err)
	}
	page := visitor.get("/archives/4405.discussion")
	if !strings.Contains(page, "Réunion publique samedi") || !strings.Contains(page, "/archives/4405.discussion/atom") {
		t.Fatalf("the public archive to a visitor:\n%s", page)
	}
	if got := search(visitor, url.Values{"q": {"reunion"}}); got != plain {
		t.Errorf("a visitor's search: %q", got)
	}
	code, atom, h := visitor.do("GET", "/archives/4405.discussion/atom", nil)
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/atom+xml") || strings.Count(atom, "<entry>") != 4 {
		t.Fatalf("atom: %d %s\n%s", code, h.Get("Content-Type"), atom)
	}
	if code, _, _ := visitor.do("GET", "/archives/4405.discussion/mbox/"+ym[1], nil); code != 401 {
		t.Errorf("an mbox to a visitor: %d", code)
	}
	for _, p := range []string{page, atom, visitor.get(firstPath)} {
		for _, a := range []string{marie, paul, owner} {
			if strings.Contains(p, a) {
				t.Errorf("a public page shows %s whole", a)
			}
		}
	}
	if rows := visitor.get("/archives"); !strings.Contains(rows, "/archives/4405.discussion") || strings.Contains(rows, "4405.autre") {
		t.Errorf("the archives a visitor sees:\n%s", rows)
	}
}

// headerNames are the names of a message's header fields, sorted, each
// once.
func headerNames(m outbox.Mail) []string {
	head, _, _ := strings.Cut(string(m.Data), "\r\n\r\n")
	seen := map[string]bool{}
	for _, line := range strings.Split(head, "\r\n") {
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		name, _, _ := strings.Cut(line, ":")
		seen[strings.ToLower(name)] = true
	}
	var out []string
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// A reply written on the web goes through the list's posting policy as a
// mailed post does: its copies carry the same header fields as a mailed
// post's, threaded under the post answered; on an announcement list it is
// refused with the same notice as mail; from someone not on a members'
// list it is held for the moderators.
func TestArchiveWebPost(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Lists.RatePerHour = 100 })
	const marie, paul, owner = "marie@example.org", "paul@example.org", "camille@exemple.fr"
	e.createList("4405.discussion", "members", []string{owner}, marie, paul, owner)
	e.createList("4405.annonces", "announce", []string{owner}, marie, paul)
	mailed := post(paul, "4405.discussion@hub.example", "Tracts", "Qui distribue dimanche ?")
	if err := e.send(paul, []string{"4405.discussion@hub.example"}, mailed); err != nil {
		t.Fatal(err)
	}
	ms := e.waitFor("the mailed post", countTo(marie, 1))
	byMail := to(ms, marie)[0]
	e.settle()

	b := newBrowser(t, e)
	b.signIn(e, marie)
	id := archivedAtRE.FindStringSubmatch(string(byMail.Data))[2]
	reply := "/archives/4405.discussion/m/" + id + "/reply"
	form := b.get(reply)
	if !strings.Contains(form, `value="Re: Tracts"`) {
		t.Fatalf("the reply form:\n%s", form)
	}
	tok := csrfRE.FindStringSubmatch(form)[1]
	before := len(to(e.box.Mails(), paul))
	code, _, h := b.do("POST", reply, url.Values{"csrf": {tok}, "subject": {"Re: [4405.discussion] Tracts"}, "text": {"Moi, dimanche à 10h."}})
	if code != 303 || !strings.Contains(h.Get("Location"), "/t/"+id+"?done=sent") {
		t.Fatalf("web reply: %d %s", code, h.Get("Location"))
	}
	ms = e.waitFor("the web reply", countTo(paul, before+1))
	var byWeb outbox.Mail
	for _, m := range to(ms, paul) {
		if strings.Contains(string(m.Data), "dimanche =C3=A0 10h") {
			byWeb = m
		}
	}
	if byWeb.Data == nil {
		t.Fatal("no copy of the web reply")
	}
	// The same answer by mail, from a client that writes what the web
	// does: the copies carry the same fields.
	mailedReply := post(paul, "4405.discussion@hub.example", "Re: Tracts", "Moi aussi.",
		"In-Reply-To: "+msgidOf(mailed)+"\nReferences: "+msgidOf(mailed)+"\n")
	if err := e.send(paul, []string{"4405.discussion@hub.example"}, mailedReply); err != nil {
		t.Fatal(err)
	}
	var byMailReply outbox.Mail
	e.waitFor("the mailed reply", func(ms []outbox.Mail) bool {
		for _, m := range to(ms, marie) {
			if strings.Contains(string(m.Data), "Moi aussi.") {
				byMailReply = m
				return true
			}
		}
		return false
	})
	if got, want := headerNames(byWeb), headerNames(byMailReply); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("a web post's copy and a mailed post's differ:\nweb:  %v\nmail: %v", got, want)
	}
	for _, f := range []string{"In-Reply-To: <", "References: <", "Archived-At: <", "List-Archive: <", "List-Unsubscribe: <", "From: marie@example.org"} {
		if !strings.Contains(string(byWeb.Data), f) {
			t.Errorf("the web reply's copy lacks %q:\n%s", f, byWeb.Data)
		}
	}
	if p := b.get("/archives/4405.discussion/t/" + id); !strings.Contains(p, "Moi, dimanche à 10h.") || !strings.Contains(p, `class="post d1"`) {
		t.Errorf("the thread after the web reply:\n%s", p)
	}

	// Refused as by mail: a member writing to an announcement list.
	before = len(to(e.box.Mails(), marie))
	tok = b.csrf("/archives/4405.annonces/new")
	_, body, _ := b.do("POST", "/archives/4405.annonces/new", url.Values{"csrf": {tok}, "subject": {"Une annonce"}, "text": {"Bonjour"}})
	if !strings.Contains(body, "un courriel vous explique pourquoi") {
		t.Fatalf("announce list, web post:\n%s", body)
	}
	e.waitFor("the refusal", func(ms []outbox.Mail) bool {
		for _, m := range to(ms, marie)[before:] {
			if strings.Contains(subject(m), "4405.annonces est une liste d'annonces") {
				return true
			}
		}
		return false
	})
	if len(to(e.box.Mails(), paul)) != 3 {
		t.Error("a refused web post reached the members")
	}

	// Held as by mail: someone not on a members' list, reading it public.
	dl, _ := lists.Find(context.Background(), e.h.DB, "4405.discussion")
	archive.SetVisibility(context.Background(), e.h.DB, dl.ID, archive.Public)
	z := newBrowser(t, e)
	e.createList("4405.autre", "members", []string{"nadia@exemple.fr"}, "zoe@example.net")
	z.signIn(e, "zoe@example.net")
	tok = z.csrf("/archives/4405.discussion/new")
	_, body, _ = z.do("POST", "/archives/4405.discussion/new", url.Values{"csrf": {tok}, "subject": {"Bonjour"}, "text": {"Je ne suis pas membre."}})
	if !strings.Contains(body, "modérateurs") || e.count("test.held-count") != 1 {
		t.Fatalf("a non-member's web post: %d held\n%s", e.count("test.held-count"), body)
	}
}

// An owner removes a post: gone from its page, the thread, search and
// the feed, the reason recorded; a member cannot.
func TestArchiveRemoval(t *testing.T) {
	e := newEnv(t)
	const marie, owner = "marie@example.org", "camille@exemple.fr"
	l := e.createList("4405.discussion", "members", []string{owner}, marie, owner)
	archive.SetVisibility(context.Background(), e.h.DB, l.ID, archive.Public)
	for _, s := range []string{"Premier message", "Message à retirer"} {
		if err := e.send(marie, []string{"4405.discussion@hub.example"}, post(marie, "4405.discussion@hub.example", s, "Texte : "+s)); err != nil {
			t.Fatal(err)
		}
	}
	ms := e.waitFor("two posts", countTo(owner, 2))
	e.settle()
	// The copy of the post to remove, by its subject: copies may come in
	// either order (on PostgreSQL several workers deliver at once).
	var m []string
	for _, c := range to(ms, owner) {
		if strings.Contains(subject(c), "Message à retirer") {
			m = archivedAtRE.FindStringSubmatch(string(c.Data))
		}
	}
	if m == nil {
		t.Fatal("no archived copy of the post to remove")
	}
	path, id := m[1], m[2]
	member := newBrowser(t, e)
	member.signIn(e, marie)
	tok := member.csrf(path)
	if strings.Contains(member.get(path), "/remove") {
		t.Error("a member is offered removal")
	}
	if code, _, _ := member.do("POST", path+"/remove", url.Values{"csrf": {tok}, "reason": {"non"}}); code != 404 {
		t.Fatalf("a member's removal: %d", code)
	}
	o := newBrowser(t, e)
	o.signIn(e, owner)
	tok = o.csrf(path)
	code, _, h := o.do("POST", path+"/remove", url.Values{"csrf": {tok}, "reason": {"à la demande de l'autrice"}})
	if code != 303 || !strings.Contains(h.Get("Location"), "done=removed") {
		t.Fatalf("removal: %d %s", code, h.Get("Location"))
	}
	visitor := newBrowser(t, e)
	if code, _, _ := visitor.do("GET", path, nil); code != 404 {
		t.Errorf("the removed post's page: %d", code)
	}
	if p := visitor.get("/archives/4405.discussion/search?q=retirer"); strings.Contains(p, "/m/"+id) {
		t.Error("search finds the removed post")
	}
	if p := visitor.get("/archives/4405.discussion/atom"); strings.Contains(p, "retirer") || !strings.Contains(p, "Premier message") {
		t.Errorf("atom after removal:\n%s", p)
	}
	var reason, by string
	if err := e.h.DB.QueryRow(context.Background(), "test.removal", id).Scan(&reason, &by); err != nil || reason != "à la demande de l'autrice" || by != owner {
		t.Errorf("removal record: %q %q %v", reason, by, err)
	}
}

func msgidOf(msg string) string {
	return regexp.MustCompile(`(?m)^Message-ID: (<[^>]+>)`).FindStringSubmatch(msg)[1]
}

// App passwords are made on a member's page, shown once, and revoked
// there; the page says where the mail client connects.
func TestAppPasswordsOnMemberPage(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.IMAP.Listen = "127.0.0.1:0" })
	const marie = "marie@example.org"
	e.createList("4405.discussion", "members", []string{"camille@exemple.fr"}, marie)
	b := newBrowser(t, e)
	b.signIn(e, marie)
	tok := b.csrf("/me")
	code, page, _ := b.do("POST", "/me/app-passwords", url.Values{"csrf": {tok}, "name": {"Thunderbird"}})
	m := regexp.MustCompile(`<code class="pw">([a-z2-7 ]{24})</code>`).FindStringSubmatch(page)
	if code != 200 || m == nil || !strings.Contains(page, strconv.Itoa(e.h.IMAPAddr().(*net.TCPAddr).Port)) {
		t.Fatalf("new app password: %d\n%s", code, page)
	}
	ctx := context.Background()
	if err := e.h.SignIn.CheckAppPassword(ctx, marie, m[1]); err != nil {
		t.Fatalf("the password shown does not sign in: %v", err)
	}
	if again := b.get("/me"); strings.Contains(again, m[1]) || !strings.Contains(again, "Thunderbird") {
		t.Fatal("the password is shown again, or its label is not")
	}
	id := regexp.MustCompile(`/me/app-passwords/(\d+)/revoke`).FindStringSubmatch(b.get("/me"))
	if code, _, h := b.do("POST", "/me/app-passwords/"+id[1]+"/revoke", url.Values{"csrf": {tok}}); code != 303 || !strings.Contains(h.Get("Location"), "revoked") {
		t.Fatalf("revoke: %d", code)
	}
	if err := e.h.SignIn.CheckAppPassword(ctx, marie, m[1]); err == nil {
		t.Fatal("a revoked password signs in")
	}
	// Someone else's password cannot be revoked by id.
	pw, _ := e.h.SignIn.NewAppPassword(ctx, "camille@exemple.fr", "x")
	ps, _ := e.h.SignIn.AppPasswords(ctx, "camille@exemple.fr")
	b.do("POST", "/me/app-passwords/"+strconv.FormatInt(ps[0].ID, 10)+"/revoke", url.Values{"csrf": {tok}})
	if err := e.h.SignIn.CheckAppPassword(ctx, "camille@exemple.fr", pw); err != nil {
		t.Fatal("a member revoked someone else's password")
	}
	if strings.Contains(e.logs.String(), m[1]) {
		t.Error("a password is in the logs")
	}
}
