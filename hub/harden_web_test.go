package hub

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/events"
	"codeberg.org/relais/relais/lists"
	"codeberg.org/relais/relais/outbox"
)

// Issue 12, the web and the words of the agenda: what the HTTP server
// tells about members-only events and private themes, what it echoes, how
// much one client may ask, and that refusals are said in the person's
// language.

// rawGet sends one GET over a fresh connection to the hub's web listener
// and returns the response exactly as it came (the Date field removed:
// it is the only part that may differ between two identical answers).
func rawGet(t *testing.T, e *env, path string, header ...string) (raw string, resp *http.Response, body string) {
	t.Helper()
	c, err := net.Dial("tcp", e.h.WebAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := "GET " + path + " HTTP/1.1\r\nHost: relais.test\r\nConnection: close\r\n"
	for _, h := range header {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	raw = regexp.MustCompile(`(?m)^Date: [^\r\n]*\r\n`).ReplaceAllString(string(b), "")
	resp, err = http.ReadResponse(bufio.NewReader(strings.NewReader(string(b))), nil)
	if err != nil {
		t.Fatalf("%.200s: %v\n%.500s", path, err, b)
	}
	bb, _ := io.ReadAll(resp.Body)
	return raw, resp, string(bb)
}

// answerUIDs returns the Id lines of the agenda answers camille got, in order.
func answerUIDs(t *testing.T, e *env) []string {
	t.Helper()
	var out []string
	for _, m := range to(e.box.Mails(), "camille@exemple.fr") {
		for _, line := range strings.Split(text(m), "\n") {
			if id, ok := strings.CutPrefix(strings.TrimSpace(line), "Id : "); ok {
				out = append(out, id)
			}
		}
	}
	return out
}

// The answer of a feed that does not exist, whatever the reason: the same
// bytes for an unknown UID and a members-only one.
// Every answer carries the pages' security policy (issue 15).
const notFound = "HTTP/1.1 404 Not Found\r\nCache-Control: no-store\r\n" + securityHeaders + "Content-Type: text/plain; charset=utf-8\r\n" +
	"Cross-Origin-Opener-Policy: same-origin\r\nReferrer-Policy: no-referrer\r\nX-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\n" +
	"Content-Length: 10\r\nConnection: close\r\n\r\nNot Found\n"

const badRequest = "HTTP/1.1 400 Bad Request\r\nCache-Control: no-store\r\n" + securityHeaders + "Content-Type: text/plain; charset=utf-8\r\n" +
	"Cross-Origin-Opener-Policy: same-origin\r\nReferrer-Policy: no-referrer\r\nX-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\n" +
	"Content-Length: 12\r\nConnection: close\r\n\r\nBad Request\n"

const securityHeaders = "Content-Security-Policy: default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'\r\n"

// A members-only event answers over HTTP exactly as an event that does
// not exist, its title is in no feed's name, and the UIDs the hub makes
// carry 128 random bits (the same form sent twice is still one event).
func TestHardenMembersOnlyEventNotOnTheWeb(t *testing.T) {
	e := newEnv(t)
	rcpt := "4405.nantes-sud+agenda@hub.example"
	e.mustSend("camille@exemple.fr", rcpt, post("camille@exemple.fr", rcpt, "Événement",
		"Titre : Réunion publique\nDate : 12/12/2026 18h\nLieu : 44000 Nantes\nThèmes : climat\n"))
	e.waitFor("public answer", countTo("camille@exemple.fr", 1))
	e.mustSend("camille@exemple.fr", rcpt, post("camille@exemple.fr", rcpt, "Événement",
		"Titre : Stratégie secrète\nDate : 13/12/2026 18h\nLieu : 44000 Nantes\nThèmes : interne-confidentiel\nPublic : non\n"))
	e.waitFor("members-only answer", countTo("camille@exemple.fr", 2))
	uids := answerUIDs(t, e)
	if len(uids) != 2 {
		t.Fatalf("Ids in the answers: %q", uids)
	}
	public, private := uids[0], uids[1]
	random := regexp.MustCompile(`^[0-9a-f]{32}@mx\.hub\.example$`)
	for _, u := range uids {
		if !random.MatchString(u) {
			t.Errorf("UID %q: want 128 random bits in hex @ the hub's host name", u)
		}
	}
	// The same form again: the same event, not a second one.
	e.mustSend("camille@exemple.fr", rcpt, post("camille@exemple.fr", rcpt, "Événement",
		"Titre : Réunion publique\nDate : 12/12/2026 18h\nLieu : 44000 Nantes\nThèmes : climat\n"))
	e.waitFor("third answer", countTo("camille@exemple.fr", 3))
	if again := answerUIDs(t, e); len(again) != 3 || again[2] != public {
		t.Fatalf("the same form twice: Ids %q", again)
	}

	rawPrivate, resp, _ := rawGet(t, e, "/agenda/event/"+private+".ics")
	rawUnknown, _, _ := rawGet(t, e, "/agenda/event/0123456789abcdef0123456789abcdef@mx.hub.example.ics")
	if resp.StatusCode != 404 || rawPrivate != notFound || rawUnknown != notFound {
		t.Fatalf("members-only event:\n%q\nunknown event:\n%q\nwant both:\n%q", rawPrivate, rawUnknown, notFound)
	}
	_, resp, body := rawGet(t, e, "/agenda/event/"+public+".ics")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/calendar; charset=utf-8" ||
		!strings.Contains(body, "\r\nX-WR-CALNAME;VALUE=TEXT:Réunion publique (hub.example)\r\n") || !strings.Contains(body, "UID:"+public+"\r\n") {
		t.Fatalf("public event: %d\n%s", resp.StatusCode, body)
	}
	// No feed names or holds the members-only event, nor says its theme exists.
	for _, path := range []string{"/agenda/group/4405.nantes-sud.ics", "/agenda/zone/44.ics", "/agenda/zone/4405.ics", "/agenda/zone/fr.ics",
		"/agenda/theme/climat.ics"} {
		_, resp, body := rawGet(t, e, path)
		if resp.StatusCode != 200 || strings.Contains(body, "secrète") || strings.Contains(body, private) ||
			strings.Contains(body, "confidentiel") || strings.Count(body, "BEGIN:VEVENT") != 1 {
			t.Errorf("%s: %d\n%s", path, resp.StatusCode, body)
		}
	}
	rawTheme, _, _ := rawGet(t, e, "/agenda/theme/interne-confidentiel.ics")
	rawNoTheme, _, _ := rawGet(t, e, "/agenda/theme/aucun-evenement.ics")
	if rawTheme != notFound || rawNoTheme != notFound {
		t.Errorf("theme of a members-only event:\n%q\nunknown theme:\n%q\nwant both:\n%q", rawTheme, rawNoTheme, notFound)
	}
}

// Feed names: what a client sends is checked against the grammar of group
// addresses, territory codes and themes (400 when it does not follow it),
// unknown ones are 404, and nothing of it is echoed into an answer or a
// log line.
func TestHardenFeedNames(t *testing.T) {
	e := newEnv(t)
	rcpt := "4405.nantes-sud+agenda@hub.example"
	e.mustSend("camille@exemple.fr", rcpt, post("camille@exemple.fr", rcpt, "Événement",
		"Titre : Réunion publique\nDate : 12/12/2026 18h\nLieu : 44000 Nantes\nThèmes : climat, Énergie solaire\n"))
	e.waitFor("answer", countTo("camille@exemple.fr", 1))
	long := strings.Repeat("a", 100<<10)
	for _, path := range []string{
		"/agenda/theme/" + long + ".ics",
		"/agenda/theme/a%0D%0AX-Injected:%20yes.ics",
		"/agenda/theme/a%00b.ics",
		"/agenda/theme/a%2Fb.ics",
		"/agenda/theme/%FF%FE.ics",
		"/agenda/theme/" + strings.Repeat("é", 41) + ".ics",
		"/agenda/group/4405." + long + ".ics",
		"/agenda/group/4405.nantes%0D%0Asud.ics",
		"/agenda/group/nantes-sud.ics",
		"/agenda/group/" + long + ".nantes-sud.ics",
		"/agenda/zone/" + strings.Repeat("4", 100<<10) + ".ics",
		"/agenda/zone/44%0D%0A.ics",
		"/agenda/zone/4x.ics",
		"/agenda/event/" + long + ".ics",
		"/agenda/event/a%0D%0Ab@hub.example.ics",
		"/agenda/group/4405.nantes-sud.txt", // the page of a group named so, which cannot be a group's (issue 15: pages beside the feeds)
	} {
		raw, resp, _ := rawGet(t, e, path)
		if raw != badRequest {
			t.Errorf("%.80s: %d, want exactly\n%q\ngot\n%.300q", path, resp.StatusCode, badRequest, raw)
		}
	}
	for _, path := range []string{
		"/agenda/theme/sport.ics",            // no public event has it
		"/agenda/group/4405.inconnu.ics",     // no such group
		"/agenda/group/4499.nantes-sud.ics",  // no such circonscription
		"/agenda/zone/4499.ics",              // no such circonscription
		"/agenda/zone/96.ics",                // no such département
		"/agenda/x/y.ics",                    // no such kind of feed
		"/agenda/event/nope@hub.example.ics", // no such event
	} {
		raw, resp, _ := rawGet(t, e, path)
		if raw != notFound {
			t.Errorf("%s: %d, want exactly\n%q\ngot\n%q", path, resp.StatusCode, notFound, raw)
		}
	}
	// The names of feeds come from the hub's own spelling.
	for path, name := range map[string]string{
		"/agenda/theme/CLIMAT.ics":                 "Agenda #climat (hub.example)",
		"/agenda/theme/%C3%A9nergie%20solaire.ics": "Agenda #énergie solaire (hub.example)",
		"/agenda/group/4405.Nantes-Sud.ics":        "Agenda 4405.nantes-sud (hub.example)",
		"/agenda/zone/2a.ics":                      "Agenda 2a (hub.example)",
	} {
		_, resp, body := rawGet(t, e, path)
		if resp.StatusCode != 200 || !strings.Contains(body, "\r\nX-WR-CALNAME;VALUE=TEXT:"+name+"\r\n") {
			t.Errorf("%s: %d\n%s", path, resp.StatusCode, body)
		}
	}
	logs := e.logs.String()
	for _, line := range strings.Split(logs, "\n") {
		if len(line) > 2000 || strings.Contains(line, "level=ERROR") || strings.Contains(line, "Injected") || strings.Contains(line, "aaaaaaaaaaaaaaaa") {
			t.Errorf("log line: %.300s", line)
		}
	}
}

// Every HTTP answer counts against the client's address: beyond
// web.requests_per_ip_minute, 429 with Retry-After, until time gives a
// request back. Behind a trusted proxy, the client is the address the
// proxy appended to X-Forwarded-For; from anyone else, that field is
// ignored.
func TestHardenWebRateLimit(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Web.RequestsPerIPMinute = 5 })
	tooMany := "HTTP/1.1 429 Too Many Requests\r\nCache-Control: no-store\r\nContent-Type: text/plain; charset=utf-8\r\n" +
		"Retry-After: 12\r\nX-Content-Type-Options: nosniff\r\nContent-Length: 18\r\nConnection: close\r\n\r\nToo Many Requests\n"
	get := func(path string, header ...string) (string, int) {
		raw, resp, _ := rawGet(t, e, path, header...)
		return raw, resp.StatusCode
	}
	for i := 0; i < 5; i++ {
		if _, code := get("/"); code != 200 {
			t.Fatalf("request %d: %d", i+1, code)
		}
	}
	for _, path := range []string{"/", "/agenda/zone/44.ics", "/u/whatever", "/agenda/stop/x"} {
		if raw, _ := get(path); raw != tooMany {
			t.Fatalf("%s over the limit:\n%q\nwant\n%q", path, raw, tooMany)
		}
	}
	// Through the proxy (loopback is trusted by default), each client
	// has its own count; what a client wrote before the proxy's entry
	// does not matter.
	for i := 0; i < 5; i++ {
		if _, code := get("/", "X-Forwarded-For: 203.0.113.7"); code != 200 {
			t.Fatalf("client behind the proxy, request %d: %d", i+1, code)
		}
	}
	if raw, _ := get("/", "X-Forwarded-For: 198.51.100.1, 203.0.113.7"); raw != tooMany {
		t.Fatalf("client behind the proxy, a forged first hop: %q", raw)
	}
	if _, code := get("/", "X-Forwarded-For: 203.0.113.8"); code != 200 {
		t.Fatalf("another client behind the proxy: %d", code)
	}
	// One request comes back every 12 s (5 a minute).
	e.clock.advance(12 * time.Second)
	if _, code := get("/"); code != 200 {
		t.Fatalf("after 12 s: %d", code)
	}
	if _, code := get("/"); code != 429 {
		t.Fatalf("second request after 12 s: %d", code)
	}
	if !strings.Contains(e.logs.String(), "client=203.0.113.7") {
		t.Errorf("no log line names the limited client:\n%s", e.logs)
	}

	// With no trusted proxy, X-Forwarded-For is anyone's word: ignored.
	e2 := newEnv(t, func(c *config.Config) { c.Web.RequestsPerIPMinute = 5; c.Web.TrustedProxies = nil })
	for i := 0; i < 5; i++ {
		if _, resp, _ := rawGet(t, e2, "/", "X-Forwarded-For: 203.0.113."+string(rune('1'+i))); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i+1, resp.StatusCode)
		}
	}
	if _, resp, _ := rawGet(t, e2, "/", "X-Forwarded-For: 203.0.113.9"); resp.StatusCode != 429 {
		t.Fatalf("a forged X-Forwarded-For escaped the limit: %d", resp.StatusCode)
	}
}

// A form whose date does not exist is refused in the hub's language, in
// words from the templates: French by default, English when configured.
func TestHardenAgendaRefusalInFrenchAndEnglish(t *testing.T) {
	for _, tc := range []struct {
		lang, want, not string
	}{
		{"fr", "la date « 31/02/2027 14h30 » n'existe pas.", "does not exist"},
		{"en", `the date "31/02/2027 14h30" does not exist.`, "n'existe pas"},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			e := newEnv(t, func(c *config.Config) { c.Language = tc.lang })
			rcpt := "4405.nantes-sud+agenda@hub.example"
			e.mustSend("camille@exemple.fr", rcpt, post("camille@exemple.fr", rcpt, "Événement",
				"Titre : Réunion\nDate : 31/02/2027 14h30\nLieu : 44000 Nantes\n"))
			a := to(e.waitFor("refusal", countTo("camille@exemple.fr", 1)), "camille@exemple.fr")[0]
			body := strings.Join(strings.Fields(text(a)), " ")
			if !strings.Contains(body, tc.want) || strings.Contains(body, tc.not) {
				t.Fatalf("refusal lacks %q or has %q:\n%s", tc.want, tc.not, text(a))
			}
		})
	}
}

// A circonscription that does not exist is refused at RCPT with its
// reason in French, then in English, from replies.tmpl.
func TestHardenCirconscriptionRefusalInFrenchAndEnglish(t *testing.T) {
	e := newEnv(t)
	for rcpt, want := range map[string]string{
		"4411.nantes-sud@hub.example": "<4411.nantes-sud@hub.example> : adresse invalide (Loire-Atlantique (44) compte 10 circonscriptions, " +
			"numérotées de 01 à 10 ; 11 n'existe pas) / invalid address (Loire-Atlantique (44) has 10 circonscriptions, numbered 01 to 10; 11 does not exist)",
		"97502.x@hub.example": "<97502.x@hub.example> : adresse invalide (Saint-Pierre-et-Miquelon (975) compte 1 circonscription, " +
			"numérotée 01 ; 02 n'existe pas) / invalid address (Saint-Pierre-et-Miquelon (975) has 1 circonscription, numbered 01; 02 does not exist)",
		"2001.x@hub.example": "<2001.x@hub.example> : adresse invalide (20 n'est plus un département : la Corse est 2A (Corse-du-Sud) et 2B (Haute-Corse)) / " +
			"invalid address (20 is no longer a département: Corsica is 2A (Corse-du-Sud) and 2B (Haute-Corse))",
	} {
		code, enh, msg := smtpCode(t, e.send("x@example.org", []string{rcpt}, crlf(groupMessage)))
		if code != 550 || enh != [3]int{5, 1, 1} || msg != want {
			t.Errorf("%s: %d %v\n%q\nwant\n%q", rcpt, code, enh, msg, want)
		}
	}
}

// Every reason of either refusal has its words in both languages: no code
// falls through to an untranslated default.
func TestHardenEveryReasonTranslated(t *testing.T) {
	e := newEnv(t)
	for _, p := range events.Problems {
		seen := map[string]string{}
		for _, lang := range []string{"fr", "en"} {
			r, err := e.h.Texts.Render(lang, "event-refused", map[string]any{"Group": "G", "Address": "a@b",
				"Reason": "unreadable", "Problem": p, "Value": "VALEUR"})
			if err != nil {
				t.Fatal(err)
			}
			seen[lang] = r.Text
		}
		if seen["fr"] == seen["en"] || strings.Contains(seen["fr"], "n'y a été compris") || strings.Contains(seen["en"], "nothing in it was understood") {
			t.Errorf("problem %q: not said in both languages:\n%s\n%s", p, seen["fr"], seen["en"])
		}
	}
	// Through the SMTP server: one address for each reason a territory
	// code is refused.
	rcpts := map[address.CodeProblem]string{
		address.CodeEmpty: ".x", address.CodeSyntax: "4405x.x", address.CodeTooShort: "4.x", address.CodeTooLong: "440501.x",
		address.CodeCorsica20: "2001.x", address.CodeOverseasTwoDigits: "9741.x", address.CodeCorsicaLetter: "2c01.x",
		address.CodeNoDepartement: "96.x", address.CodeNoCirconscription: "4411.x",
	}
	for _, p := range address.CodeProblems {
		local, ok := rcpts[p]
		if !ok {
			t.Errorf("no address refused for %s", p)
			continue
		}
		code, _, msg := smtpCode(t, e.send("x@example.org", []string{local + "@hub.example"}, crlf(groupMessage)))
		fr, en, ok := strings.Cut(msg, " / ")
		if code != 550 || !ok || !strings.HasPrefix(fr, "<"+local+"@hub.example> : adresse invalide (") || !strings.HasSuffix(fr, ")") ||
			!strings.HasPrefix(en, "invalid address (") || !strings.HasSuffix(en, ")") {
			t.Errorf("%s (%s): %d %q", local, p, code, msg)
		}
	}
}

// The weekly digest still shows a members-only event to the group's
// members, with its "je participe" link, but no "add to my calendar"
// link: the web would answer it 404.
func TestHardenDigestMembersOnlyNoPublicLink(t *testing.T) {
	e := newEnv(t)
	paris, _ := time.LoadLocation("Europe/Paris")
	e.clock.advance(time.Date(2026, 11, 23, 9, 0, 0, 0, paris).Sub(e.clock.now())) // Monday, past the digest hour
	rcpt := "4405.nantes-sud+agenda@hub.example"
	e.mustSend("camille@exemple.fr", rcpt, post("camille@exemple.fr", rcpt, "Événement",
		"Titre : Réunion publique\nDate : jeudi 3 décembre 2026 à 18h30\nLieu : 44000 Nantes\n"))
	e.waitFor("public answer", countTo("camille@exemple.fr", 1))
	e.mustSend("camille@exemple.fr", rcpt, post("camille@exemple.fr", rcpt, "Événement",
		"Titre : Stratégie interne\nDate : vendredi 4 décembre 2026 à 18h30\nLieu : 44000 Nantes\nPublic : non\n"))
	e.waitFor("members-only answer", countTo("camille@exemple.fr", 2))
	uids := answerUIDs(t, e)
	e.agendaMember("member@example.org", "code-postal 44000")
	e.createList("4405.discussion", lists.Members, []string{"camille@exemple.fr"}, "member@example.org")
	e.settle()
	if _, err := e.h.Digest.Run(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	ms := e.waitFor("digest", func(ms []outbox.Mail) bool {
		for _, m := range to(ms, "member@example.org") {
			if m.Header().Get("X-Agenda-Week") != "" {
				return true
			}
		}
		return false
	})
	var digest outbox.Mail
	for _, m := range to(ms, "member@example.org") {
		if m.Header().Get("X-Agenda-Week") != "" {
			digest = m
		}
	}
	body := text(digest)
	if !strings.Contains(body, "Stratégie interne (réservé aux membres)") || !strings.Contains(body, "/agenda/event/"+uids[0]+".ics") ||
		strings.Contains(body, uids[1]) || strings.Count(body, "Ajouter à mon agenda") != 1 || strings.Count(body, "Je participe") != 2 ||
		strings.Contains(string(digest.Data), uids[1]) {
		t.Fatalf("digest:\n%s", body)
	}
}
