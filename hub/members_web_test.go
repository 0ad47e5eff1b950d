package hub

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/lists"
	"codeberg.org/relais/relais/outbox"
)

// browser is an HTTP client with its own cookies, that does not follow
// redirects (the tests look at them).
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newBrowser(t *testing.T, e *env) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: "http://" + e.h.WebAddr().String(), c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, path string, form url.Values) (int, string, http.Header) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	bb, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(bb), resp.Header
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the token of the forms of a page.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	code, body, _ := b.do("GET", path, nil)
	m := csrfRE.FindStringSubmatch(body)
	if code != 200 || m == nil {
		b.t.Fatalf("GET %s: %d, no form token\n%.500s", path, code, body)
	}
	return m[1]
}

var signinLinkRE = regexp.MustCompile(`http://[^\s]+/signin/([a-z2-7]{26})`)
var footerLinkRE = regexp.MustCompile(`http://[^\s]+/signin/(l\.[0-9]+\.[0-9a-z]+\.[a-z2-7]{26})`)

// linkIn returns the token of the last mail to rcpt matching re.
func linkIn(t *testing.T, ms []outbox.Mail, rcpt string, re *regexp.Regexp) string {
	t.Helper()
	var tok string
	for _, m := range to(ms, rcpt) {
		if s := re.FindStringSubmatch(m.Body()); s != nil {
			tok = s[1]
		}
	}
	if tok == "" {
		t.Fatalf("no link in the mail to %s", rcpt)
	}
	return tok
}

func (e *env) memberOf(listID int64, email string) lists.Member {
	e.t.Helper()
	ms, err := lists.MemberList(context.Background(), e.h.DB, listID)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, m := range ms {
		if m.Email == email {
			return m
		}
	}
	e.t.Fatalf("%s is not on list %d", email, listID)
	return lists.Member{}
}

func (e *env) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.h.DB.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// Sign-in and the member's page refuse, and change nothing, for: a form
// without its CSRF token, a link used twice, an expired link, a link made
// for another address, a GET that tries to change something; nobody can
// tell from the page whether an address is known; a post quoting a
// member's footer spends its link; a footer's session cannot download or
// erase; "sign out everywhere" ends every session; and no URL names an
// address (the audit of every test hub checks the mail and its pages; this
// test checks the pages and redirects of a signed-in member too).
func TestMemberPagesSecurity(t *testing.T) {
	e := newEnv(t)
	const marie, paul = "marie@example.org", "paul@example.org"
	l := e.createList("4405.discussion", "members", []string{"camille@exemple.fr"}, marie, paul, "camille@exemple.fr")

	// Asking for a link: no token, no mail; then the same page whether the
	// address is known or not, and a mail only to the known one.
	b := newBrowser(t, e)
	if code, _, _ := b.do("POST", "/signin", url.Values{"email": {marie}}); code != 403 {
		t.Fatalf("sign-in request without its token: %d", code)
	}
	tok := b.csrf("/signin")
	_, known, _ := b.do("POST", "/signin", url.Values{"csrf": {tok}, "email": {marie}})
	_, unknown, _ := b.do("POST", "/signin", url.Values{"csrf": {tok}, "email": {"nobody@example.org"}})
	if known != unknown || !strings.Contains(known, "Regardez votre messagerie") {
		t.Fatalf("the page differs for a known and an unknown address:\n%s\n---\n%s", known, unknown)
	}
	ms := e.waitFor("sign-in link", countTo(marie, 1))
	e.settle()
	if len(to(e.box.Mails(), "nobody@example.org")) != 0 {
		t.Fatal("a link was mailed to an address the hub does not know")
	}
	link := linkIn(t, ms, marie, signinLinkRE)

	// A GET shows a button and uses nothing; a POST without the form's
	// token is refused and uses nothing either.
	for i := 0; i < 2; i++ {
		if code, body, _ := b.do("GET", "/signin/"+link, nil); code != 200 || !strings.Contains(body, "Me connecter") {
			t.Fatalf("GET of the link: %d\n%.300s", code, body)
		}
	}
	if code, _, _ := b.do("POST", "/signin/"+link, url.Values{}); code != 403 {
		t.Fatalf("sign in without the form's token: %d", code)
	}
	if n := e.count("test.sessions"); n != 0 {
		t.Fatalf("%d sessions before any was opened", n)
	}
	code, _, hdr := b.do("POST", "/signin/"+link, url.Values{"csrf": {b.csrf("/signin/" + link)}})
	if code != 303 || hdr.Get("Location") != "/me" {
		t.Fatalf("sign in: %d %s", code, hdr.Get("Location"))
	}
	cookie := hdr.Get("Set-Cookie")
	for _, want := range []string{"relais_session=", "HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("session cookie %q lacks %s", cookie, want)
		}
	}
	code, page, _ := b.do("GET", "/me", nil)
	if code != 200 || !strings.Contains(page, "4405.discussion@hub.example") || !strings.Contains(page, marie) {
		t.Fatalf("member page: %d\n%.500s", code, page)
	}
	noAddressInURLs(t, page, marie)

	// The same link again, from another browser: refused, no session.
	other := newBrowser(t, e)
	if code, _, _ := other.do("GET", "/signin/"+link, nil); code != 404 {
		t.Fatalf("used link shown: %d", code)
	}
	if code, _, _ := other.do("POST", "/signin/"+link, url.Values{"csrf": {other.csrf("/signin")}}); code != 404 {
		t.Fatalf("used link accepted: %d", code)
	}
	if n := e.count("test.sessions"); n != 1 {
		t.Fatalf("%d sessions after a link used twice", n)
	}

	// An expired link: Paul's, 16 minutes later.
	pb := newBrowser(t, e)
	pb.do("POST", "/signin", url.Values{"csrf": {pb.csrf("/signin")}, "email": {paul}})
	paulLink := linkIn(t, e.waitFor("Paul's link", countTo(paul, 1)), paul, signinLinkRE)
	tokPaul := pb.csrf("/signin")
	e.clock.advance(16 * time.Minute)
	if code, _, _ := pb.do("POST", "/signin/"+paulLink, url.Values{"csrf": {tokPaul}}); code != 404 {
		t.Fatalf("expired link accepted: %d", code)
	}
	if n := e.count("test.sessions"); n != 1 {
		t.Fatalf("%d sessions after an expired link", n)
	}

	// A footer's link made for Marie, its id changed to Paul's
	// membership: refused. Marie's own works once, for a session that
	// cannot download or erase.
	if err := e.send("camille@exemple.fr", []string{"4405.discussion@hub.example"},
		post("camille@exemple.fr", "4405.discussion@hub.example", "Réunion", "Bonjour à toutes et tous.")); err != nil {
		t.Fatal(err)
	}
	ms = e.waitFor("the post", countTo(marie, 2))
	footer := linkIn(t, ms, marie, footerLinkRE)
	parts := strings.Split(footer, ".")
	forged := strings.Join([]string{parts[0], itoa(e.memberOf(l.ID, paul).ID), parts[2], parts[3]}, ".")
	fb := newBrowser(t, e)
	if code, _, _ := fb.do("POST", "/signin/"+forged, url.Values{"csrf": {fb.csrf("/signin")}}); code != 404 {
		t.Fatalf("a footer link for another address accepted: %d", code)
	}
	code, _, hdr = fb.do("POST", "/signin/"+footer, url.Values{"csrf": {fb.csrf("/signin")}})
	if code != 303 {
		t.Fatalf("footer link: %d", code)
	}
	if code, _, _ := fb.do("POST", "/me/export", url.Values{"csrf": {fb.csrf("/me")}}); code != 403 {
		t.Fatalf("export from a footer's session: %d", code)
	}
	if code, _, _ := fb.do("GET", "/me/erase", nil); code != 403 {
		t.Fatalf("erase page from a footer's session: %d", code)
	}
	again := newBrowser(t, e)
	if code, _, _ := again.do("POST", "/signin/"+footer, url.Values{"csrf": {again.csrf("/signin")}}); code != 404 {
		t.Fatalf("footer link used twice: %d", code)
	}

	// A reply to the list quoting Paul's footer spends Paul's link before
	// the list sends it to everyone.
	paulFooter := linkIn(t, e.box.Mails(), paul, footerLinkRE)
	quote := "Je suis d'accord.\n\n> Gérer mes abonnements : " + e.h.Lists.Address(l, "") + "\n> " + "http://" + e.h.WebAddr().String() + "/signin/" + paulFooter + "\n"
	if err := e.send(paul, []string{"4405.discussion@hub.example"}, post(paul, "4405.discussion@hub.example", "Re: Réunion", quote)); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the reply", countTo(marie, 3))
	if code, _, _ := newBrowser(t, e).do("GET", "/signin/"+paulFooter, nil); code != 404 {
		t.Fatalf("a quoted footer link still signs in: %d", code)
	}

	// The same in a reply written as most clients write one: HTML, in
	// quoted-printable, the link cut by a soft line break.
	camilleFooter := "http://" + e.h.WebAddr().String() + "/signin/" + linkIn(t, e.box.Mails(), "camille@exemple.fr", footerLinkRE)
	cut := len(camilleFooter) - 10
	htmlReply := crlf("From: camille@exemple.fr\nTo: 4405.discussion@hub.example\nSubject: Re: Réunion\nDate: Sat, 21 Nov 2026 10:00:00 +0100\n" +
		"Message-ID: <qp-reply@exemple.fr>\nMIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n" +
		"<p>Oui.</p><blockquote><a href=3D\"" + camilleFooter[:cut] + "=\n" + camilleFooter[cut:] + "\">G=C3=A9rer</a></blockquote>\n")
	if err := e.send("camille@exemple.fr", []string{"4405.discussion@hub.example"}, htmlReply); err != nil {
		t.Fatal(err)
	}
	e.settle() // held or sent, the link was spent on the way in
	if code, _, _ := newBrowser(t, e).do("GET", camilleFooter[len("http://"+e.h.WebAddr().String()):], nil); code != 404 {
		t.Fatalf("a footer link quoted in quoted-printable HTML still signs in: %d", code)
	}

	// Forms without their token, and GETs that try to change: refused,
	// Marie still on the list in every-message mode.
	for _, f := range []struct {
		method, path string
		form         url.Values
		want         int
	}{
		{"POST", "/me/lists/" + itoa(l.ID), url.Values{"action": {"leave"}}, 403},
		{"POST", "/me/lists/" + itoa(l.ID), url.Values{"action": {"weekly"}, "csrf": {fb.csrf("/me")}}, 403}, // another session's token
		{"POST", "/me/erase", url.Values{"really": {"yes"}}, 403},
		{"POST", "/me/signout-everywhere", url.Values{}, 403},
		{"GET", "/me/lists/" + itoa(l.ID) + "?action=leave", nil, 405},
		{"GET", "/me/join/" + itoa(l.ID), nil, 405},
		{"GET", "/me/attend/1/cancel", nil, 405},
		{"GET", "/me/export", nil, 405},
		{"GET", "/signout", nil, 405},
	} {
		if code, _, _ := b.do(f.method, f.path, f.form); code != f.want {
			t.Errorf("%s %s: %d, want %d", f.method, f.path, code, f.want)
		}
	}
	if m := e.memberOf(l.ID, marie); m.State != "active" || m.Mode != "each" {
		t.Fatalf("a refused request changed the subscription: %+v", m)
	}
	if code, _, _ := b.do("GET", "/me/erase", nil); code != 200 {
		t.Fatalf("the erasure's confirmation step: %d", code)
	}

	// With its token, the same form acts, by the lists' own rule.
	code, _, hdr = b.do("POST", "/me/lists/"+itoa(l.ID), url.Values{"action": {"weekly"}, "csrf": {b.csrf("/me")}})
	if code != 303 || e.memberOf(l.ID, marie).Mode != "weekly" {
		t.Fatalf("weekly digest: %d %s", code, hdr.Get("Location"))
	}
	noAddressInURLs(t, hdr.Get("Location"), marie)

	// Sign out everywhere: both of Marie's browsers are out.
	mb := newBrowser(t, e)
	mb.do("POST", "/signin", url.Values{"csrf": {mb.csrf("/signin")}, "email": {marie}})
	second := linkIn(t, e.waitFor("Marie's second link", countTo(marie, 4)), marie, signinLinkRE)
	mb.do("POST", "/signin/"+second, url.Values{"csrf": {mb.csrf("/signin")}})
	if code, _, _ := mb.do("GET", "/me", nil); code != 200 {
		t.Fatalf("second session: %d", code)
	}
	if code, _, _ := b.do("POST", "/me/signout-everywhere", url.Values{"csrf": {b.csrf("/me")}}); code != 303 {
		t.Fatalf("sign out everywhere: %d", code)
	}
	for _, br := range []*browser{b, mb, fb} {
		if code, _, hdr := br.do("GET", "/me", nil); code != 303 || hdr.Get("Location") != "/signin" {
			t.Errorf("a session survived signing out everywhere: %d", code)
		}
	}
}

// noAddressInURLs fails when a link, form action or redirect of text
// names addr.
func noAddressInURLs(t *testing.T, text, addr string) {
	t.Helper()
	for _, m := range regexp.MustCompile(`(?i)(?:action|href|src)="([^"]+)"`).FindAllStringSubmatch(text, -1) {
		if strings.Contains(strings.ToLower(m[1]), strings.ToLower(addr)) || strings.Contains(m[1], url.QueryEscape(addr)) {
			t.Errorf("a URL names %s: %s", addr, m[1])
		}
	}
	if strings.HasPrefix(text, "/") && strings.Contains(text, addr) {
		t.Errorf("a redirect names %s: %s", addr, text)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// Only a group's embeddable agenda may be framed by another site; every
// page goes out under the strict policy, loads nothing from elsewhere and
// tells no referrer.
func TestPagesFramingAndPolicy(t *testing.T) {
	e := newEnv(t)
	b := newBrowser(t, e)
	for _, path := range []string{"/", "/agenda", "/agenda?place=44000", "/signin", "/agenda/group/4405.nantes-sud", "/me",
		"/agenda/group/4405.nantes-sud/embed"} {
		code, body, hdr := b.do("GET", path, nil)
		embed := strings.HasSuffix(path, "/embed")
		csp := hdr.Get("Content-Security-Policy")
		switch {
		case code != 200 && code != 303:
			t.Errorf("%s: %d", path, code)
		case embed && (!strings.Contains(csp, "frame-ancestors *") || hdr.Get("X-Frame-Options") != "" || strings.Contains(body, "<form")):
			t.Errorf("%s: the embeddable page: CSP %q, X-Frame-Options %q", path, csp, hdr.Get("X-Frame-Options"))
		case !embed && (!strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
			hdr.Get("X-Frame-Options") != "DENY"):
			t.Errorf("%s: may be framed: CSP %q, X-Frame-Options %q", path, csp, hdr.Get("X-Frame-Options"))
		}
		if hdr.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: Referrer-Policy %q", path, hdr.Get("Referrer-Policy"))
		}
		for _, m := range regexp.MustCompile(`(?i)<(?:link|script|img|iframe)[^>]*(?:src|href)="([^"]+)"`).FindAllStringSubmatch(body, -1) {
			if !strings.HasPrefix(m[1], "/") {
				t.Errorf("%s loads %s from elsewhere", path, m[1])
			}
		}
		if strings.Contains(body, "<script") || strings.Contains(body, " style=") {
			t.Errorf("%s: a script or an inline style", path)
		}
	}
}

// An agenda's URL without an extension is its page, or its feed for a
// calendar client asking for text/calendar: both say Vary: Accept, so a
// cache between does not give one to the other; the .ics and .html URLs
// are one thing each.
func TestAgendaURLVariesByAccept(t *testing.T) {
	e := newEnv(t)
	get := func(path, accept string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+e.h.WebAddr().String()+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header
	}
	varies := func(h http.Header) bool {
		for _, v := range h.Values("Vary") {
			for _, f := range strings.Split(v, ",") {
				if strings.EqualFold(strings.TrimSpace(f), "Accept") {
					return true
				}
			}
		}
		return false
	}
	for _, c := range []struct {
		path, accept, ctype string
		vary                bool
	}{
		{"/agenda/group/4405.nantes-sud", "text/html", "text/html; charset=utf-8", true},
		{"/agenda/group/4405.nantes-sud", "text/calendar", "text/calendar; charset=utf-8", true},
		{"/agenda/group/4405.nantes-sud.ics", "text/html", "text/calendar; charset=utf-8", false},
		{"/agenda/group/4405.nantes-sud.html", "text/calendar", "text/html; charset=utf-8", false},
	} {
		code, ctype, h := get(c.path, c.accept)
		if code != 200 || ctype != c.ctype || varies(h) != c.vary {
			t.Errorf("%s (Accept: %s): %d %s, Vary %v", c.path, c.accept, code, ctype, h.Values("Vary"))
		}
	}
}

// Under https (web.base_url), every cookie the pages set is Secure.
func TestCookiesSecureUnderHTTPS(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Web.BaseURL = "https://listes.hub.example" })
	_, _, hdr := newBrowser(t, e).do("GET", "/signin", nil)
	c := hdr.Get("Set-Cookie")
	// __Host-: the browser keeps it only Secure, for this host and Path=/.
	if !strings.HasPrefix(c, "__Host-relais_form=") || !strings.Contains(c, "; Secure") || !strings.Contains(c, "HttpOnly") ||
		!strings.Contains(c, "Path=/;") || strings.Contains(c, "Domain=") {
		t.Fatalf("cookie under https: %q", c)
	}
	// The form's token goes with the cookie of that name, not with one a
	// sibling host could set without the prefix.
	value := strings.SplitN(strings.TrimPrefix(c, "__Host-relais_form="), ";", 2)[0]
	post := func(cookie string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+e.h.WebAddr().String()+"/signin", nil)
		req.Header.Set("Cookie", cookie)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tok := csrfRE.FindStringSubmatch(string(body))
		if tok == nil {
			t.Fatalf("no form token:\n%.300s", body)
		}
		form := url.Values{"csrf": {tok[1]}, "email": {"marie@example.org"}}
		req, _ = http.NewRequest("POST", "http://"+e.h.WebAddr().String()+"/signin", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Cookie", cookie)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("__Host-relais_form=" + value); code != 200 {
		t.Errorf("the form with its __Host- cookie: %d", code)
	}
	if code := post("relais_form=" + value); code != 403 {
		t.Errorf("the form with a cookie without the prefix: %d, want 403", code)
	}
	if hdr.Get("Strict-Transport-Security") == "" {
		t.Error("no Strict-Transport-Security under https")
	}
}

// Links are capped per address and per client address and hour: the page
// says the same beyond, and nothing more is mailed. A digest carries its
// member's link to their page.
func TestSignInLinksCappedAndInDigests(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Web.SigninPerAddressHour, c.Web.SigninPerIPHour = 3, 5 })
	const marie = "marie@example.org"
	e.createList("4405.discussion", "members", []string{"camille@exemple.fr"}, marie, "paul@example.org")
	b := newBrowser(t, e)
	tok := b.csrf("/signin")
	var first string
	for i := 0; i < 5; i++ {
		_, page, _ := b.do("POST", "/signin", url.Values{"csrf": {tok}, "email": {marie}})
		if i == 0 {
			first = page
		} else if page != first {
			t.Fatalf("request %d: the page differs beyond the cap", i+1)
		}
	}
	e.settle()
	if n := len(to(e.box.Mails(), marie)); n != 3 {
		t.Fatalf("%d links mailed to one address, cap 3", n)
	}
	// The client has asked 5 times: Paul, from the same client, gets none.
	b.do("POST", "/signin", url.Values{"csrf": {tok}, "email": {"paul@example.org"}})
	e.settle()
	if n := len(to(e.box.Mails(), "paul@example.org")); n != 0 {
		t.Fatalf("%d links mailed beyond the client's cap", n)
	}
	// An hour later, the address may ask again.
	e.clock.advance(time.Hour + time.Minute)
	b.do("POST", "/signin", url.Values{"csrf": {b.csrf("/signin")}, "email": {marie}})
	e.waitFor("a link an hour later", countTo(marie, 4))

	e.agendaMember(marie, "code-postal 44000")
	rcpt := "4405.nantes-sud+agenda@hub.example"
	e.mustSend("camille@exemple.fr", rcpt, post("camille@exemple.fr", rcpt, "Événement",
		"Titre : Réunion publique\nDate : "+e.clock.now().AddDate(0, 0, 3).Format("02/01/2006")+" 18h\nLieu : 44000 Nantes\n"))
	e.waitFor("answer", countTo("camille@exemple.fr", 1))
	_, msg, err := e.h.Digest.Preview(context.Background(), marie)
	if err != nil || !regexp.MustCompile(`/signin/a\.[0-9a-f]+\.[0-9a-z]+\.[a-z2-7]{26}`).Match(msg) {
		t.Fatalf("the digest has no link to the member's page: %v\n%s", err, msg)
	}
}
