// Package access is in charge of who may see and change what in the
// console and the REST API. Roles come from the data, never from a form: a
// list's owners and moderators (list_owners), a group's animators
// (animators), a support queue's operators (queue_operators), and the
// hub's operators (the configuration's operators). API tokens are made by
// an operator (relais token create) with scopes; only a hash of each is
// kept, and a token can be revoked.
package access

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"codeberg.org/relais/relais/store"
)

// Roles are what a person holds on the hub.
type Roles struct {
	Email    string
	Operator bool             // one of the hub's operators: everything
	Lists    map[int64]string // list id → owner or moderator
	Groups   map[int64]bool   // groups they animate
	Queues   map[string]bool  // support queues they operate
}

// Of reads email's roles; operators are the configuration's.
func Of(ctx context.Context, db *store.DB, email string, operators []string) (Roles, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	r := Roles{Email: email, Lists: map[int64]string{}, Groups: map[int64]bool{}, Queues: map[string]bool{}}
	for _, o := range operators {
		if strings.EqualFold(strings.TrimSpace(o), email) {
			r.Operator = true
		}
	}
	read := func(query string, scan func(*sql.Rows) error) error {
		rows, err := db.Query(ctx, query, email)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	err := errors.Join(
		read("role.lists", func(s *sql.Rows) error {
			var id int64
			var role string
			err := s.Scan(&id, &role)
			r.Lists[id] = role
			return err
		}),
		read("role.groups", func(s *sql.Rows) error {
			var id int64
			err := s.Scan(&id)
			r.Groups[id] = true
			return err
		}),
		read("role.queues", func(s *sql.Rows) error {
			var q string
			err := s.Scan(&q)
			r.Queues[q] = true
			return err
		}))
	return r, err
}

// Any says whether the person holds any role: the console is theirs.
func (r Roles) Any() bool {
	return r.Operator || len(r.Lists) > 0 || len(r.Groups) > 0 || len(r.Queues) > 0
}

// Moderates: decide on the held posts of list id (owners, moderators,
// operators).
func (r Roles) Moderates(id int64) bool { return r.Operator || r.Lists[id] != "" }

// Owns: the members, settings and activity of list id (owners,
// operators).
func (r Roles) Owns(id int64) bool { return r.Operator || r.Lists[id] == "owner" }

// Animates: group id's page, its events and their attendees (its
// animators, operators).
func (r Roles) Animates(id int64) bool { return r.Operator || r.Groups[id] }

// AnimatesAny: an event organised by any of groups.
func (r Roles) AnimatesAny(groups []int64) bool {
	if r.Operator {
		return true
	}
	for _, g := range groups {
		if r.Groups[g] {
			return true
		}
	}
	return false
}

// ReadsQueue: the tickets of support queue name (its operators, the
// hub's operators), read only.
func (r Roles) ReadsQueue(name string) bool { return r.Operator || r.Queues[name] }

// Scopes a token may carry: what parts of the API it reaches.
var Scopes = []string{"groups", "lists", "members", "events", "held", "tickets"}

// Token is an API token, without its secret.
type Token struct {
	ID       int64     `json:"id"`
	Name     string    `json:"name"`
	Scopes   []string  `json:"scopes"`
	Created  time.Time `json:"created_at"`
	Revoked  time.Time `json:"revoked_at,omitzero"`
	LastUsed time.Time `json:"last_used_at,omitzero"`
	LastFrom string    `json:"last_used_from,omitempty"`
}

// Has says whether t carries scope.
func (t Token) Has(scope string) bool { return slices.Contains(t.Scopes, scope) }

// Sentinel errors of package access.
var (
	// ErrBadToken: no live token has that secret (unknown or revoked).
	ErrBadToken = errors.New("access: unknown or revoked token")
	// ErrTokenExists: a token of that name exists.
	ErrTokenExists = errors.New("a token of that name exists")
)

// TokenPrefix starts every secret, so that a secret found in a file or a
// log can be told for what it is.
const TokenPrefix = "relais_"

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func hash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// ParseScopes reads "groups,lists" (or "all"), checking each.
func ParseScopes(s string) ([]string, error) {
	var out []string
	for _, f := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return r == ',' || r == ' ' }) {
		if f == "all" {
			return slices.Clone(Scopes), nil
		}
		if !slices.Contains(Scopes, f) {
			return nil, fmt.Errorf("scope %q: one of %s, or all", f, strings.Join(Scopes, ", "))
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("give at least one scope: %s, or all", strings.Join(Scopes, ", "))
	}
	return out, nil
}

// CreateToken makes a token named name with scopes and returns its
// secret, shown once: the hub keeps only its hash.
func CreateToken(ctx context.Context, db *store.DB, name string, scopes []string, now time.Time) (string, Token, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 || strings.ContainsAny(name, "\r\n\t") {
		return "", Token{}, errors.New("a token needs a name of one line (--name)")
	}
	var b [32]byte
	rand.Read(b[:])
	secret := TokenPrefix + b32.EncodeToString(b[:])
	t := Token{Name: name, Scopes: scopes, Created: now.UTC().Truncate(time.Second)}
	err := db.Write(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRow("token.api-count-name", name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: %s", ErrTokenExists, name)
		}
		res, err := tx.Exec("token.api-insert", name, hash(secret), strings.Join(scopes, ","), now.Unix())
		if err != nil {
			return err
		}
		t.ID, err = res.LastInsertId()
		return err
	})
	return secret, t, err
}

func scanToken(row interface{ Scan(...any) error }) (Token, error) {
	var t Token
	var scopes string
	var created, revoked, used int64
	err := row.Scan(&t.ID, &t.Name, &scopes, &created, &revoked, &used, &t.LastFrom)
	t.Scopes = strings.Split(scopes, ",")
	t.Created = time.Unix(created, 0).UTC()
	if revoked > 0 {
		t.Revoked = time.Unix(revoked, 0).UTC()
	}
	if used > 0 {
		t.LastUsed = time.Unix(used, 0).UTC()
	}
	return t, err
}

// Check returns the live token whose secret this is, and records its use
// from client (ErrBadToken for an unknown or revoked one).
func Check(ctx context.Context, db *store.DB, secret, client string, now time.Time) (Token, error) {
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) > 200 {
		return Token{}, ErrBadToken
	}
	t, err := scanToken(db.QueryRow(ctx, "token.api-by-hash", hash(secret)))
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !t.Revoked.IsZero()) {
		return Token{}, ErrBadToken
	} else if err != nil {
		return Token{}, err
	}
	err = db.WriteLazy(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec("token.api-used", now.Unix(), client, t.ID)
		return err
	})
	return t, err
}

// Tokens lists every token, revoked ones too.
func Tokens(ctx context.Context, db *store.DB) ([]Token, error) {
	rows, err := db.Query(ctx, "token.api-all")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken revokes the token named name; it works no more.
func RevokeToken(ctx context.Context, db *store.DB, name string, now time.Time) error {
	return db.Write(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec("token.api-revoke", now.Unix(), name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("no live token named %q", name)
		}
		return nil
	})
}
