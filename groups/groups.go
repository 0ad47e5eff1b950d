// Package groups is in charge of local groups: their coded address
// CODE.NAME, display name, commune and current animators, created one by one
// or imported from CSV, and of forwarding what is written to a group's
// address to its animators.
package groups

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/queue"
	"codeberg.org/relais/relais/store"
)

// Sentinel errors of package groups.
var (
	ErrNotFound = errors.New("groups: no such group")
	ErrExists   = errors.New("groups: group already exists")
)

// Group is a local group with its coded address.
type Group struct {
	ID          int64
	Code        address.Code
	Name        string // NAME in CODE.NAME
	DisplayName string // "Nantes Sud"
	Commune     string // postal code or INSEE code, "" if none
	Animators   []string
	Created     time.Time
}

// Local returns the local part of the group's address: "4405.nantes-sud".
func (g Group) Local() string { return g.Code.Local() + "." + g.Name }

// Address returns the group's address on domain.
func (g Group) Address(domain string) string { return g.Local() + "@" + domain }

// maxName bounds a group's display name, in characters.
const maxName = 200

// Validate checks a group before it is stored, with sentences an operator
// can act on.
func (g *Group) Validate() error {
	var errs []error
	if strings.TrimSpace(g.DisplayName) == "" {
		errs = append(errs, errors.New("a display name is required (--name)"))
	} else if utf8.RuneCountInString(g.DisplayName) > maxName {
		errs = append(errs, fmt.Errorf("a display name of at most %d characters", maxName))
	} else if strings.ContainsFunc(g.DisplayName, func(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' }) ||
		!utf8.ValidString(g.DisplayName) {
		// Header fields and feeds carry it: a line break would break them.
		errs = append(errs, errors.New("a display name of one line, without control characters"))
	}
	if err := CheckCommune(g.Commune, g.Code); err != nil {
		errs = append(errs, err)
	}
	if len(g.Animators) == 0 {
		errs = append(errs, errors.New("at least one animator address is required (--animator)"))
	}
	seen := make(map[string]bool)
	clean := g.Animators[:0:0]
	for _, a := range g.Animators {
		addr, err := mail.ParseAddress(a)
		if err != nil || !strings.Contains(addr.Address, ".") {
			errs = append(errs, fmt.Errorf("animator %q is not an email address", a))
			continue
		}
		k := strings.ToLower(addr.Address)
		if !seen[k] {
			seen[k] = true
			clean = append(clean, addr.Address)
		}
	}
	g.Animators = clean
	return errors.Join(errs...)
}

// CheckCommune accepts "" (no commune), a postal code (5 digits) or an INSEE
// commune code (5 characters, 2A/2B for Corsica), and checks that it lies in
// the group's département where the code says so. Postal codes follow
// départements except for a few communes served from a neighbouring one, so
// a mismatch there is only refused for INSEE codes, which never cross.
func CheckCommune(s string, code address.Code) error {
	if s == "" {
		return nil
	}
	if len(s) != 5 {
		return fmt.Errorf("commune %q: give a postal code (44200) or an INSEE code (44109)", s)
	}
	up := strings.ToUpper(s)
	for i, r := range up {
		if !(r >= '0' && r <= '9') && !(i == 1 && up[0] == '2' && (r == 'A' || r == 'B')) {
			return fmt.Errorf("commune %q: give a postal code (44200) or an INSEE code (44109)", s)
		}
	}
	if up[1] == 'A' || up[1] == 'B' { // an INSEE code in Corsica
		if code.Level != address.National && code.Departement != "99" && code.Departement != up[:2] {
			return fmt.Errorf("commune %s is in %s, not in %s", s, up[:2], code.Departement)
		}
	}
	return nil
}

// Add stores a new group.
func Add(ctx context.Context, db *store.DB, g Group) (Group, error) {
	if err := g.Validate(); err != nil {
		return g, err
	}
	err := db.Write(ctx, func(tx *store.Tx) error {
		var id int64
		err := tx.QueryRow("group.id-by-address", g.Code.String(), g.Name).Scan(&id)
		if err == nil {
			return fmt.Errorf("%w: %s", ErrExists, g.Local())
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		return insert(tx, &g)
	})
	return g, err
}

func insert(tx *store.Tx, g *Group) error {
	g.Created = time.Now().Truncate(time.Second)
	res, err := tx.Exec("group.insert", g.Code.String(), g.Name, g.DisplayName, strings.ToUpper(g.Commune), g.Created.Unix())
	if err != nil {
		return err
	}
	if g.ID, err = res.LastInsertId(); err != nil {
		return err
	}
	return setAnimators(tx, g.ID, g.Animators)
}

func setAnimators(tx *store.Tx, id int64, animators []string) error {
	if _, err := tx.Exec("animator.clear", id); err != nil {
		return err
	}
	for _, a := range animators {
		if _, err := tx.Exec("animator.add", id, a); err != nil {
			return err
		}
	}
	return nil
}

// Update replaces a group's display name, commune and animators.
func Update(ctx context.Context, db *store.DB, g Group) (Group, error) {
	if err := g.Validate(); err != nil {
		return g, err
	}
	err := db.Write(ctx, func(tx *store.Tx) error {
		if err := tx.QueryRow("group.id-by-address", g.Code.String(), g.Name).Scan(&g.ID); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: %s", ErrNotFound, g.Local())
		} else if err != nil {
			return err
		}
		if _, err := tx.Exec("group.update", g.DisplayName, strings.ToUpper(g.Commune), g.ID); err != nil {
			return err
		}
		return setAnimators(tx, g.ID, g.Animators)
	})
	return g, err
}

// Remove deletes the group at local ("4405.nantes-sud"). Mail already
// accepted for it is answered with a notice to its sender.
func Remove(ctx context.Context, db *store.DB, local string) error {
	code, name, err := address.GroupLocal(local)
	if err != nil {
		return err
	}
	return db.Write(ctx, func(tx *store.Tx) error {
		var id int64
		if err := tx.QueryRow("group.id-by-address", code.String(), name).Scan(&id); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: %s", ErrNotFound, local)
		} else if err != nil {
			return err
		}
		_, err := tx.Exec("group.delete", id)
		removed(tx)
		return err
	})
}

// Lookup returns the id of the group with this code and name.
func Lookup(ctx context.Context, db *store.DB, code address.Code, name string) (int64, error) {
	var id int64
	err := db.QueryRow(ctx, "group.id-by-address", code.String(), name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	return id, err
}

// LookupTx is Lookup inside a write.
func LookupTx(tx *store.Tx, code address.Code, name string) (int64, error) {
	var id int64
	err := tx.QueryRow("group.id-by-address", code.String(), name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	return id, err
}

// LookupCached is Lookup for the question every RCPT asks: what it finds
// is kept for lookupTTL, so that a stream of mail to one group costs one
// read, not one per message, which counts on PostgreSQL, where a read is
// a round trip to the server. Only groups found are kept: one created is
// found at once. One removed in this process is forgotten at the commit
// that removes it; one removed by another process (the command line,
// another node) may still be found for lookupTTL: the handlers, which
// read the group by its id in their transaction, then read the address
// again (LookupTx), so that mail accepted meanwhile goes to the group
// that now has the address, or its sender is told there is none.
func LookupCached(ctx context.Context, db *store.DB, code address.Code, name string) (int64, error) {
	k := lookupKey{db: db, code: code.String(), name: name}
	gen := removals.Load()
	now := time.Now()
	lookups.Lock()
	e, ok := lookups.m[k]
	lookups.Unlock()
	if ok && e.gen == gen && now.Sub(e.at) < lookupTTL {
		return e.id, nil
	}
	id, err := Lookup(ctx, db, code, name)
	if err != nil {
		return 0, err
	}
	lookups.Lock()
	if lookups.m == nil || len(lookups.m) >= lookupMax {
		lookups.m = make(map[lookupKey]lookupEntry)
	}
	lookups.m[k] = lookupEntry{id: id, gen: gen, at: now}
	lookups.Unlock()
	return id, nil
}

// lookupTTL is how long LookupCached keeps a group it found; lookupMax
// how many it keeps at most.
var lookupTTL = 2 * time.Second

const lookupMax = 4096

type lookupKey struct {
	db         *store.DB
	code, name string
}

type lookupEntry struct {
	id  int64
	gen uint64 // removals when it was read
	at  time.Time
}

var (
	lookups struct {
		sync.Mutex
		m map[lookupKey]lookupEntry
	}
	// removals counts the commits that removed groups in this process:
	// what LookupCached kept before one is not used after it.
	removals atomic.Uint64
)

// removed makes LookupCached forget what it kept once tx, which removes
// groups, commits.
func removed(tx *store.Tx) {
	tx.AfterCommit(func() { removals.Add(1) })
}

type queryRower interface {
	QueryRow(name string, args ...any) *sql.Row
	Query(name string, args ...any) (*sql.Rows, error)
}

// get reads group id, with its animators, inside a transaction.
func get(tx queryRower, id int64) (Group, error) {
	g, err := scanGroup(tx.QueryRow("group.get", id))
	if errors.Is(err, sql.ErrNoRows) {
		return g, ErrNotFound
	} else if err != nil {
		return g, err
	}
	rows, err := tx.Query("animator.list", id)
	if err != nil {
		return g, err
	}
	defer rows.Close()
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return g, err
		}
		g.Animators = append(g.Animators, a)
	}
	return g, rows.Err()
}

type scanner interface{ Scan(...any) error }

func scanGroup(row scanner) (Group, error) {
	var g Group
	var code string
	var created int64
	if err := row.Scan(&g.ID, &code, &g.Name, &g.DisplayName, &g.Commune, &created); err != nil {
		return g, err
	}
	c, err := address.ParseCode(code)
	if err != nil {
		return g, fmt.Errorf("groups: stored code of group %d: %w", g.ID, err)
	}
	g.Code, g.Created = c, time.Unix(created, 0)
	return g, nil
}

// List returns every group with its animators, by code then name.
func List(ctx context.Context, db *store.DB) ([]Group, error) {
	rows, err := db.Query(ctx, "group.list")
	if err != nil {
		return nil, err
	}
	var out []Group
	index := make(map[int64]int)
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		index[g.ID] = len(out)
		out = append(out, g)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	rows, err = db.Query(ctx, "animator.all")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var a string
		if err := rows.Scan(&id, &a); err != nil {
			return nil, err
		}
		if i, ok := index[id]; ok {
			out[i].Animators = append(out[i].Animators, a)
		}
	}
	return out, rows.Err()
}

// Forward queues the message of inbound recipient in, written to the group
// groupID, to the group's current animators.
//
// The message goes out as it came in, with two header fields prepended:
// Delivered-To (the group address, so that a copy coming back is refused as
// a loop, as Postfix does) and nothing else. From and Reply-To are kept
// byte for byte, so that an animator's reply goes to the writer and the
// writer's DKIM signature still verifies: adding a Reply-To would break the
// signature of every sender whose signer oversigns Reply-To (rspamd's
// default), and with it their DMARC. The envelope sender is the hub's VERP
// address, so bounces come back to the hub and never to the writer.
func Forward(tx *store.Tx, q *queue.Queue, groupID int64, in Inbound) error {
	var g Group
	var err error
	if tx.Engine() == store.Postgres {
		g, err = getWithAnimators(tx, groupID)
	} else {
		g, err = get(tx, groupID)
	}
	if err != nil {
		return err
	}
	if len(g.Animators) == 0 {
		return fmt.Errorf("%w: %s has no animator", ErrNotFound, g.Local())
	}
	prefix := fmt.Sprintf("Delivered-To: %s\r\n", strings.ToLower(in.Rcpt))
	_, err = q.Enqueue(tx, queue.Message{
		MessageID: in.MessageID,
		Prefix:    []byte(prefix),
		To:        g.Animators,
		Kind:      "forward",
		InboundID: in.ID,
	})
	return err
}

// Inbound is the accepted message and recipient a handler acts on.
type Inbound struct {
	ID        int64  // inbound recipient row
	MessageID string // body in the messages table
	Rcpt      string // the group address as the sender wrote it
}

// getWithAnimators is get in one round trip (PostgreSQL: the animators
// come as one string, a line each).
func getWithAnimators(tx queryRower, id int64) (Group, error) {
	var g Group
	var code, animators string
	var created int64
	err := tx.QueryRow("group.get-with-animators", id).Scan(&g.ID, &code, &g.Name, &g.DisplayName, &g.Commune, &created, &animators)
	if errors.Is(err, sql.ErrNoRows) {
		return g, ErrNotFound
	} else if err != nil {
		return g, err
	}
	c, err := address.ParseCode(code)
	if err != nil {
		return g, fmt.Errorf("groups: stored code of group %d: %w", g.ID, err)
	}
	g.Code, g.Created = c, time.Unix(created, 0)
	if animators != "" {
		g.Animators = strings.Split(animators, "\n")
	}
	return g, nil
}

// Load reads group id, with its animators, inside a transaction.
func Load(tx *store.Tx, id int64) (Group, error) { return get(tx, id) }
