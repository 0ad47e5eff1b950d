// Package tickets is in charge of the support desk run by email: queues
// (support@, juridique@, …) and their operators, tickets opened by a new
// mail, the reply keys (QUEUE+KEY@) that thread every answer and say who
// is writing, matching incoming mail to a ticket, trimming replies for
// display, the commands operators write at the top of a reply, the states
// of a ticket, and the guards that keep auto-responders from looping.
//
// Identity comes from the key, never from the From field alone: only mail
// through an operator's key (or threaded under a Message-ID of ours made
// for that operator, from that operator's address) gets operator powers.
package tickets

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/queue"
	"codeberg.org/relais/relais/store"
	"codeberg.org/relais/relais/templates"
)

// Sentinel errors of package tickets.
var (
	ErrNotFound = errors.New("tickets: not found")
	ErrBadKey   = errors.New("tickets: not a key of this queue")
)

// KindTicket is the outbound kind of everything the desk sends.
const KindTicket = "ticket"

// LoopHeader marks mail the desk sends; mail coming back with it is
// dropped.
const LoopHeader = "X-Loop"

// States of a ticket.
const (
	StateNew     = "new"     // nobody answered yet
	StateOpen    = "open"    // in the hands of the operators
	StatePending = "pending" // waiting on the requester
	StateSolved  = "solved"  // answered; closes by itself after a while
	StateClosed  = "closed"
)

// States lists the states in their order of life.
var States = []string{StateNew, StateOpen, StatePending, StateSolved, StateClosed}

// Config is what the desk needs to know.
type Config struct {
	Domain   string // of the queue addresses
	Hostname string // of Message-IDs
	Lang     string // default language
	// KeyTTL: how long a reply key works.
	KeyTTL time.Duration
	// ReopenWithin: a reply to a closed ticket within this time reopens
	// it; a later one opens a new ticket that follows the old one.
	ReopenWithin time.Duration
	// CloseSolvedAfter: a solved ticket nobody wrote to is closed after
	// this time.
	CloseSolvedAfter time.Duration
	// AcksPerHour: acknowledgements sent to one address in an hour at most.
	AcksPerHour int
	// MaxFileBytes: attachments of a message larger than this are not
	// passed on; the writer is told.
	MaxFileBytes int64
	// AuthservID is the id of the Authentication-Results field the hub
	// adds to what it receives: operator powers need a proven From, and
	// nothing is sent back to a forged one. "": every From is believed.
	AuthservID string
	Now        func() time.Time
}

// Service is the desk.
type Service struct {
	db     *store.DB
	q      *queue.Queue
	texts  *templates.Set
	cfg    Config
	log    *slog.Logger
	secret []byte
}

// New prepares the desk; its secret seals the reply keys.
func New(ctx context.Context, db *store.DB, q *queue.Queue, texts *templates.Set, cfg Config, log *slog.Logger) (*Service, error) {
	secret, err := db.Secret(ctx, "tickets")
	if err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Lang == "" {
		cfg.Lang = "fr"
	}
	return &Service{db: db, q: q, texts: texts, cfg: cfg, log: log, secret: secret}, nil
}

func (s *Service) now() time.Time { return s.cfg.Now() }

// Queue is one desk address and the operators who answer it.
type Queue struct {
	ID          int64
	Name        string // the local part: support
	DisplayName string // "Support national"
	Lang        string
	Operators   []string
}

// Address returns the queue's address, with +detail when given.
func (s *Service) Address(q Queue, detail string) string {
	if detail == "" {
		return q.Name + "@" + s.cfg.Domain
	}
	return q.Name + "+" + detail + "@" + s.cfg.Domain
}

// ValidateQueue checks a queue's name against the address grammar on
// domain: a plain local part that is not postmaster, abuse or bounces.
func ValidateQueue(q *Queue, domain string) error {
	q.Name = strings.ToLower(strings.TrimSpace(q.Name))
	a, err := address.Parse(q.Name+"@"+domain, []string{domain})
	if err != nil || a.Kind != address.Service || a.Detail != "" || q.Name == "agenda" {
		return fmt.Errorf("tickets: %q cannot be a queue: a queue is a plain name (support, juridique), not a group code nor postmaster, abuse, bounces or agenda", q.Name)
	}
	if q.Lang == "" {
		q.Lang = "fr"
	}
	if q.Lang != "fr" && q.Lang != "en" {
		return fmt.Errorf("tickets: language %q: fr or en", q.Lang)
	}
	if len(q.Operators) == 0 {
		return fmt.Errorf("tickets: queue %s needs at least one operator", q.Name)
	}
	for i, op := range q.Operators {
		op = strings.ToLower(strings.TrimSpace(op))
		if at := strings.LastIndexByte(op, '@'); at <= 0 || at == len(op)-1 {
			return fmt.Errorf("tickets: operator %q is not an address", op)
		}
		q.Operators[i] = op
	}
	return nil
}

// SaveQueue creates queue q or replaces its settings and operators.
func SaveQueue(ctx context.Context, db *store.DB, domain string, q Queue, now time.Time) (Queue, error) {
	if err := ValidateQueue(&q, domain); err != nil {
		return q, err
	}
	err := db.Write(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec("queue.insert", q.Name, q.DisplayName, q.Lang, now.Unix()); err != nil {
			return err
		}
		if err := tx.QueryRow("queue.by-name", q.Name).Scan(&q.ID, new(string), new(string), new(string)); err != nil {
			return err
		}
		if _, err := tx.Exec("queue.operator-clear", q.ID); err != nil {
			return err
		}
		for _, op := range q.Operators {
			if _, err := tx.Exec("queue.operator-add", q.ID, op); err != nil {
				return err
			}
		}
		return nil
	})
	return q, err
}

// querier is a transaction or the database's reader.
type querier interface {
	QueryRow(name string, args ...any) *sql.Row
	Query(name string, args ...any) (*sql.Rows, error)
}

func loadQueue(r querier, query string, arg any) (Queue, error) {
	var q Queue
	err := r.QueryRow(query, arg).Scan(&q.ID, &q.Name, &q.DisplayName, &q.Lang)
	if errors.Is(err, sql.ErrNoRows) {
		return q, ErrNotFound
	}
	if err != nil {
		return q, err
	}
	rows, err := r.Query("queue.operators", q.ID)
	if err != nil {
		return q, err
	}
	defer rows.Close()
	for rows.Next() {
		var op string
		if err := rows.Scan(&op); err != nil {
			return q, err
		}
		q.Operators = append(q.Operators, op)
	}
	return q, rows.Err()
}

// FindQueue returns the queue named name.
func FindQueue(ctx context.Context, db *store.DB, name string) (Queue, error) {
	return loadQueue(db.Reader(ctx), "queue.by-name", strings.ToLower(name))
}

// Queues returns every queue, by name.
func Queues(ctx context.Context, db *store.DB) ([]Queue, error) {
	r := db.Reader(ctx)
	rows, err := r.Query("queue.all")
	if err != nil {
		return nil, err
	}
	var names []string
	for rows.Next() {
		var q Queue
		if err := rows.Scan(&q.ID, &q.Name, &q.DisplayName, &q.Lang); err != nil {
			rows.Close()
			return nil, err
		}
		names = append(names, q.Name)
	}
	rows.Close()
	var out []Queue
	for _, n := range names {
		q, err := loadQueue(r, "queue.by-name", n)
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, nil
}

// Ticket is one request and its thread.
type Ticket struct {
	ID            int64 // the public number
	QueueID       int64
	Queue         string
	Subject       string
	Requester     string
	RequesterName string
	Lang          string
	State         string
	Assignee      string
	Follows       int64 // the closed ticket this one takes over from
	RootMsgID     string
	Created       time.Time
	Updated       time.Time
	Closed        time.Time
}

// Message is one message of a ticket.
type Message struct {
	ID       int64
	Kind     string // request, reply, answer, note, auto, ack
	Author   string
	HeaderID string
	Text     string
	At       time.Time
}

func scanTicket(sc interface{ Scan(...any) error }) (Ticket, error) {
	var t Ticket
	var c, u, cl int64
	err := sc.Scan(&t.ID, &t.QueueID, &t.Subject, &t.Requester, &t.RequesterName, &t.Lang, &t.State, &t.Assignee, &t.Follows, &t.RootMsgID, &c, &u, &cl)
	t.Created, t.Updated = time.Unix(c, 0), time.Unix(u, 0)
	if cl > 0 {
		t.Closed = time.Unix(cl, 0)
	}
	return t, err
}

func getTicket(r querier, id int64) (Ticket, error) {
	t, err := scanTicket(r.QueryRow("ticket.get", id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, ErrNotFound
	}
	return t, err
}

// List returns the tickets of queue in state; "" selects all.
func List(ctx context.Context, db *store.DB, queueName, state string) ([]Ticket, error) {
	rows, err := db.Reader(ctx).Query("ticket.list", strings.ToLower(queueName), state)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Ticket
	for rows.Next() {
		t, err := scanTicket(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Get returns ticket id with its messages, oldest first.
func Get(ctx context.Context, db *store.DB, id int64) (Ticket, []Message, error) {
	r := db.Reader(ctx)
	t, err := getTicket(r, id)
	if err != nil {
		return t, nil, err
	}
	if q, err := loadQueue(r, "queue.by-id", t.QueueID); err == nil {
		t.Queue = q.Name
	}
	rows, err := r.Query("tmsg.list", id)
	if err != nil {
		return t, nil, err
	}
	defer rows.Close()
	var ms []Message
	for rows.Next() {
		var m Message
		var at int64
		if err := rows.Scan(&m.ID, &m.Kind, &m.Author, &m.HeaderID, &m.Text, &at); err != nil {
			return t, nil, err
		}
		m.At = time.Unix(at, 0)
		ms = append(ms, m)
	}
	return t, ms, rows.Err()
}

// Raw returns message id of a ticket as it came or went, whole.
func Raw(ctx context.Context, db *store.DB, id int64) ([]byte, error) {
	var raw []byte
	err := db.QueryRow(ctx, "tmsg.raw", id).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return raw, err
}

// Route answers RCPT for NAME[+KEY]: the target the dispatcher gets back
// in Receive, ErrNotFound for no such queue, ErrBadKey for a key that was
// not sealed here for this queue. An expired key is accepted: the mail is
// matched by other means.
func (s *Service) Route(ctx context.Context, name, detail string) (string, error) {
	r := s.db.Reader(ctx)
	q, err := loadQueue(r, "queue.by-name", name)
	if err != nil {
		return "", err
	}
	target := fmt.Sprint(q.ID)
	if detail == "" {
		return target, nil
	}
	if _, ok := s.verify(r, q, detail, true); !ok {
		return "", ErrBadKey
	}
	return target + ":" + detail, nil
}

// holder is who a verified key was issued to.
type holder struct {
	key    ReplyKey
	email  string
	ticket Ticket
}

// verify checks key text k against queue q: sealed here for the person it
// names, on a ticket of q, and (unless anyAge) not expired.
func (s *Service) verify(r querier, q Queue, k string, anyAge bool) (holder, bool) {
	key, raw, ok := OpenKey(k)
	if !ok {
		return holder{}, false
	}
	var h holder
	var tid int64
	var role string
	if err := r.QueryRow("person.get", key.Person).Scan(&tid, &h.email, &role); err != nil || tid != key.Ticket {
		return holder{}, false
	}
	if !Check(s.secret, raw, h.email) {
		return holder{}, false
	}
	t, err := getTicket(r, key.Ticket)
	if err != nil || t.QueueID != q.ID {
		return holder{}, false
	}
	if !anyAge && !s.now().Before(key.Expires.Add(24*time.Hour)) {
		return holder{}, false
	}
	h.key, h.ticket = key, t
	return h, true
}

// Tick closes solved tickets nobody wrote to for CloseSolvedAfter, and
// forgets old acknowledgement counts.
func (s *Service) Tick(ctx context.Context) error {
	now := s.now()
	return s.db.Write(ctx, func(tx *store.Tx) error {
		rows, err := tx.Query("ticket.solved-before", now.Add(-s.cfg.CloseSolvedAfter).Unix())
		if err != nil {
			return err
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		for _, id := range ids {
			if err := setState(tx, id, StateClosed, now); err != nil {
				return err
			}
		}
		_, err = tx.Exec("ack.delete-old", now.Add(-time.Hour).Unix())
		return err
	})
}

func setState(tx *store.Tx, id int64, state string, now time.Time) error {
	_, err := tx.Exec("ticket.state", state, now.Unix(), state, now.Unix(), id)
	return err
}
