package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// The REST API (api_*.go): JSON under /api/v1 for the movement's own
// platform, with tokens made by `relais token create` (Authorization:
// Bearer). Errors are RFC 9457 problem details; lists are pages (limit,
// offset, total, next); /api/v1/openapi.json describes it all (OpenAPI
// 3). Cookies are never read here: a signed-in browser has no power over
// the API, so no page elsewhere can make it act.

// API is what the REST API asks of the hub. tok is the caller's token,
// client its address, both for the audit log. Errors: ErrNotYours (404),
// *Invalid (422), ErrConflict (409), ErrDecided (409).
type API interface {
	// Token returns the live token of a secret (ErrBadToken otherwise).
	Token(ctx context.Context, secret, client string) (APIToken, error)
	Groups(ctx context.Context) ([]APIGroup, error)
	Group(ctx context.Context, address string) (APIGroup, error)
	SaveGroup(ctx context.Context, tok APIToken, g APIGroup, create bool, client string) (APIGroup, error)
	RemoveGroup(ctx context.Context, tok APIToken, address, client string) error
	SyncGroups(ctx context.Context, tok APIToken, gs []APIGroup, dryRun bool, allowRemovals int, client string) (APISyncReport, error)
	Lists(ctx context.Context) ([]APIList, error)
	List(ctx context.Context, address string) (APIList, error)
	SaveList(ctx context.Context, tok APIToken, l APIList, create bool, client string) (APIList, error)
	Members(ctx context.Context, list string) ([]APIMember, error)
	Subscribe(ctx context.Context, tok APIToken, list string, s APISubscribe, client string) (APIMember, error)
	Unsubscribe(ctx context.Context, tok APIToken, list, email, client string) error
	SetMode(ctx context.Context, tok APIToken, list, email, mode, client string) (APIMember, error)
	Events(ctx context.Context, group string) ([]APIEvent, error)
	Event(ctx context.Context, uid string) (APIEvent, error)
	SaveEvent(ctx context.Context, tok APIToken, uid string, e APIEvent, client string) (APIEvent, error)
	CancelEvent(ctx context.Context, tok APIToken, uid, client string) (APIEvent, error)
	Held(ctx context.Context, list, state string) ([]APIHeld, error)
	Decide(ctx context.Context, tok APIToken, id int64, d APIDecision, client string) (APIHeld, error)
	Tickets(ctx context.Context, queue, state string) ([]APITicket, error)
	Ticket(ctx context.Context, id int64) (APITicket, error)
}

// ErrConflict: the thing exists already.
var ErrConflict = errors.New("web: conflict")

// APIToken is the caller of the API.
type APIToken struct {
	Name   string
	Scopes []string
}

// APIGroup is a group.
type APIGroup struct {
	Address   string   `json:"address"`
	Name      string   `json:"name"`
	Commune   string   `json:"commune,omitempty"`
	Animators []string `json:"animators"`
}

// APISyncReport is what a bulk sync changed (or would).
type APISyncReport struct {
	DryRun    bool        `json:"dry_run"`
	Created   int         `json:"created"`
	Updated   int         `json:"updated"`
	Removed   int         `json:"removed"`
	Unchanged int         `json:"unchanged"`
	Changes   []APIChange `json:"changes"`
	// NeedsConfirmation: a dry run whose removals would be refused
	// without ?allow_removals=N.
	NeedsConfirmation bool `json:"needs_confirmation,omitempty"`
}

// APIChange is one change of a sync.
type APIChange struct {
	Address string   `json:"address"`
	Action  string   `json:"action"`
	Fields  []string `json:"fields,omitempty"`
}

// APILineError names a refused line of a sync.
type APILineError struct {
	Line    int    `json:"line"`
	Address string `json:"address,omitempty"`
	Detail  string `json:"detail"`
}

// LinesInvalid is a sync refused for its lines (422, each named).
type LinesInvalid struct{ Lines []APILineError }

func (e *LinesInvalid) Error() string { return "lines refused" }

// APIList is a list with its settings.
type APIList struct {
	Address       string            `json:"address"`
	Name          string            `json:"name"`
	Policy        string            `json:"policy"`
	ReplyTo       string            `json:"reply_to"`
	SubjectPrefix *bool             `json:"subject_prefix,omitempty"`
	Lang          string            `json:"lang"`
	Auth          string            `json:"auth"`
	MaxKB         int64             `json:"max_kb"`
	RatePerHour   int               `json:"rate_per_hour"`
	Owners        []string          `json:"owners"`
	Moderators    []string          `json:"moderators"`
	Welcome       map[string]string `json:"welcome,omitempty"`
	Footer        map[string]string `json:"footer,omitempty"`
	DigestModes   []string          `json:"digest_modes,omitempty"`
	Members       int               `json:"members"`
}

// APIMember is a list member.
type APIMember struct {
	Email      string `json:"email"`
	State      string `json:"state"`
	Mode       string `json:"mode"`
	Paused     bool   `json:"paused"`
	ConsentAt  string `json:"consent_at"`
	ConsentHow string `json:"consent_how"`
}

// APISubscribe subscribes an address whose consent the platform holds.
type APISubscribe struct {
	Email   string `json:"email"`
	Consent string `json:"consent"`
}

// APIEvent is an event.
type APIEvent struct {
	UID     string   `json:"uid,omitempty"`
	Group   string   `json:"group"`
	Groups  []string `json:"groups,omitempty"`
	Title   string   `json:"title"`
	Start   string   `json:"start"` // RFC 3339
	End     string   `json:"end,omitempty"`
	Place   string   `json:"place,omitempty"`
	Themes  []string `json:"themes,omitempty"`
	Public  *bool    `json:"public,omitempty"`
	Details string   `json:"details,omitempty"`
	Status  string   `json:"status,omitempty"`
}

// APIHeld is a held post.
type APIHeld struct {
	ID        int64  `json:"id"`
	List      string `json:"list"`
	Poster    string `json:"poster"`
	Subject   string `json:"subject"`
	Reason    string `json:"reason"`
	State     string `json:"state"`
	HeldAt    string `json:"held_at"`
	ExpiresAt string `json:"expires_at"`
	DecidedBy string `json:"decided_by,omitempty"`
}

// APIDecision is a decision on a held post.
type APIDecision struct {
	Decision string `json:"decision"` // approve, reject
	Reason   string `json:"reason,omitempty"`
}

// APITicket is a support ticket, read only.
type APITicket struct {
	ID        int64        `json:"id"`
	Queue     string       `json:"queue"`
	Subject   string       `json:"subject"`
	State     string       `json:"state"`
	Requester string       `json:"requester"`
	CreatedAt string       `json:"created_at"`
	UpdatedAt string       `json:"updated_at"`
	Messages  []APIMessage `json:"messages,omitempty"`
}

// APIMessage is one message of a ticket.
type APIMessage struct {
	Kind   string `json:"kind"`
	Author string `json:"author"`
	At     string `json:"at"`
	Text   string `json:"text"`
}

// apiHandler is an endpoint, with its caller's token.
type apiHandler func(w http.ResponseWriter, r *http.Request, tok APIToken)

// apiRoutes adds the API's endpoints; scope is what a token must carry.
func (s *Server) apiRoutes(handle func(string, http.HandlerFunc)) {
	h := func(pattern, scope string, f apiHandler) { handle(pattern, s.apiAuth(scope, f)) }
	handle("GET /api/v1/openapi.json", s.apiOpenAPI)
	h("GET /api/v1/groups", "groups", s.apiGroups)
	h("POST /api/v1/groups", "groups", s.apiCreateGroup)
	h("PUT /api/v1/groups", "groups", s.apiSyncGroups)
	h("GET /api/v1/groups/{address}", "groups", s.apiGroup)
	h("PATCH /api/v1/groups/{address}", "groups", s.apiUpdateGroup)
	h("PUT /api/v1/groups/{address}/animators", "groups", s.apiSetAnimators)
	h("DELETE /api/v1/groups/{address}", "groups", s.apiRemoveGroup)
	h("GET /api/v1/lists", "lists", s.apiLists)
	h("POST /api/v1/lists", "lists", s.apiCreateList)
	h("GET /api/v1/lists/{address}", "lists", s.apiList)
	h("PATCH /api/v1/lists/{address}", "lists", s.apiUpdateList)
	h("GET /api/v1/lists/{address}/members", "members", s.apiMembers)
	h("POST /api/v1/lists/{address}/members", "members", s.apiSubscribe)
	h("PATCH /api/v1/lists/{address}/members/{email}", "members", s.apiSetMode)
	h("DELETE /api/v1/lists/{address}/members/{email}", "members", s.apiUnsubscribe)
	h("GET /api/v1/events", "events", s.apiEvents)
	h("POST /api/v1/events", "events", s.apiCreateEvent)
	h("GET /api/v1/events/{uid}", "events", s.apiEvent)
	h("PATCH /api/v1/events/{uid}", "events", s.apiUpdateEvent)
	h("DELETE /api/v1/events/{uid}", "events", s.apiCancelEvent)
	h("GET /api/v1/held", "held", s.apiHeld)
	h("POST /api/v1/held/{id}", "held", s.apiDecide)
	h("GET /api/v1/tickets", "tickets", s.apiTickets)
	h("GET /api/v1/tickets/{id}", "tickets", s.apiTicket)
	handle("/api/", s.apiNotFound)
}

// apiAuth reads the bearer token: none or a dead one is 401, one without
// the endpoint's scope 403.
func (s *Server) apiAuth(scope string, next apiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || secret == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="relais"`)
			problem(w, http.StatusUnauthorized, "a token is needed (Authorization: Bearer …)", nil)
			return
		}
		tok, err := s.api.Token(r.Context(), strings.TrimSpace(secret), s.client(r).String())
		if errors.Is(err, ErrBadToken) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="relais", error="invalid_token"`)
			problem(w, http.StatusUnauthorized, "unknown or revoked token", nil)
			return
		} else if err != nil {
			s.apiFail(w, err)
			return
		}
		if !slices.Contains(tok.Scopes, scope) {
			problem(w, http.StatusForbidden, "this token lacks the scope "+scope, nil)
			return
		}
		next(w, r, tok)
	}
}

// roleScope is the scope a token needs to name people to a role: a role
// opens data, and naming someone to it must take the scope that reads
// that data, or a token made for list settings could make its own
// address an owner and read the members (Art. 9 data) in the console.
var roleScope = map[string]struct{ scope, why string }{
	"owners":     {"members", "a list's owners read and export its members"},
	"moderators": {"held", "a list's moderators read its held posts"},
	"animators":  {"events", "a group's animators read who comes to its events"},
}

// mayName says whether tok may change role from before to after (the
// same addresses in any order or case is no change); if not, it answers
// 403 and nothing is changed.
func mayName(w http.ResponseWriter, tok APIToken, role string, before, after []string) bool {
	rs := roleScope[role]
	if slices.Contains(tok.Scopes, rs.scope) || sameAddresses(before, after) {
		return true
	}
	problem(w, http.StatusForbidden, "changing "+role+" takes the scope "+rs.scope+": "+rs.why, nil)
	return false
}

// sameAddresses compares two address lists as sets, ignoring case and
// spaces.
func sameAddresses(a, b []string) bool {
	norm := func(as []string) []string {
		out := make([]string, 0, len(as))
		for _, x := range as {
			if x = strings.ToLower(strings.TrimSpace(x)); x != "" {
				out = append(out, x)
			}
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return slices.Equal(norm(a), norm(b))
}

func (s *Server) apiNotFound(w http.ResponseWriter, r *http.Request) {
	problem(w, http.StatusNotFound, "no such endpoint", nil)
}

// problem writes an RFC 9457 problem details object.
func problem(w http.ResponseWriter, status int, detail string, lines []APILineError) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	p := map[string]any{"type": "about:blank", "title": http.StatusText(status), "status": status, "detail": detail}
	if lines != nil {
		p["errors"] = lines
	}
	json.NewEncoder(w).Encode(p)
}

// apiFail answers an error of the domain.
func (s *Server) apiFail(w http.ResponseWriter, err error) {
	var inv *Invalid
	var lines *LinesInvalid
	switch {
	case errors.As(err, &lines):
		problem(w, http.StatusUnprocessableEntity, "nothing was changed: some lines are refused", lines.Lines)
	case errors.As(err, &inv):
		problem(w, http.StatusUnprocessableEntity, inv.Problem, nil)
	case errors.Is(err, ErrNotYours):
		problem(w, http.StatusNotFound, "not found", nil)
	case errors.Is(err, ErrConflict):
		problem(w, http.StatusConflict, "it exists already", nil)
	case errors.Is(err, ErrDecided):
		problem(w, http.StatusConflict, "already decided", nil)
	default:
		s.log.Error("api", "err", err)
		problem(w, http.StatusInternalServerError, "internal error", nil)
	}
}

// reply writes v as JSON with status.
func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// readJSON reads a request's JSON body (at most max bytes, no unknown
// field), answering 400 when it cannot.
func readJSON(w http.ResponseWriter, r *http.Request, max int64, v any) bool {
	d := json.NewDecoder(http.MaxBytesReader(w, r.Body, max))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		problem(w, http.StatusBadRequest, "the body is not the JSON expected: "+err.Error(), nil)
		return false
	}
	return true
}

// pageOf answers a page of items: ?limit (1–1000, default 100) and
// ?offset, with the total and the next page's link.
func pageOf[T any](w http.ResponseWriter, r *http.Request, items []T) {
	q := r.URL.Query()
	limit, err := strconv.Atoi(q.Get("limit"))
	if q.Get("limit") == "" {
		limit, err = 100, nil
	}
	offset, err2 := strconv.Atoi(q.Get("offset"))
	if q.Get("offset") == "" {
		offset, err2 = 0, nil
	}
	if err != nil || err2 != nil || limit < 1 || limit > 1000 || offset < 0 {
		problem(w, http.StatusBadRequest, "limit is 1 to 1000, offset 0 or more", nil)
		return
	}
	if items == nil {
		items = []T{}
	}
	total := len(items)
	// offset+limit may overflow: compare what is left instead.
	from := min(offset, total)
	to := from + min(limit, total-from)
	page := items[from:to]
	out := map[string]any{"items": page, "total": total, "limit": limit, "offset": offset}
	if to < total {
		nq := r.URL.Query()
		nq.Set("offset", strconv.Itoa(offset+limit))
		nq.Set("limit", strconv.Itoa(limit))
		out["next"] = r.URL.Path + "?" + nq.Encode()
	}
	reply(w, http.StatusOK, out)
}
