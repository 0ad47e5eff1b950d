package web

import (
	"context"
	"errors"
	"html/template"
	"io"
	"net/http"
)

// The console of list owners, moderators, group animators, support queue
// operators and the hub's operators (console_*.go), under /console. The
// same sign-in and page rules as a member's page, and more: only a session
// opened by a link mailed on request may use it (a footer's link, which a
// reply may have quoted, may not), and what is not the person's is "not
// found", the same as what does not exist. Who may see and do what is the
// domain's rule (package access); handlers ask and render.

// Console is what the console shows and does. who is always the
// signed-in address; client the browser's address, for the audit log.
// Methods answer ErrNotYours for what is not who's (or does not exist),
// ErrNoRole when who holds no role at all (or not the one a page needs:
// the audit log is operators'), and *Invalid for a form to correct.
type Console interface {
	Home(ctx context.Context, who string) (ConsoleHome, error)
	List(ctx context.Context, who string, listID int64, lang string) (ConsoleList, error)
	Held(ctx context.Context, who string, heldID int64, lang string) (HeldView, error)
	// Decide: action approve, reject (reason told to the poster),
	// accept (approve, and always accept the sender), ban (reject
	// silently, and ban the sender). ErrDecided when already decided.
	Decide(ctx context.Context, who string, heldID int64, action, reason, client string) error
	// SetSender removes a list's rule for a sender (rule "").
	SetSender(ctx context.Context, who string, listID int64, email, rule, client string) error
	Members(ctx context.Context, who string, listID int64, q MemberQuery, lang string) (ConsoleMembers, error)
	// ChangeMembers: action add (Emails with Consent), invite (Emails,
	// Note), remove (Emails[0], Reason), enable (Emails[0]).
	ChangeMembers(ctx context.Context, who string, listID int64, f MemberForm, client string) ([]Outcome, error)
	MembersCSV(ctx context.Context, who string, listID int64, w io.Writer) error
	Settings(ctx context.Context, who string, listID int64) (ListSettings, error)
	SetSettings(ctx context.Context, who string, listID int64, f ListSettings, client string) error
	Group(ctx context.Context, who string, groupID int64, lang string) (ConsoleGroup, error)
	Event(ctx context.Context, who string, eventID int64, lang string) (ConsoleEvent, error)
	// SaveEvent creates an event of group groupID (eventID 0) or changes
	// one, as the group's +agenda does: attendees are told of a change.
	SaveEvent(ctx context.Context, who string, groupID, eventID int64, f EventForm, client string) (int64, error)
	CancelEvent(ctx context.Context, who string, eventID int64, client string) error
	// MessageAttendees writes to every attendee of an event, through the
	// hub: each gets their own copy from the group's address.
	MessageAttendees(ctx context.Context, who string, eventID int64, subject, body, client string) (int, error)
	Queue(ctx context.Context, who, name, lang string) (ConsoleQueue, error)
	Ticket(ctx context.Context, who string, id int64, lang string) (ConsoleTicket, error)
	Audit(ctx context.Context, who string, q AuditQuery) ([]AuditRow, error)
}

// Errors of the console and the API.
var (
	ErrNotYours = errors.New("web: not found")
	ErrNoRole   = errors.New("web: no role here")
	ErrDecided  = errors.New("web: already decided")
)

// Invalid is a form or a request to correct: Problem says what, in the
// domain's words (shown as is).
type Invalid struct{ Problem string }

func (e *Invalid) Error() string { return e.Problem }

// ConsoleHome is the console's first page: what is the person's.
type ConsoleHome struct {
	Operator bool
	Lists    []ConsoleListRow
	Groups   []ConsoleGroupRow
	Queues   []string
}

// ConsoleListRow is a list in the console.
type ConsoleListRow struct {
	ID      int64
	Address string
	Name    string
	Role    string // owner, moderator, operator
	Held    int
}

// ConsoleGroupRow is a group in the console.
type ConsoleGroupRow struct {
	ID      int64
	Address string
	Name    string
}

// ConsoleList is a list's page: its held posts, for owners its activity
// and its senders' rules.
type ConsoleList struct {
	ID       int64
	Address  string
	Name     string
	Owner    bool // may see members, settings and activity
	Held     []HeldRow
	Decided  []HeldRow // the last decided
	Activity ActivityView
	Senders  []SenderRow
}

// HeldRow is a held post in a list.
type HeldRow struct {
	ID        int64
	Poster    string
	Subject   string
	Reason    string
	State     string // held, approved, rejected, expired
	DecidedBy string
	HeldAt    string
	Age       string
	Expires   string
}

// HeldView is one held post, read safely.
type HeldView struct {
	HeldRow
	ListID      int64
	List        string
	Fields      [][2]string
	Text        string
	HTML        template.HTML // sanitised by the domain
	Attachments []AttachmentRow
}

// AttachmentRow is an attachment, named and never opened.
type AttachmentRow struct {
	Name, Type string
	Size       int
}

// ActivityView is a list's activity.
type ActivityView struct {
	Weeks      []WeekRow
	Active     int
	Bouncing   int
	Left       int
	Held       int
	OldestHeld string // its age in words, "" for none
}

// WeekRow is one week of activity.
type WeekRow struct {
	Week                          string
	Posts, Joins, Leaves, Bounces int
}

// SenderRow is a list's rule for a sender.
type SenderRow struct {
	Email, Rule, Since, By string
}

// MemberQuery is a search of a list's members.
type MemberQuery struct {
	Text   string // part of an address
	State  string // active, bouncing, unsubscribed, "" any
	Page   int    // from 0
	Member int64  // one member's details, by id (no address in a URL)
}

// ConsoleMembers is a list's members page.
type ConsoleMembers struct {
	ListID  int64
	Address string
	Name    string
	Query   MemberQuery
	Members []MemberRow
	More    bool
	Member  *MemberDetail
}

// MemberRow is a member as owners see them.
type MemberRow struct {
	ID     int64
	Email  string
	State  string
	Mode   string
	Paused bool
	Since  string
	Bounce float64
	// Admitted: sees the members-only events of the groups of the
	// list's code (lists.Admit).
	Admitted bool
}

// MemberDetail is one member's record and bounces.
type MemberDetail struct {
	MemberRow
	ConsentHow string
	Left       string
	LeftHow    string
	Bounces    []BounceRow
}

// BounceRow is one bounce of a member's copies.
type BounceRow struct {
	At, Action, Status, Detail string
}

// MemberForm is a change to a list's members.
type MemberForm struct {
	Action  string // add, invite, remove, enable
	Emails  []string
	Consent string
	Note    string
	Reason  string
}

// Outcome is what became of one address.
type Outcome struct {
	Email   string `json:"email"`
	Outcome string `json:"outcome"`
}

// ListSettings is a list's settings form.
type ListSettings struct {
	ListID               int64
	Address              string
	Name                 string
	Policy               string
	ReplyTo              string
	Prefix               bool
	Auth                 string
	Lang                 string
	MaxKB                int64
	Rate                 int
	WelcomeFR, WelcomeEN string
	FooterFR, FooterEN   string
	Daily, Weekly        bool
}

// ConsoleGroup is a group's page for its animators.
type ConsoleGroup struct {
	ID        int64
	Address   string
	Name      string
	Commune   string
	Animators []string
	Events    []ConsoleEventRow
}

// ConsoleEventRow is an event in a group's page.
type ConsoleEventRow struct {
	ID        int64
	Title     string
	When      string
	Place     string
	Cancelled bool
	Attendees int
}

// ConsoleEvent is one event for its organisers: the form, its attendees.
type ConsoleEvent struct {
	ID        int64
	GroupID   int64
	Group     string
	When      string
	Cancelled bool
	Past      bool
	Form      EventForm
	Attendees []AttendeeRow
}

// AttendeeRow is someone who said they will come.
type AttendeeRow struct {
	Email, Since string
}

// EventForm is an event as an animator writes it.
type EventForm struct {
	Title   string
	Date    string // 2026-12-12
	Time    string // 14:30, "" for all day
	End     string // 16:30
	Place   string
	Themes  string
	Public  bool
	Details string
}

// ConsoleQueue is a support queue's tickets, read only.
type ConsoleQueue struct {
	Name    string
	Tickets []TicketRow
}

// TicketRow is a ticket in a queue.
type TicketRow struct {
	ID                                int64
	Subject, State, Requester, Update string
}

// ConsoleTicket is one ticket's thread, read only.
type ConsoleTicket struct {
	TicketRow
	Queue    string
	Messages []TicketMessage
}

// TicketMessage is one message of a ticket, trimmed.
type TicketMessage struct {
	Kind, From, At, Text string
}

// AuditQuery filters the audit log.
type AuditQuery struct {
	Actor, Target string
	Limit         int
}

// AuditRow is one change of the audit log.
type AuditRow struct {
	At, Actor, Via, From, Action, Target, Detail string
}

// consoleRoutes adds the console's pages.
func (s *Server) consoleRoutes(handle func(string, http.HandlerFunc)) {
	handle("GET /console", s.consoleHome)
	handle("GET /console/lists/{id}", s.consoleList)
	handle("POST /console/lists/{id}/senders", s.consoleSenders)
	handle("GET /console/held/{id}", s.consoleHeld)
	handle("POST /console/held/{id}", s.consoleDecide)
	handle("GET /console/lists/{id}/members", s.consoleMembers)
	handle("POST /console/lists/{id}/members", s.consoleChangeMembers)
	handle("GET /console/lists/{id}/members.csv", s.consoleMembersCSV)
	handle("GET /console/lists/{id}/settings", s.consoleSettings)
	handle("POST /console/lists/{id}/settings", s.consoleSetSettings)
	handle("GET /console/groups/{id}", s.consoleGroup)
	handle("GET /console/groups/{id}/events/new", s.consoleNewEvent)
	handle("POST /console/groups/{id}/events", s.consoleCreateEvent)
	handle("GET /console/events/{id}", s.consoleEvent)
	handle("POST /console/events/{id}", s.consoleUpdateEvent)
	handle("POST /console/events/{id}/cancel", s.consoleCancelEvent)
	handle("POST /console/events/{id}/message", s.consoleMessage)
	handle("GET /console/queues/{name}", s.consoleQueue)
	handle("GET /console/tickets/{id}", s.consoleTicket)
	handle("GET /console/audit", s.consoleAudit)
	handle("GET /console/audit.csv", s.consoleAuditCSV)
}

// consoleFormMax bounds a console form, URL-encoded.
const consoleFormMax = 256 << 10

// consoleWho returns the signed-in address that may use the console: a
// session opened by a mailed link. Anyone else is sent to sign in, or
// told why not.
func (s *Server) consoleWho(w http.ResponseWriter, r *http.Request, post bool) (string, bool) {
	sess := s.signedIn(w, r)
	if sess == nil {
		return "", false
	}
	if post {
		// The console's forms are larger than the member pages' (a
		// message to attendees of 20,000 bytes, a list's four texts),
		// and URL-encoded French triples in size: read them whole here,
		// then check their token.
		r.Body = http.MaxBytesReader(w, r.Body, consoleFormMax)
		if err := r.ParseForm(); err != nil {
			status(w, http.StatusRequestEntityTooLarge)
			return "", false
		}
		if !s.checkCSRF(w, r) {
			return "", false
		}
	}
	if !sess.Strong {
		s.page(w, r, http.StatusForbidden, "web/error", errorPage{Reason: "strong-console"})
		return "", false
	}
	return sess.Email, true
}

// consoleErr answers the errors of the console; false when there was none.
func (s *Server) consoleErr(w http.ResponseWriter, r *http.Request, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrNotYours):
		s.page(w, r, http.StatusNotFound, "web/error", errorPage{Reason: "console-notfound"})
	case errors.Is(err, ErrNoRole):
		s.page(w, r, http.StatusForbidden, "web/error", errorPage{Reason: "norole"})
	default:
		s.fail(w, r, "console", err)
	}
	return true
}

// consoleDone are the notices a redirect may ask a console page to show.
var consoleDone = map[string]bool{"approved": true, "rejected": true, "accepted": true, "banned": true, "decided": true,
	"saved": true, "created": true, "updated": true, "cancelled": true, "sent": true, "removed": true, "enabled": true,
	"sender": true}

func doneWord(r *http.Request) string {
	if d := r.URL.Query().Get("done"); consoleDone[d] {
		return d
	}
	return ""
}
