package privacy

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"codeberg.org/relais/relais/store"
)

// Export is everything the hub holds about one address, as `relais member
// export` writes it (JSON). Nothing in it names another person: the
// operators of a ticket show as the queue's address, internal notes are
// left out.
type Export struct {
	Address    string    `json:"address"`
	ExportedAt time.Time `json:"exported_at"`
	// LogPseudonym is how log lines name the address when log.pseudonymize
	// is on.
	LogPseudonym string `json:"log_pseudonym"`

	GroupsAnimated []Group         `json:"groups_animated"`
	ListRoles      []ListRole      `json:"list_roles"`
	QueuesOperated []string        `json:"support_queues_operated"`
	Subscriptions  []Subscription  `json:"subscriptions"`
	Digest         *Digest         `json:"digest"`
	Attendance     []Attendance    `json:"attendance"`
	Tickets        []Ticket        `json:"tickets"`
	Bounces        []Bounce        `json:"bounces"`
	HeldPosts      []Held          `json:"held_posts"`
	QueuedMail     []Delivery      `json:"queued_mail"`
	DeliveredMail  []Delivery      `json:"delivered_mail"`
	Posts          []Post          `json:"posts"`
	Confirmations  []Confirmation  `json:"confirmations"`
	MessagesKept   []MessageKept   `json:"messages_kept"`
	Counters       RateLimitCounts `json:"rate_limit_records"`
	Web            Web             `json:"web"`
	// SenderRules are the lists that always accept or ban the address;
	// Audit the changes it made, or that name it (console, API, mail).
	SenderRules []SenderRule `json:"sender_rules"`
	Audit       []AuditEntry `json:"audit"`
}

// SenderRule is a list's rule for the address.
type SenderRule struct {
	List  string    `json:"list"`
	Rule  string    `json:"rule"`
	Since time.Time `json:"since"`
}

// AuditEntry is a change the address made, or that names it.
type AuditEntry struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Via    string    `json:"via"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Detail string    `json:"detail,omitempty"`
}

// Web is what the members' pages hold: links mailed to the address (to
// sign in, to confirm an attendance), and its open sessions.
type Web struct {
	Links    int `json:"links_mailed"`
	Sessions int `json:"sessions"`
	// AppPasswords are the passwords made for the archives over IMAP
	// (only their labels and dates: the hub keeps a keyed hash).
	AppPasswords []AppPassword `json:"app_passwords"`
}

// AppPassword is an app password of the address, as the export shows it.
type AppPassword struct {
	Name    string     `json:"name"`
	Created time.Time  `json:"created"`
	Used    *time.Time `json:"last_used,omitempty"`
}

// Group is a group the address animates.
type Group struct {
	Address string `json:"address"`
	Name    string `json:"name"`
}

// ListRole is a list the address owns or moderates.
type ListRole struct {
	List string `json:"list"`
	Role string `json:"role"` // owner, moderator
}

// Subscription is a list membership with its consent record.
type Subscription struct {
	List         string     `json:"list"`
	State        string     `json:"state"` // active, bouncing, unsubscribed
	Mode         string     `json:"mode"`  // each, daily, weekly
	Paused       bool       `json:"paused"`
	ResumeAt     *time.Time `json:"resume_at,omitempty"`
	Lang         string     `json:"lang"`
	ConsentAt    *time.Time `json:"consent_at"`
	ConsentHow   string     `json:"consent_how"`
	LeftAt       *time.Time `json:"left_at,omitempty"`
	LeftHow      string     `json:"left_how,omitempty"`
	BounceScore  float64    `json:"bounce_score"`
	LastBounceAt *time.Time `json:"last_bounce_at,omitempty"`
	// Admitted: an owner, the platform or an operator made them one of
	// the groups' members (members-only events).
	Admitted bool `json:"admitted"`
}

// Digest is the weekly agenda's settings, with the weeks it was sent.
type Digest struct {
	PostCode  string     `json:"postcode"`
	INSEE     string     `json:"insee"`
	Place     string     `json:"place"`
	Lat       float64    `json:"lat"`
	Lon       float64    `json:"lon"`
	RadiusKm  int        `json:"radius_km"`
	Lang      string     `json:"lang"`
	Zone      string     `json:"zone"`
	Themes    []string   `json:"themes"`
	Active    bool       `json:"active"`
	CreatedAt *time.Time `json:"created_at"`
	UpdatedAt *time.Time `json:"updated_at"`
	Sent      []Week     `json:"weeks_sent"`
}

// Week is one weekly digest sent.
type Week struct {
	Week   string     `json:"week"`
	SentAt *time.Time `json:"sent_at"`
}

// Attendance is an event the address said it would attend.
type Attendance struct {
	Event      string     `json:"event_uid"`
	Title      string     `json:"title"`
	Start      *time.Time `json:"start"`
	Since      *time.Time `json:"since"`
	RemindedAt *time.Time `json:"reminded_at,omitempty"`
}

// Ticket is a support request the address made or was brought into.
type Ticket struct {
	Number    int64           `json:"number"`
	Queue     string          `json:"queue"`
	Subject   string          `json:"subject"`
	State     string          `json:"state"`
	Role      string          `json:"role"` // requester, participant
	OpenedAt  *time.Time      `json:"opened_at"`
	UpdatedAt *time.Time      `json:"updated_at"`
	ClosedAt  *time.Time      `json:"closed_at,omitempty"`
	Messages  []TicketMessage `json:"messages"`
}

// TicketMessage is one message of a ticket: what they wrote, what they
// were answered.
type TicketMessage struct {
	Kind string     `json:"kind"` // request, reply, answer, ack
	From string     `json:"from"` // the address, or the queue's
	At   *time.Time `json:"at"`
	Text string     `json:"text"`
}

// Bounce is a delivery status notification about mail to the address.
type Bounce struct {
	Delivery   int64      `json:"delivery"`
	ReceivedAt *time.Time `json:"received_at"`
	Action     string     `json:"action"`
	Status     string     `json:"status"`
	Diagnostic string     `json:"diagnostic"`
}

// Held is a post of theirs held for moderators.
type Held struct {
	List      string     `json:"list"`
	Reason    string     `json:"reason"`
	State     string     `json:"state"`
	HeldAt    *time.Time `json:"held_at"`
	DecidedAt *time.Time `json:"decided_at,omitempty"`
}

// Delivery is a copy of a message to the address the queue knows of.
type Delivery struct {
	ID          int64      `json:"id"`
	Kind        string     `json:"kind"` // forward, list-post, digest, notice, ticket…
	State       string     `json:"state"`
	Attempts    int        `json:"attempts"`
	QueuedAt    *time.Time `json:"queued_at"`
	UpdatedAt   *time.Time `json:"updated_at"`
	NextAttempt *time.Time `json:"next_attempt,omitempty"`
	LastReply   string     `json:"last_reply"`
}

// Post is one of their posts in a list's archive (whole in the mbox file).
type Post struct {
	List     string     `json:"list"`
	Subject  string     `json:"subject"`
	PostedAt *time.Time `json:"posted_at"`
}

// Confirmation is a confirmation the hub asked them for.
type Confirmation struct {
	List      string     `json:"list"`
	Kind      string     `json:"kind"`
	CreatedAt *time.Time `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
	UsedAt    *time.Time `json:"used_at,omitempty"`
}

// MessageKept is a message they sent that the hub still holds.
type MessageKept struct {
	ID         string     `json:"id"`
	ReceivedAt *time.Time `json:"received_at"`
	Size       int64      `json:"size"`
}

// RateLimitCounts are the records the hourly limits keep of the address.
type RateLimitCounts struct {
	SubscriptionRequests int `json:"subscription_requests"`
	CommandAnswers       int `json:"command_answers"`
	DeskAcknowledgements int `json:"desk_acknowledgements"`
}

// ErrUnknown: the hub holds nothing about the address.
var ErrUnknown = errors.New("privacy: the hub holds nothing about this address")

// Export reads everything the hub holds about email; posts receives each
// of their archived posts whole (for an mbox file) when not nil. domain is
// the hub's first domain, for list and queue addresses.
func ExportOf(ctx context.Context, db *store.DB, domain, email string, now time.Time, posts func(PostBody) error) (Export, error) {
	email = normal(email)
	logSecret, err := db.Secret(ctx, LogSecret)
	if err != nil {
		return Export{}, err
	}
	x := Export{Address: email, ExportedAt: now.UTC().Truncate(time.Second), LogPseudonym: Pseudonym(logSecret, email)}
	addr := func(code, name string) string { return code + "." + name + "@" + domain }
	r := db.Reader(ctx)
	each := func(query string, scan func(*sql.Rows) error, args ...any) {
		if err != nil {
			return
		}
		var rows *sql.Rows
		if rows, err = r.Query(query, args...); err != nil {
			return
		}
		for rows.Next() && err == nil {
			err = scan(rows)
		}
		err = errors.Join(err, rows.Err(), rows.Close())
	}
	each("person.groups", func(s *sql.Rows) error {
		var code, name string
		var g Group
		err := s.Scan(&code, &name, &g.Name)
		g.Address = addr(code, name)
		x.GroupsAnimated = append(x.GroupsAnimated, g)
		return err
	}, email)
	each("person.list-roles", func(s *sql.Rows) error {
		var code, name string
		var l ListRole
		err := s.Scan(&code, &name, &l.Role)
		l.List = addr(code, name)
		x.ListRoles = append(x.ListRoles, l)
		return err
	}, email)
	each("person.queues", func(s *sql.Rows) error {
		var q string
		err := s.Scan(&q)
		x.QueuesOperated = append(x.QueuesOperated, q+"@"+domain)
		return err
	}, email)
	each("person.subscriptions", func(s *sql.Rows) error {
		var code, name string
		var sub Subscription
		var resume, consent, left, bounceAt int64
		err := s.Scan(&code, &name, &sub.State, &sub.Mode, &sub.Paused, &resume, &sub.Lang, &consent, &sub.ConsentHow,
			&left, &sub.LeftHow, &sub.BounceScore, &bounceAt, &sub.Admitted)
		sub.List, sub.ResumeAt, sub.ConsentAt, sub.LeftAt, sub.LastBounceAt = addr(code, name), at(resume), at(consent), at(left), at(bounceAt)
		x.Subscriptions = append(x.Subscriptions, sub)
		return err
	}, email)
	if err != nil {
		return x, err
	}
	var d Digest
	var themes string
	var created, updated int64
	var link string
	err = r.QueryRow("agenda.member", email).Scan(new(string), &d.PostCode, &d.INSEE, &d.Place, &d.Lat, &d.Lon, &d.RadiusKm,
		&d.Lang, &d.Zone, &themes, &d.Active, &created, &updated, &link)
	switch {
	case err == nil:
		d.CreatedAt, d.UpdatedAt, d.Themes = at(created), at(updated), []string{}
		if themes != "" {
			d.Themes = strings.Split(themes, ",")
		}
		x.Digest = &d
	case errors.Is(err, sql.ErrNoRows):
		err = nil
	default:
		return x, err
	}
	each("person.digests", func(s *sql.Rows) error {
		var w Week
		var sent int64
		err := s.Scan(&w.Week, &sent)
		w.SentAt = at(sent)
		if x.Digest != nil {
			x.Digest.Sent = append(x.Digest.Sent, w)
		}
		return err
	}, email)
	each("person.attendance", func(s *sql.Rows) error {
		var a Attendance
		var start, since, reminded int64
		var zone, lang string
		err := s.Scan(&a.Event, &a.Title, &start, &zone, &lang, &since, &reminded)
		a.Start, a.Since, a.RemindedAt = at(start), at(since), at(reminded)
		x.Attendance = append(x.Attendance, a)
		return err
	}, email)
	each("person.tickets", func(s *sql.Rows) error {
		var t Ticket
		var requester string
		var opened, updated, closed int64
		err := s.Scan(&t.Number, &t.Queue, &t.Subject, &t.State, &requester, &opened, &updated, &closed)
		t.OpenedAt, t.UpdatedAt, t.ClosedAt = at(opened), at(updated), at(closed)
		t.Role = "participant"
		if requester == email {
			t.Role = "requester"
		}
		t.Queue += "@" + domain
		x.Tickets = append(x.Tickets, t)
		return err
	}, email)
	for i := range x.Tickets {
		t := &x.Tickets[i]
		each("person.ticket-messages", func(s *sql.Rows) error {
			var m TicketMessage
			var when int64
			err := s.Scan(&m.Kind, &m.From, &m.Text, &when)
			m.At = at(when)
			if m.From != email {
				m.From = t.Queue // never an operator's own address
			}
			t.Messages = append(t.Messages, m)
			return err
		}, t.Number)
	}
	each("person.deliveries", func(s *sql.Rows) error {
		var d Delivery
		var created, updated, next int64
		err := s.Scan(&d.ID, &d.Kind, &d.State, &d.Attempts, &created, &updated, &next, &d.LastReply)
		d.QueuedAt, d.UpdatedAt = at(created), at(updated)
		if d.State == "queued" {
			d.NextAttempt = at(next)
			x.QueuedMail = append(x.QueuedMail, d)
		} else {
			x.DeliveredMail = append(x.DeliveredMail, d)
		}
		return err
	}, email)
	each("person.bounces", func(s *sql.Rows) error {
		var b Bounce
		var when int64
		err := s.Scan(&b.Delivery, &when, &b.Action, &b.Status, &b.Diagnostic)
		b.ReceivedAt = at(when)
		x.Bounces = append(x.Bounces, b)
		return err
	}, email)
	each("person.held", func(s *sql.Rows) error {
		var h Held
		var code, name string
		var heldAt, decided int64
		err := s.Scan(&code, &name, &h.Reason, &h.State, &heldAt, &decided)
		h.List, h.HeldAt, h.DecidedAt = addr(code, name), at(heldAt), at(decided)
		x.HeldPosts = append(x.HeldPosts, h)
		return err
	}, email)
	each("person.posts", func(s *sql.Rows) error {
		var p PostBody
		var code, name string
		var posted int64
		err := s.Scan(&p.ID, &code, &name, &p.Subject, &posted, &p.Body)
		p.List, p.PostedAt, p.Poster = addr(code, name), time.Unix(posted, 0), email
		x.Posts = append(x.Posts, Post{List: p.List, Subject: p.Subject, PostedAt: at(posted)})
		if err == nil && posts != nil {
			err = posts(p)
		}
		return err
	}, email)
	each("person.tokens", func(s *sql.Rows) error {
		var c Confirmation
		var code, name string
		var created, expires, used int64
		err := s.Scan(&code, &name, &c.Kind, &created, &expires, &used)
		c.List, c.CreatedAt, c.ExpiresAt, c.UsedAt = addr(code, name), at(created), at(expires), at(used)
		x.Confirmations = append(x.Confirmations, c)
		return err
	}, email)
	each("person.sent", func(s *sql.Rows) error {
		var m MessageKept
		var when int64
		err := s.Scan(&m.ID, &when, &m.Size)
		m.ReceivedAt = at(when)
		x.MessagesKept = append(x.MessagesKept, m)
		return err
	}, email)
	each("sender.of-person", func(s *sql.Rows) error {
		var code, name string
		var r SenderRule
		var since int64
		err := s.Scan(&code, &name, &r.Rule, &since)
		r.List, r.Since = addr(code, name), time.Unix(since, 0).UTC()
		x.SenderRules = append(x.SenderRules, r)
		return err
	}, email)
	each("audit.of-person", func(s *sql.Rows) error {
		var a AuditEntry
		var when int64
		err := s.Scan(&when, &a.Actor, &a.Via, &a.Action, &a.Target, &a.Detail)
		a.At = time.Unix(when, 0).UTC()
		x.Audit = append(x.Audit, a)
		return err
	}, email)
	if err != nil {
		return x, err
	}
	c := &x.Counters
	if err := r.QueryRow("person.counters", email).Scan(&c.SubscriptionRequests, &c.CommandAnswers, &c.DeskAcknowledgements); err != nil {
		return x, err
	}
	pw, err := r.Query("apppass.of", email)
	if err != nil {
		return x, err
	}
	for pw.Next() {
		var id, created, used int64
		var name, hash string
		if err := pw.Scan(&id, &name, &hash, &created, &used); err != nil {
			pw.Close()
			return x, err
		}
		a := AppPassword{Name: name, Created: time.Unix(created, 0).UTC()}
		if used > 0 {
			u := time.Unix(used, 0).UTC()
			a.Used = &u
		}
		x.Web.AppPasswords = append(x.Web.AppPasswords, a)
	}
	if err := errors.Join(pw.Err(), pw.Close()); err != nil {
		return x, err
	}
	if err := r.QueryRow("person.web", email).Scan(&x.Web.Links, &x.Web.Sessions); err != nil {
		return x, err
	}
	if x.empty() {
		return x, ErrUnknown
	}
	return x, nil
}

func (x Export) empty() bool {
	return len(x.GroupsAnimated)+len(x.ListRoles)+len(x.QueuesOperated)+len(x.Subscriptions)+len(x.Attendance)+
		len(x.Tickets)+len(x.Bounces)+len(x.HeldPosts)+len(x.QueuedMail)+len(x.DeliveredMail)+len(x.Posts)+
		len(x.Confirmations)+len(x.MessagesKept)+x.Counters.SubscriptionRequests+x.Counters.CommandAnswers+
		x.Counters.DeskAcknowledgements+x.Web.Links+x.Web.Sessions+len(x.SenderRules)+len(x.Audit)+len(x.Web.AppPasswords) == 0 && x.Digest == nil
}

// WriteJSON writes x indented, lists never null.
func (x Export) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	e.SetEscapeHTML(false)
	return e.Encode(x)
}

// PostBody is an archived post, whole.
type PostBody struct {
	ID       int64
	List     string
	Poster   string
	Subject  string
	PostedAt time.Time
	Body     []byte
}

// MboxWriter writes posts as an mbox file (mboxrd: "From " lines in bodies
// get one more '>'), LF line ends.
type MboxWriter struct {
	w *bufio.Writer
	n int
}

// NewMbox returns an MboxWriter on w; call Flush at the end.
func NewMbox(w io.Writer) *MboxWriter { return &MboxWriter{w: bufio.NewWriter(w)} }

// Write adds one post.
func (m *MboxWriter) Write(p PostBody) error {
	fmt.Fprintf(m.w, "From %s %s\n", p.Poster, p.PostedAt.UTC().Format(time.ANSIC))
	body := bytes.ReplaceAll(p.Body, []byte("\r\n"), []byte("\n"))
	for _, line := range bytes.SplitAfter(body, []byte("\n")) {
		if bytes.HasPrefix(bytes.TrimLeft(line, ">"), []byte("From ")) {
			m.w.WriteByte('>')
		}
		m.w.Write(line)
	}
	if !bytes.HasSuffix(body, []byte("\n")) {
		m.w.WriteByte('\n')
	}
	m.n++
	return m.w.WriteByte('\n')
}

// Count is how many posts were written.
func (m *MboxWriter) Count() int { return m.n }

// Flush writes what is buffered.
func (m *MboxWriter) Flush() error { return m.w.Flush() }
