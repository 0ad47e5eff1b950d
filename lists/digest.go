package lists

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"mime"
	"net/mail"
	"time"

	"codeberg.org/relais/relais/store"
	"codeberg.org/relais/relais/templates"
)

// Digest periods.
var periods = map[string]time.Duration{"daily": 24 * time.Hour, "weekly": 7 * 24 * time.Hour}

// Tick does what time brings: pauses whose end has come are lifted, held
// posts past their time expire, digests that are due are sent, old tokens
// and counts are deleted. The hub calls it every minute.
func (s *Service) Tick(ctx context.Context) error {
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		now := s.now().Unix()
		if _, err := tx.Exec("member.resume-due", now); err != nil {
			return err
		}
		if _, err := tx.Exec("subscribe.delete-old", s.now().Add(-24*time.Hour).Unix()); err != nil {
			return err
		}
		if _, err := tx.Exec("answer.delete-old", s.now().Add(-24*time.Hour).Unix()); err != nil {
			return err
		}
		_, err := tx.Exec("token.delete-old", s.now().Add(-30*24*time.Hour).Unix())
		return err
	})
	_, err2 := s.ExpireHeld(ctx)
	_, err3 := s.RunDigests(ctx)
	return errors.Join(err, err2, err3)
}

// RunDigests sends the digests that are due: to the members of each list
// in daily (weekly) mode, one message with the posts since the previous
// digest, 24 hours (7 days) after it; nothing when there was no post. It
// returns how many digests it queued.
func (s *Service) RunDigests(ctx context.Context) (int, error) {
	total := 0
	for _, mode := range []string{"daily", "weekly"} {
		rows, err := s.db.Query(ctx, "list.digest-due", mode)
		if err != nil {
			return total, err
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return total, err
			}
			ids = append(ids, id)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return total, err
		}
		for _, id := range ids {
			n := 0
			err := s.db.Write(ctx, func(tx *store.Tx) error {
				var err error
				n, err = s.digest(tx, id, mode)
				return err
			})
			if err != nil {
				return total, err
			}
			total += n
		}
	}
	if total > 0 {
		s.q.Kick()
	}
	return total, nil
}

// startDigest marks where a list's digests of mode begin: posts from then
// on go into them. Unless restart, only the first time.
func startDigest(tx *store.Tx, listID int64, mode string, now time.Time, restart bool) error {
	var dAt, dPost, wAt, wPost int64
	if err := tx.QueryRow("list.digest-state", listID).Scan(&dAt, &dPost, &wAt, &wPost); err != nil {
		return err
	}
	var max int64
	if err := tx.QueryRow("post.max", listID).Scan(&max); err != nil {
		return err
	}
	if restart {
		dAt, wAt = 0, 0
	}
	if mode == "daily" && dAt == 0 {
		_, err := tx.Exec("list.digest-daily-done", now.Unix(), max, listID)
		return err
	}
	if mode == "weekly" && wAt == 0 {
		_, err := tx.Exec("list.digest-weekly-done", now.Unix(), max, listID)
		return err
	}
	return nil
}

type digestPost struct {
	N       int
	From    string
	Subject string
	Date    string
	body    []byte
}

func (s *Service) digest(tx *store.Tx, listID int64, mode string) (int, error) {
	l, err := get(tx, listID)
	if err != nil {
		return 0, err
	}
	var dAt, dPost, wAt, wPost int64
	if err := tx.QueryRow("list.digest-state", listID).Scan(&dAt, &dPost, &wAt, &wPost); err != nil {
		return 0, err
	}
	at, last, done := dAt, dPost, "list.digest-daily-done"
	if mode == "weekly" {
		at, last, done = wAt, wPost, "list.digest-weekly-done"
	}
	now := s.now()
	if at == 0 {
		return 0, startDigest(tx, listID, mode, now, false)
	}
	if now.Sub(time.Unix(at, 0)) < periods[mode] {
		return 0, nil
	}
	rows, err := tx.Query("post.since", listID, last)
	if err != nil {
		return 0, err
	}
	var posts []digestPost
	for rows.Next() {
		var id, postedAt int64
		var p digestPost
		if err := rows.Scan(&id, &p.From, &p.Subject, &postedAt, &p.body); err != nil {
			rows.Close()
			return 0, err
		}
		last = id
		p.N = len(posts) + 1
		p.Date = time.Unix(postedAt, 0).In(paris).Format("02/01/2006 15:04")
		if h, err := header(p.body); err == nil {
			if a, ok := sender(h, ""); ok {
				p.From = a.Address
				if a.Name != "" {
					p.From = a.Name
				}
			}
		}
		posts = append(posts, p)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(done, now.Unix(), last, listID); err != nil {
		return 0, err
	}
	if len(posts) == 0 {
		return 0, nil // nothing to send, nothing sent
	}
	to, err := recipients(tx, listID, mode, now)
	if err != nil || len(to) == 0 {
		return 0, err
	}
	msg, err := s.digestMessage(l, mode, posts)
	if err != nil {
		return 0, err
	}
	msg, ins := layout(msg)
	return 1, s.enqueueCopies(tx, l, KindDigest, msg, ins, to)
}

// digestMessage is an RFC 1153-style digest in MIME: a table of contents
// (text/plain, from the list-digest template), then the posts in a
// multipart/digest, each a message/rfc822 part (RFC 2046 §5.1.5).
func (s *Service) digestMessage(l List, mode string, posts []digestPost) ([]byte, error) {
	r, err := s.texts.Render(l.Lang, "list-digest", s.data(l, map[string]any{
		"Posts": posts, "Count": len(posts), "Mode": mode, "Date": s.date(l.Lang, s.now()),
	}))
	if err != nil {
		return nil, err
	}
	outer, inner := boundary(), boundary()
	var b bytes.Buffer
	from := mail.Address{Name: l.DisplayName, Address: s.FromAddress(l, "")}
	w := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	w("From", from.String())
	w("To", s.Address(l, ""))
	w("Subject", mime.QEncoding.Encode("utf-8", r.Subject))
	w("Date", s.now().Format(time.RFC1123Z))
	w("Message-ID", templates.NewMessageID(s.cfg.Hostname))
	w("Content-Language", r.Lang)
	for _, f := range s.listHeaders(l) {
		w(f[0], f[1])
	}
	w("MIME-Version", "1.0")
	w("Content-Type", `multipart/mixed; boundary="`+outer+`"`)
	b.WriteString("\r\n--" + outer + "\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(toCRLF(r.Text))
	b.WriteString("\r\n--" + outer + "\r\n")
	b.WriteString(`Content-Type: multipart/digest; boundary="` + inner + `"` + "\r\n\r\n")
	for _, p := range posts {
		// message/rfc822 is the default in a multipart/digest (RFC 2046
		// §5.1.5), but filters flag parts without a header
		// (T_TVD_MIME_NO_HEADERS): it is said.
		b.WriteString("--" + inner + "\r\nContent-Type: message/rfc822\r\n\r\n")
		b.Write(p.body)
		if !bytes.HasSuffix(p.body, []byte("\n")) {
			b.WriteString("\r\n")
		}
	}
	b.WriteString("--" + inner + "--\r\n")
	b.WriteString("\r\n--" + outer + "--\r\n")
	return b.Bytes(), nil
}

func boundary() string {
	var r [12]byte
	rand.Read(r[:])
	return "relais-" + hex.EncodeToString(r[:])
}
