package web

import (
	"context"
	"errors"
	"io"
	"time"
)

// SignIn is what signing in asks of the hub: a link by mail, sessions.
type SignIn interface {
	// Request mails a sign-in link to email when the hub knows it and
	// neither it nor client asked for too many; the page says the same
	// whatever happens, so the error is an internal failure only. client
	// is what the caps count a client by: an IPv4 address or an IPv6 /64
	// (clientKey), as the request rate does.
	Request(ctx context.Context, email, lang, client string) error
	// Peek checks a sign-in link without using it (ErrBadToken).
	Peek(ctx context.Context, token string) error
	// Open uses a sign-in link and opens a session: the cookie's value.
	Open(ctx context.Context, token string) (Session, string, error)
	// Session returns the session of a cookie's value (ErrNoSession).
	Session(ctx context.Context, cookie string) (Session, error)
	// SignOut ends one session; SignOutEverywhere every session of email.
	SignOut(ctx context.Context, cookie string) error
	SignOutEverywhere(ctx context.Context, email string) error
}

// Session is a signed-in browser.
type Session struct {
	Email   string
	Lang    string // chosen on the pages, "" for none
	Strong  bool   // opened by a link mailed on request: may download or erase
	Key     string // what the CSRF token is bound to
	Expires time.Time
}

// ErrNoSession: the cookie names no open session.
var ErrNoSession = errors.New("web: no session")

// Members is what a member's page shows and does. email is always the
// signed-in address.
type Members interface {
	Page(ctx context.Context, email string) (MemberPage, error)
	// ChangeList changes a subscription: action is each, daily, weekly,
	// pause (until a date, or "" until they say), resume or leave. It
	// returns the outcome, as the page says it.
	ChangeList(ctx context.Context, email string, listID int64, action, until, client string) (string, error)
	// Join subscribes email to a list at once: the address is proven.
	Join(ctx context.Context, email, lang string, listID int64, client string) (string, error)
	// SetAgenda changes the weekly agenda's settings.
	SetAgenda(ctx context.Context, email, lang string, f AgendaForm) (AgendaOutcome, error)
	// Preview is next week's digest as it would be now.
	Preview(ctx context.Context, email string) (Preview, error)
	// Unattend: "je ne viens plus".
	Unattend(ctx context.Context, email string, eventID int64) error
	// SetLang records the language email chose.
	SetLang(ctx context.Context, email, lang string) error
	// Export writes everything the hub holds about email, as a zip file.
	Export(ctx context.Context, email string, w io.Writer) error
	// Erase erases email from the hub, unless it holds a role others
	// depend on (ErrHasRoles).
	Erase(ctx context.Context, email string) error
	// NewAppPassword makes an app password for the archives over IMAP,
	// labelled name: shown this once. RevokeAppPassword deletes one.
	NewAppPassword(ctx context.Context, email, name string) (string, error)
	RevokeAppPassword(ctx context.Context, email string, id int64) error
}

// ErrHasRoles: the person animates a group, owns or moderates a list, or
// operates a support queue; someone must take over first.
var ErrHasRoles = errors.New("web: the person holds roles")

// MemberPage is what a member's page shows.
type MemberPage struct {
	Email     string
	Lists     []ListRow // on, or left
	Joinable  []ListRow // under their groups' codes, not on
	Agenda    AgendaRow
	Attending []EventRow
	Roles     []string // groups, lists, queues they hold a role in
	// Archives they may read; their app passwords for IMAP, and where
	// their mail client finds the server ("" when it does not run).
	Archives     []ArchiveRow
	AppPasswords []AppPasswordRow
	IMAPHost     string
	IMAPPort     string
	IMAPSecurity string // starttls, tls, none
}

// AppPasswordRow is an app password on a member's page.
type AppPasswordRow struct {
	ID      int64
	Name    string
	Created string
	Used    string // "" for never
}

// ListRow is a list on a member's page.
type ListRow struct {
	ID      int64
	Address string
	Name    string
	State   string // active, bouncing, unsubscribed ("" for a list to join)
	Mode    string // each, daily, weekly
	Paused  bool
	Until   string // end of a pause, in words; "" until they say
}

// AgendaRow is the weekly agenda's settings on a member's page.
type AgendaRow struct {
	Member   bool // has an agenda record
	Active   bool
	PostCode string
	Place    string
	Radius   int
	Themes   string
	Lang     string
}

// AgendaForm is the agenda's settings as a member sent them.
type AgendaForm struct {
	Place  string // postal code or commune
	Radius string
	Themes string
	Active string // "on", "off" or "" for unchanged
}

// AgendaOutcome is what became of an AgendaForm.
type AgendaOutcome struct {
	Results     []Result
	Suggestions []string // communes the place may mean
}

// Result is what one setting did: Outcome as the agenda's answers by
// mail name it (place, radius, themes, stop, start, bad-place, bad-radius).
type Result struct {
	Outcome string
	Detail  string
}

// Preview is a member's next digest.
type Preview struct {
	Located   bool
	Empty     bool
	Place     string
	PostCode  string
	Radius    int
	Own       []PreviewEvent
	Near      []PreviewEvent
	Themes    []PreviewEvent
	Cancelled []PreviewEvent
}

// PreviewEvent is one event of a Preview.
type PreviewEvent struct {
	Title, When, Place, Distance, Organisers, Themes string
	MembersOnly                                      bool
}

// Agenda is what the public agenda's pages show. Only public events are
// in it.
type Agenda interface {
	// Search lists the events near a place within a radius, of a theme,
	// in date order.
	Search(ctx context.Context, q AgendaQuery, lang string) (AgendaPage, error)
	// Listing is the page of a feed: kind group, zone or theme (see
	// Feeds for its errors).
	Listing(ctx context.Context, kind, key, lang string) (AgendaPage, error)
	// Event is one public event (ErrNoFeed otherwise, ErrBadFeedName for
	// what cannot be a UID).
	Event(ctx context.Context, uid, lang string) (EventRow, error)
	// RequestAttend mails a confirmation link to email (the page says
	// the same whatever happens); AttendNow records a signed-in
	// member's attendance at once. client is as for SignIn.Request.
	RequestAttend(ctx context.Context, uid, email, lang, client string) error
	AttendNow(ctx context.Context, uid, email, lang string) error
	// PeekAttend and ConfirmAttend read and use a confirmation link
	// (ErrBadToken).
	PeekAttend(ctx context.Context, token, lang string) (EventRow, error)
	ConfirmAttend(ctx context.Context, token, lang string) (EventRow, error)
}

// AgendaQuery is a search of the public agenda.
type AgendaQuery struct {
	Place  string
	Radius string
	Theme  string
}

// AgendaPage is a list of public events.
type AgendaPage struct {
	Title       string // the group, territory or theme; "" for a search
	Kind, Key   string // of a listing, for its feed's link
	Feed        string // the .ics of the listing
	Query       AgendaQuery
	Place       string // the commune a search found
	Radius      int
	Problem     string // bad-place, bad-radius, bad-theme
	Suggestions []string
	Themes      []string // themes public events have, for the search form
	Events      []EventRow
}

// EventRow is a public event as the pages show it.
type EventRow struct {
	ID        int64
	UID       string
	Path      string // of its page
	Title     string
	When      string // in words, in the page's language
	Until     string
	Place     string
	Map       string // OpenStreetMap
	Groups    []string
	Themes    []string
	Details   string
	Calendar  string // .ics
	Cancelled bool
	Distance  string
}
