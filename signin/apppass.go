package signin

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"codeberg.org/relais/relais/store"
)

// App passwords: what a member's own mail client signs in to the archives
// over IMAP with (package imapd), made and revoked on their page. A
// password is 100 random bits shown once; the hub keeps only an
// HMAC-SHA256 of it under its secret "imap": a random password needs no
// slow hash, and the table alone tells nothing.

// AppPassword is one of a member's app passwords, as their page lists it.
type AppPassword struct {
	ID      int64
	Name    string
	Created time.Time
	Used    time.Time // last sign-in, zero for never
}

// ErrBadPassword: no app password of this address is that.
var ErrBadPassword = errors.New("signin: wrong address or app password")

// maxAppPasswords bounds a member's app passwords.
const maxAppPasswords = 20

func (s *Service) appSecret(ctx context.Context) ([]byte, error) { return s.db.Secret(ctx, "imap") }

func appHash(secret []byte, password string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strings.ReplaceAll(strings.ToLower(password), " ", "")))
	return hex.EncodeToString(m.Sum(nil))
}

// NewAppPassword makes an app password for email, labelled name, and
// returns it: the only time it is shown. It is written in groups of four
// letters ("abcd efgh …"), which sign-in reads with or without spaces.
func (s *Service) NewAppPassword(ctx context.Context, email, name string) (string, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	name = strings.TrimSpace(name)
	if len([]rune(name)) > 60 {
		name = string([]rune(name)[:60])
	}
	secret, err := s.appSecret(ctx)
	if err != nil {
		return "", err
	}
	var b [13]byte
	rand.Read(b[:])
	raw := b32.EncodeToString(b[:])[:20]
	var groups []string
	for i := 0; i < len(raw); i += 4 {
		groups = append(groups, raw[i:i+4])
	}
	pw := strings.Join(groups, " ")
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		rows, err := tx.Query("apppass.of", email)
		if err != nil {
			return err
		}
		n := 0
		for rows.Next() {
			n++
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		if n >= maxAppPasswords {
			return errors.New("signin: too many app passwords: revoke one first")
		}
		_, err = tx.Exec("apppass.insert", email, name, appHash(secret, pw), s.now().Unix())
		return err
	})
	return pw, err
}

// AppPasswords lists email's app passwords.
func (s *Service) AppPasswords(ctx context.Context, email string) ([]AppPassword, error) {
	rows, err := s.db.Query(ctx, "apppass.of", strings.ToLower(strings.TrimSpace(email)))
	if err != nil {
		return nil, err
	}
	var out []AppPassword
	for rows.Next() {
		var p AppPassword
		var hash string
		var created, used int64
		if err := rows.Scan(&p.ID, &p.Name, &hash, &created, &used); err != nil {
			rows.Close()
			return nil, err
		}
		p.Created = time.Unix(created, 0)
		if used > 0 {
			p.Used = time.Unix(used, 0)
		}
		out = append(out, p)
	}
	return out, errors.Join(rows.Err(), rows.Close())
}

// RevokeAppPassword deletes one of email's app passwords: a client using
// it is refused from its next sign-in, and a session it holds is closed
// at its folder's next change (package imapd).
func (s *Service) RevokeAppPassword(ctx context.Context, email string, id int64) error {
	return s.db.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec("apppass.revoke", id, strings.ToLower(strings.TrimSpace(email)))
		return err
	})
}

// CheckAppPassword says whether password is one of email's app passwords
// (ErrBadPassword if not), and records its use.
func (s *Service) CheckAppPassword(ctx context.Context, email, password string) error {
	email = strings.ToLower(strings.TrimSpace(email))
	secret, err := s.appSecret(ctx)
	if err != nil {
		return err
	}
	want := appHash(secret, password)
	ps, err := s.db.Query(ctx, "apppass.of", email)
	if err != nil {
		return err
	}
	var found int64
	for ps.Next() {
		var id, created, used int64
		var name, hash string
		if err := ps.Scan(&id, &name, &hash, &created, &used); err != nil {
			ps.Close()
			return err
		}
		if hmac.Equal([]byte(hash), []byte(want)) {
			found = id
		}
	}
	if err := errors.Join(ps.Err(), ps.Close()); err != nil {
		return err
	}
	if found == 0 {
		return ErrBadPassword
	}
	return s.db.WriteLazy(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec("apppass.used", s.now().Unix(), found)
		return err
	})
}
