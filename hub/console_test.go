package hub

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"codeberg.org/relais/relais/access"
	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/audit"
	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/events"
	"codeberg.org/relais/relais/groups"
	"codeberg.org/relais/relais/lists"
	"codeberg.org/relais/relais/store"
	"codeberg.org/relais/relais/tickets"
)

// session opens a session for email straight in the store (strong: as
// by a link asked for; expires: when it ends) and returns a browser
// carrying its cookie.
func (e *env) session(email string, strong bool, expires time.Time) *browser {
	e.t.Helper()
	cookie := fmt.Sprintf("test-%s-%d", strings.ReplaceAll(email, "@", "-"), time.Now().UnixNano())
	h := sha256.Sum256([]byte(cookie))
	err := e.h.DB.Write(context.Background(), func(tx *store.Tx) error {
		_, err := tx.Exec("session.insert", hex.EncodeToString(h[:]), email, "", strong, time.Now().Add(-time.Hour).Unix(), expires.Unix())
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	b := newBrowser(e.t.(*testing.T), e)
	u, _ := url.Parse(b.base)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "relais_session", Value: cookie, Path: "/"}})
	return b
}

// consoleFixture is a hub with one of each role.
type consoleFixture struct {
	e                   *env
	listA, listB        lists.List
	group, other        int64
	event, event2, held int64
	ticket              int64
	decided             int64
}

const (
	fxOwner      = "owner@exemple.fr"
	fxModerator  = "mod@exemple.fr"
	fxOtherOwner = "otherowner@exemple.fr"
	fxAnimator   = "camille@exemple.fr"
	fxOtherAnim  = "other@exemple.fr"
	fxQueueOp    = "nadia@exemple.fr"
	fxOperator   = "ops@exemple.fr"
	fxMember     = "alice@example.org"
)

func newConsoleFixture(t *testing.T) *consoleFixture {
	e := newEnv(t, func(c *config.Config) { c.Operators = []string{fxOperator}; c.Web.RequestsPerIPMinute = 0 })
	ctx := context.Background()
	f := &consoleFixture{e: e}
	e.addGroup("7506.paris-11", "Paris 11", fxOtherAnim)
	f.listA = e.createList("4405.discussion", lists.Members, []string{fxOwner}, fxMember)
	if err := e.h.Lists.SetOwners(ctx, f.listA.ID, []lists.Owner{{Email: fxOwner, Role: "owner"}, {Email: fxModerator, Role: "moderator"}}, auditNone); err != nil {
		t.Fatal(err)
	}
	f.listB = e.createList("7506.annonces", lists.Announce, []string{fxOtherOwner})
	code, _ := address.ParseCode("4405")
	f.group, _ = groups.Lookup(ctx, e.h.DB, code, "nantes-sud")
	code, _ = address.ParseCode("7506")
	f.other, _ = groups.Lookup(ctx, e.h.DB, code, "paris-11")
	if _, err := tickets.SaveQueue(ctx, e.h.DB, domain, tickets.Queue{Name: "support", DisplayName: "Support", Operators: []string{fxQueueOp}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	for i, p := range []*int64{&f.event, &f.event2} {
		ev := events.Event{UID: fmt.Sprintf("ev%d@hub.example", i), Title: fmt.Sprintf("Réunion %d", i), Start: time.Now().Add(48 * time.Hour),
			Zone: events.DefaultZone, Public: true, Status: events.Confirmed}
		ev.Check()
		if err := e.h.DB.Write(ctx, func(tx *store.Tx) error { _, err := events.Save(tx, &ev, f.group, time.Now()); return err }); err != nil {
			t.Fatal(err)
		}
		*p = ev.ID
	}
	for i := 0; i < 2; i++ {
		e.mustSend("zoe@example.net", "4405.discussion@hub.example", post("zoe@example.net", "4405.discussion@hub.example", fmt.Sprint("Post ", i), "Bonjour."))
	}
	e.mustSend("zoe@example.net", "support@hub.example", post("zoe@example.net", "support@hub.example", "Question", "Bonjour ?"))
	e.waitFor("held notices", countTo(fxOwner, 2))
	e.settle()
	hs, _ := lists.HeldPosts(ctx, e.h.DB, f.listA.ID, "")
	f.held, f.decided = hs[0].ID, hs[1].ID
	if err := e.h.Lists.Moderate(ctx, f.decided, lists.Decision{Approve: false}, auditNone); err != nil {
		t.Fatal(err)
	}
	ts, _ := tickets.List(ctx, e.h.DB, "support", "")
	if len(ts) != 1 {
		t.Fatalf("tickets %+v", ts)
	}
	f.ticket = ts[0].ID
	return f
}

// A permission matrix: every console route × every role (member, owner
// of another list, moderator, animator of another group, queue operator,
// hub operator, anonymous, expired session, a session opened by a
// footer's link) → what the design says: the console is theirs (2xx or a
// redirect after a change, or 409/422 for a change refused for its
// content), not theirs (404, as if it did not exist), no role at all or
// a page for operators only (403), nobody signed in (303 to /signin).
// Nothing is changed by a refused request.
func TestConsolePermissionMatrix(t *testing.T) {
	f := newConsoleFixture(t)
	e := f.e
	later := time.Now().Add(time.Hour)
	who := map[string]*browser{
		"anonymous":      newBrowser(t, e),
		"expired":        e.session(fxOperator, true, time.Now().Add(-time.Minute)),
		"footer-session": e.session(fxOperator, false, later),
		"member":         e.session(fxMember, true, later),
		"owner":          e.session(fxOwner, true, later),
		"other-owner":    e.session(fxOtherOwner, true, later),
		"moderator":      e.session(fxModerator, true, later),
		"animator":       e.session(fxAnimator, true, later),
		"other-animator": e.session(fxOtherAnim, true, later),
		"queue-operator": e.session(fxQueueOp, true, later),
		"operator":       e.session(fxOperator, true, later),
	}
	id := func(n int64) string { return fmt.Sprint(n) }
	A := id(f.listA.ID)
	type route struct {
		method, path string
		form         url.Values
		allowed      []string // roles for which the request is theirs
		ok           int      // what they get
	}
	owners := []string{"owner", "operator"}
	moderators := []string{"owner", "moderator", "operator"}
	animators := []string{"animator", "operator"}
	routes := []route{
		{"GET", "/console", nil, []string{"owner", "other-owner", "moderator", "animator", "other-animator", "queue-operator", "operator"}, 200},
		{"GET", "/console/lists/" + A, nil, moderators, 200},
		{"GET", "/console/held/" + id(f.held), nil, moderators, 200},
		{"POST", "/console/held/" + id(f.decided), url.Values{"action": {"approve"}}, moderators, 409},
		{"POST", "/console/lists/" + A + "/senders", url.Values{"email": {"nobody@example.org"}}, owners, 303},
		{"GET", "/console/lists/" + A + "/members", nil, owners, 200},
		{"POST", "/console/lists/" + A + "/members", url.Values{"action": {"remove"}, "emails": {"nobody@example.org"}}, owners, 422},
		{"POST", "/console/lists/" + A + "/members", url.Values{"action": {"admit"}, "emails": {"nobody@example.org"}}, owners, 422},
		{"GET", "/console/lists/" + A + "/members.csv", nil, owners, 200},
		{"GET", "/console/lists/" + A + "/settings", nil, owners, 200},
		{"POST", "/console/lists/" + A + "/settings", url.Values{"policy": {"nonsense"}}, owners, 422},
		{"GET", "/console/groups/" + id(f.group), nil, animators, 200},
		{"GET", "/console/groups/" + id(f.group) + "/events/new", nil, animators, 200},
		{"POST", "/console/groups/" + id(f.group) + "/events", url.Values{"title": {""}}, animators, 422},
		{"GET", "/console/events/" + id(f.event), nil, animators, 200},
		{"POST", "/console/events/" + id(f.event), url.Values{"title": {""}}, animators, 422},
		{"POST", "/console/events/" + id(f.event) + "/message", url.Values{"subject": {""}}, animators, 422},
		{"POST", "/console/events/" + id(f.event2) + "/cancel", url.Values{}, animators, 303},
		{"GET", "/console/queues/support", nil, []string{"queue-operator", "operator"}, 200},
		{"GET", "/console/tickets/" + id(f.ticket), nil, []string{"queue-operator", "operator"}, 200},
		{"GET", "/console/audit", nil, []string{"operator"}, 200},
		{"GET", "/console/audit.csv", nil, []string{"operator"}, 200},
	}
	csrfOf := map[string]string{}
	for name, b := range who {
		if name == "anonymous" || name == "expired" {
			continue
		}
		csrfOf[name] = b.csrf("/me")
	}
	before := e.count("test.audit-count")
	cells := 0
	for _, r := range routes {
		for name, b := range who {
			var form url.Values
			if r.method == "POST" {
				form = url.Values{}
				for k, v := range r.form {
					form[k] = v
				}
				form.Set("csrf", csrfOf[name])
			}
			code, body, hdr := b.do(r.method, r.path, form)
			want := 404
			switch {
			case name == "anonymous" || name == "expired":
				want = 303
			case name == "footer-session" || name == "member":
				want = 403
			case contains(r.allowed, name):
				want = r.ok
			case r.path == "/console" || strings.HasPrefix(r.path, "/console/audit"):
				want = 403
			}
			if code != want {
				t.Errorf("%s %s as %s: %d, want %d\n%.300s", r.method, r.path, name, code, want, body)
			}
			if want == 303 && (name == "anonymous" || name == "expired") && hdr.Get("Location") != "/signin" {
				t.Errorf("%s %s as %s: to %q", r.method, r.path, name, hdr.Get("Location"))
			}
			cells++
		}
	}
	// Only the allowed changes were recorded: the sender rule removals
	// (2), the cancellation (2 allowed, one changes).
	if n := e.count("test.audit-count") - before; n != 3 {
		t.Errorf("%d audit records after the matrix, want 3", n)
	}
	if h, _ := lists.HeldPost(context.Background(), e.h.DB, f.held); h.State != "held" {
		t.Errorf("held post %d is %s", f.held, h.State)
	}
	t.Logf("%d routes × %d roles = %d cells", len(routes), len(who), cells)
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// apiClient calls the REST API with a token and checks every answer
// against the OpenAPI document.
type apiClient struct {
	t      *testing.T
	base   string
	token  string
	router routers.Router
	doc    *openapi3.T
	seen   map[string]bool // operations answered, for the coverage check
}

func loadOpenAPI(t *testing.T) (*openapi3.T, routers.Router) {
	t.Helper()
	b, err := os.ReadFile("../web/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the OpenAPI document does not validate: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: "http://relais.test/api/v1"}}
	r, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return doc, r
}

func (c *apiClient) call(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	// The same request against the document: its route, then the answer.
	vreq, _ := http.NewRequest(method, "http://relais.test/api/v1"+path, bytes.NewReader(raw))
	if body != nil {
		vreq.Header.Set("Content-Type", "application/json")
	}
	route, params, err := c.router.FindRoute(vreq)
	if err != nil {
		c.t.Errorf("%s %s: not in the OpenAPI document: %v", method, path, err)
	} else {
		c.seen[route.Operation.OperationID] = true
		in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		if resp.StatusCode < 400 {
			if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
				c.t.Errorf("%s %s: the request does not follow the document: %v", method, path, err)
			}
		}
		rv := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
			Options: &openapi3filter.Options{IncludeResponseStatus: true}}
		rv.SetBodyBytes(out)
		if err := openapi3filter.ValidateResponse(context.Background(), rv); err != nil {
			c.t.Errorf("%s %s → %d: the answer does not follow the document: %v\n%.400s", method, path, resp.StatusCode, err, out)
		}
	}
	var m map[string]any
	json.Unmarshal(out, &m)
	return resp.StatusCode, m
}

// The REST API: every endpoint answers as its OpenAPI document says
// (which validates), for a token with every scope; tokens without the
// scope get 403, no token, a revoked one or a signed-in browser's cookie
// 401. Every endpoint of the document is called.
func TestAPIFollowsItsDocument(t *testing.T) {
	f := newConsoleFixture(t)
	e := f.e
	ctx := context.Background()
	doc, router := loadOpenAPI(t)
	all, _, err := access.CreateToken(ctx, e.h.DB, "platform", access.Scopes, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ticketsOnly, _, _ := access.CreateToken(ctx, e.h.DB, "desk", []string{"tickets"}, time.Now())
	revoked, _, _ := access.CreateToken(ctx, e.h.DB, "old", access.Scopes, time.Now())
	if err := access.RevokeToken(ctx, e.h.DB, "old", time.Now()); err != nil {
		t.Fatal(err)
	}
	c := &apiClient{t: t, base: "http://" + e.h.WebAddr().String() + "/api/v1", token: all, router: router, doc: doc, seen: map[string]bool{}}
	expect := func(want int, method, path string, body any) map[string]any {
		t.Helper()
		code, m := c.call(method, path, body)
		if code != want {
			t.Errorf("%s %s: %d, want %d: %v", method, path, code, want, m)
		}
		return m
	}
	expect(200, "GET", "/groups?limit=1", nil)
	expect(201, "POST", "/groups", map[string]any{"address": "4402.nantes-nord", "name": "Nantes Nord", "animators": []string{"a@example.org"}})
	expect(409, "POST", "/groups", map[string]any{"address": "4402.nantes-nord", "name": "Nantes Nord", "animators": []string{"a@example.org"}})
	expect(422, "POST", "/groups", map[string]any{"address": "4411.x", "name": "X", "animators": []string{"a@example.org"}})
	expect(200, "GET", "/groups/4402.nantes-nord", nil)
	expect(404, "GET", "/groups/4402.nobody", nil)
	expect(200, "PATCH", "/groups/4402.nantes-nord", map[string]any{"name": "Nantes Nord (44)"})
	expect(200, "PUT", "/groups/4402.nantes-nord/animators", map[string]any{"animators": []string{"b@example.org", "c@example.org"}})
	expect(204, "DELETE", "/groups/4402.nantes-nord", nil)
	expect(200, "GET", "/lists", nil)
	expect(201, "POST", "/lists", map[string]any{"address": "4405.jeunes", "policy": "members", "owners": []string{"owner@exemple.fr"}})
	expect(200, "GET", "/lists/4405.jeunes", nil)
	expect(200, "PATCH", "/lists/4405.jeunes", map[string]any{"reply_to": "poster", "welcome": map[string]string{"fr": "Bienvenue !"}})
	expect(422, "PATCH", "/lists/4405.jeunes", map[string]any{"policy": "nonsense"})
	expect(201, "POST", "/lists/4405.jeunes/members", map[string]any{"email": "lea@example.org", "consent": "formulaire du 12/11 sur la plateforme"})
	expect(422, "POST", "/lists/4405.jeunes/members", map[string]any{"email": "lea@example.org", "consent": ""})
	expect(200, "GET", "/lists/4405.jeunes/members", nil)
	expect(200, "PATCH", "/lists/4405.jeunes/members/lea@example.org", map[string]any{"mode": "weekly"})
	expect(204, "DELETE", "/lists/4405.jeunes/members/lea@example.org", nil)
	expect(404, "DELETE", "/lists/4405.jeunes/members/lea@example.org", nil)
	start := time.Now().Add(72 * time.Hour).Truncate(time.Minute).Format(time.RFC3339)
	ev := expect(201, "POST", "/events", map[string]any{"group": "4405.nantes-sud", "title": "Porte-à-porte", "start": start, "place": "44000 Nantes"})
	uid, _ := ev["uid"].(string)
	expect(200, "GET", "/events?group=4405.nantes-sud", nil)
	expect(200, "GET", "/events/"+uid, nil)
	expect(200, "PATCH", "/events/"+uid, map[string]any{"title": "Porte-à-porte au marché"})
	expect(200, "DELETE", "/events/"+uid, nil)
	expect(200, "GET", "/held?list=4405.discussion&state=held", nil)
	expect(200, "POST", fmt.Sprintf("/held/%d", f.held), map[string]any{"decision": "reject", "reason": "hors sujet"})
	expect(409, "POST", fmt.Sprintf("/held/%d", f.held), map[string]any{"decision": "approve"})
	expect(200, "GET", "/tickets?queue=support", nil)
	expect(200, "GET", fmt.Sprintf("/tickets/%d", f.ticket), nil)
	expect(200, "PUT", "/groups?dry_run=true", map[string]any{"groups": []map[string]any{}})
	for _, p := range doc.Paths.InMatchingOrder() {
		for m, op := range doc.Paths.Value(p).Operations() {
			if !c.seen[op.OperationID] {
				t.Errorf("%s %s (%s) was not called", m, p, op.OperationID)
			}
		}
	}
	// Who may not.
	for _, x := range []struct {
		token string
		want  int
	}{{"", 401}, {revoked, 401}, {"relais_forged", 401}, {ticketsOnly, 403}} {
		c.token = x.token
		for _, p := range []string{"/groups", "/lists", "/lists/4405.discussion/members", "/events", "/held"} {
			if code, _ := c.call("GET", p, nil); code != x.want {
				t.Errorf("GET %s with token %q: %d, want %d", p, x.token, code, x.want)
			}
		}
		if code, _ := c.call("POST", "/groups", map[string]any{"address": "4403.x", "name": "X", "animators": []string{"a@example.org"}}); code != x.want {
			t.Errorf("POST /groups with token %q: %d, want %d", x.token, code, x.want)
		}
	}
	// A hub operator's signed-in browser has no power over the API.
	b := e.session(fxOperator, true, time.Now().Add(time.Hour))
	if code, _, _ := b.do("GET", "/api/v1/groups", nil); code != 401 {
		t.Errorf("a session cookie reached the API: %d", code)
	}
	if code, _, _ := b.do("POST", "/api/v1/groups", url.Values{"address": {"4403.x"}}); code != 401 {
		t.Errorf("a session cookie reached the API: %d", code)
	}
	toks, _ := access.Tokens(ctx, e.h.DB)
	for _, tk := range toks {
		if tk.Name == "platform" && (tk.LastUsed.IsZero() || tk.LastFrom == "") {
			t.Errorf("last use not recorded: %+v", tk)
		}
	}
}

var lineRE = regexp.MustCompile(`line 1234`)

// The bulk sync: 2,000 groups applied from an empty hub, then a second
// sync with 50 changes applies exactly 50, a dry run changes nothing, and
// a sync with one bad line changes nothing and names the line.
func TestAPIGroupSync(t *testing.T) {
	e := newEnvTB(t, func(c *config.Config) { c.Web.RequestsPerIPMinute = 0 })
	ctx := context.Background()
	secret, _, err := access.CreateToken(ctx, e.h.DB, "platform", []string{"groups", "events"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, router := loadOpenAPI(t)
	c := &apiClient{t: t, base: "http://" + e.h.WebAddr().String() + "/api/v1", token: secret, router: router, seen: map[string]bool{}}
	deps := []string{"01", "13", "33", "44", "59", "69", "75", "2A", "974", "99"}
	var gs []map[string]any
	for i := 0; i < 2000; i++ {
		gs = append(gs, map[string]any{"address": fmt.Sprintf("%s.groupe-%d", deps[i%len(deps)], i), "name": fmt.Sprintf("Groupe %d", i),
			"animators": []string{fmt.Sprintf("anim%d@example.org", i), fmt.Sprintf("co%d@example.org", i)}})
	}
	t0 := time.Now()
	code, rep := c.call("PUT", "/groups", map[string]any{"groups": gs})
	if code != 200 || rep["created"] != 2000.0 || rep["updated"] != 0.0 || rep["removed"] != 0.0 {
		t.Fatalf("first sync: %d %v", code, rep["created"])
	}
	t.Logf("2,000 groups from an empty hub in %v", time.Since(t0).Round(time.Millisecond))
	// 50 changes: 20 renamed, 10 with another animator, 10 removed, 10 new.
	for i := 0; i < 20; i++ {
		gs[i]["name"] = fmt.Sprintf("Groupe %d (renommé)", i)
	}
	for i := 20; i < 30; i++ {
		gs[i]["animators"] = []string{fmt.Sprintf("nouveau%d@example.org", i)}
	}
	gs = gs[10:] // the first ten go (and their renames with them)
	for i := 0; i < 10; i++ {
		gs = append(gs, map[string]any{"address": fmt.Sprintf("44.nouveau-%d", i), "name": "Nouveau", "animators": []string{"n@example.org"}})
	}
	for i := 10; i < 20; i++ { // ten more renames, to make 50
		gs[len(gs)-1-i]["name"] = "Autre nom"
	}
	code, dry := c.call("PUT", "/groups?dry_run=true", map[string]any{"groups": gs})
	n := func(m map[string]any) int {
		return int(m["created"].(float64) + m["updated"].(float64) + m["removed"].(float64))
	}
	if code != 200 || n(dry) != 50 || dry["dry_run"] != true {
		t.Fatalf("dry run: %d %v", code, dry)
	}
	if all, _ := groups.List(ctx, e.h.DB); len(all) != 2000 {
		t.Fatalf("the dry run changed something: %d groups", len(all))
	}
	code, rep = c.call("PUT", "/groups", map[string]any{"groups": gs})
	if code != 200 || n(rep) != 50 || rep["created"] != 10.0 || rep["removed"] != 10.0 || len(rep["changes"].([]any)) != 50 {
		t.Fatalf("second sync: %d created %v updated %v removed %v", code, rep["created"], rep["updated"], rep["removed"])
	}
	code, rep = c.call("PUT", "/groups", map[string]any{"groups": gs})
	if code != 200 || n(rep) != 0 || rep["unchanged"] != 2000.0 {
		t.Fatalf("the same sync again: %v", rep)
	}
	// One bad line (the 1,234th: a circonscription 44 does not have).
	bad := append([]map[string]any{}, gs...)
	bad[1233] = map[string]any{"address": "4411.faux", "name": "Faux", "animators": []string{"x@example.org"}}
	bad[5] = map[string]any{"address": bad[5]["address"], "name": "Changé", "animators": bad[5]["animators"]}
	code, pb := c.call("PUT", "/groups", map[string]any{"groups": bad})
	body, _ := json.Marshal(pb)
	if code != 422 || !lineRE.Match(body) && !strings.Contains(string(body), `"line":1234`) {
		t.Fatalf("bad line: %d %s", code, body)
	}
	if g, err := groups.Get(ctx, e.h.DB, bad[5]["address"].(string)); err != nil || g.DisplayName == "Changé" {
		t.Fatalf("a refused sync changed a group: %+v %v", g, err)
	}
	if all, _ := groups.List(ctx, e.h.DB); len(all) != 2000 {
		t.Fatalf("%d groups after a refused sync", len(all))
	}
}

// auditNone is the actor of a test's set-up: nothing is recorded.
var auditNone = audit.Actor{}
