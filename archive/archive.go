// Package archive is in charge of list archives as members read them: each
// post archived as distributed (the posts table of package lists), with
// what reading it needs found once when it comes: its thread (JWZ
// threading over Message-ID, In-Reply-To and References, as
// https://www.jwz.org/doc/threading.html describes, with the subject as a
// fallback), its words for the full-text search (SQLite FTS4, accents
// folded), its author and size. It reads the archive back by month, by
// thread, by message (text, sanitised HTML, attachments), by search, as
// mbox (RFC 4155) and as an Atom feed (RFC 4287), and removes posts an
// owner takes out.
//
// Who may read what is decided by the caller (a list's visibility:
// Public, Members, Owners); the IMAP view of the same posts is package
// imapd.
package archive

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"mime"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"

	"codeberg.org/relais/relais/audit"
	"codeberg.org/relais/relais/store"
)

// Who may read a list's archive.
const (
	Public  = "public"  // anyone; addresses never shown whole
	Members = "members" // the list's members, owners and moderators (the default)
	Owners  = "owners"  // its owners and moderators
)

// Visibilities lists the visibilities, for help and validation.
var Visibilities = []string{Public, Members, Owners}

// ErrNotFound: no such post, thread or list in the archive.
var ErrNotFound = errors.New("archive: not found")

// Post is an archived post as the pages list it.
type Post struct {
	ID      int64
	List    int64
	Poster  string // the address, lower case
	Author  string // "Name <address>" as the search finds it (Name: the display name alone)
	Subject string
	Posted  time.Time
	MsgID   string
	Parent  int64
	Thread  int64
	Size    int64
}

// Name is the poster's display name, "" when their From had none.
func (p Post) Name() string {
	name, _ := splitFrom(p.Author)
	return name
}

// author is what the author column holds: the name and the address, so
// that a search finds a post by either.
func author(name, addr string) string {
	name = strings.TrimSpace(strings.NewReplacer("<", "", ">", "", "\r", "", "\n", "").Replace(name))
	if name == "" || strings.EqualFold(name, addr) {
		return "<" + addr + ">"
	}
	return name + " <" + addr + ">"
}

// Meta is what Index finds in a post.
type Meta struct {
	MsgID  string
	Refs   []string // nearest first: In-Reply-To, then References from the end
	Topic  string   // the subject without Re:, Fwd: and list tags, lower case
	Reply  bool     // the subject says it answers something (Re:, AW:…)
	Author string
	Text   string
}

// Analyse reads what the archive keeps of a post.
func Analyse(msg []byte, subject, authorName string) Meta {
	h, _ := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(msg)))
	m := Meta{MsgID: firstID(h.Get("Message-Id")), Author: authorName}
	seen := map[string]bool{m.MsgID: true}
	add := func(id string) {
		if id != "" && !seen[id] {
			seen[id] = true
			m.Refs = append(m.Refs, id)
		}
	}
	// JWZ: the parent is the last of References; In-Reply-To when there is
	// none (or it names another, nearer message).
	add(firstID(h.Get("In-Reply-To")))
	refs := ids(h.Get("References"))
	for i := len(refs) - 1; i >= 0; i-- {
		add(refs[i])
	}
	if len(m.Refs) > maxRefs {
		m.Refs = m.Refs[:maxRefs]
	}
	m.Topic, m.Reply = Topic(subject)
	m.Text = Words(msg)
	return m
}

// maxRefs bounds the references followed (a References field of thousands
// costs nothing more).
const maxRefs = 50

var idRE = regexp.MustCompile(`<([^<>\s]+)>`)

// ids returns the message ids of a field, without their brackets.
func ids(v string) []string {
	var out []string
	for _, m := range idRE.FindAllStringSubmatch(v, maxRefs*4) {
		out = append(out, m[1])
	}
	return out
}

func firstID(v string) string {
	if m := idRE.FindStringSubmatch(v); m != nil {
		return m[1]
	}
	return strings.Trim(strings.TrimSpace(v), "<>")
}

var (
	// Reply and forward markers mail clients write, in the languages
	// members use: Re, RE :, Réf., AW, SV, Fwd, TR, Fw.
	replyRE = regexp.MustCompile(`(?i)^\s*(re|ré|ref|réf|aw|sv|antw|fwd?|tr|wg)\s*(\[\d+\])?\s*[.:]\s*`)
	tagRE   = regexp.MustCompile(`^\s*\[[^\]]{1,60}\]\s*`)
)

// Topic returns a subject's base (RFC 5256 §2.1, simplified): without
// reply and forward markers or list tags, spaces collapsed, lower case;
// reply says whether it had a reply marker.
func Topic(subject string) (base string, reply bool) {
	s := decode(subject)
	for {
		if loc := replyRE.FindStringIndex(s); loc != nil {
			s, reply = s[loc[1]:], true
			continue
		}
		if loc := tagRE.FindStringIndex(s); loc != nil {
			s = s[loc[1]:]
			continue
		}
		break
	}
	s = strings.TrimSuffix(strings.TrimSpace(s), "(fwd)")
	return strings.ToLower(strings.Join(strings.Fields(s), " ")), reply
}

var wordDecoder = mime.WordDecoder{CharsetReader: message.CharsetReader}

func decode(s string) string {
	if d, err := wordDecoder.DecodeHeader(s); err == nil {
		s = d
	}
	return strings.Join(strings.Fields(s), " ")
}

// Index archives post id's meta inside tx: its thread, and the words the
// search finds it by (posts_fts follows posts through triggers). It runs
// once per post, in the transaction that archives it.
func Index(tx *store.Tx, id, listID int64, m Meta, posted time.Time) error {
	parent, thread := int64(0), id
	var missing []string
	for _, ref := range m.Refs {
		var pid, pthread int64
		err := tx.QueryRow("archive.by-msgid", listID, ref, id).Scan(&pid, &pthread)
		if err == nil {
			parent, thread = pid, pthread
			break
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		missing = append(missing, ref)
	}
	if parent == 0 && m.Reply && m.Topic != "" {
		// No reference archived: an answer joins the latest thread of its
		// subject in the last quarter (JWZ's subject grouping).
		var t int64
		err := tx.QueryRow("archive.by-topic", listID, m.Topic, posted.Add(-topicWindow).Unix(), id).Scan(&t)
		if err == nil {
			parent, thread = t, t
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
	}
	if _, err := tx.Exec("archive.index", m.MsgID, parent, thread, m.Topic, m.Author, m.Text, id); err != nil {
		return err
	}
	for i, ref := range missing {
		if _, err := tx.Exec("archive.ref-missing", listID, ref, id, i+1); err != nil {
			return err
		}
	}
	if m.MsgID == "" {
		return nil
	}
	// Posts that came before this one and named it: it is their parent
	// now, and they (with their answers) join its thread. Not a post this
	// one descends from: references that loop are ignored.
	rows, err := tx.Query("archive.refs-to", listID, m.MsgID)
	if err != nil {
		return err
	}
	type child struct{ id, depth int64 }
	var children []child
	for rows.Next() {
		var c child
		if err := rows.Scan(&c.id, &c.depth); err != nil {
			rows.Close()
			return err
		}
		children = append(children, c)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	for _, c := range children {
		if c.id == id {
			continue
		}
		var loops bool
		if err := tx.QueryRow("archive.is-ancestor", c.id, id).Scan(&loops); err != nil {
			return err
		}
		if loops {
			continue
		}
		if _, err := tx.Exec("archive.adopt", id, c.id); err != nil {
			return err
		}
		if _, err := tx.Exec("archive.move-subtree", thread, c.id); err != nil {
			return err
		}
		if _, err := tx.Exec("archive.refs-done", c.id, c.depth); err != nil {
			return err
		}
	}
	return nil
}

// topicWindow is how far back an answer without references looks for its
// subject's thread.
const topicWindow = 90 * 24 * time.Hour

// Add archives a post inside tx: msg as distributed, before personal
// parts. permalink makes the address of its page from its id, written
// in the archived message and returned with it as an Archived-At field
// (RFC 5064 §2). It returns the post's id and the message with that
// field on top.
func Add(tx *store.Tx, listID int64, poster, authorName, subject string, posted time.Time, msg []byte,
	permalink func(id int64) string) (int64, []byte, error) {
	m := Analyse(msg, subject, author(authorName, poster))
	res, err := tx.Exec("post.insert", listID, poster, subject, posted.Unix(), []byte{})
	if err != nil {
		return 0, nil, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, nil, err
	}
	if permalink != nil {
		msg = append([]byte("Archived-At: <"+permalink(id)+">\r\n"), msg...)
	}
	if _, err := tx.Exec("archive.body", msg, len(msg), id); err != nil {
		return 0, nil, err
	}
	return id, msg, Index(tx, id, listID, m, posted)
}

// Backfill indexes the posts archived before archives were read (they
// keep no Archived-At: their copies went out without one); it returns how
// many. The hub runs it when it starts.
func Backfill(ctx context.Context, db *store.DB) (int, error) {
	n := 0
	for {
		rows, err := db.Query(ctx, "archive.unindexed", 200)
		if err != nil {
			return n, err
		}
		type row struct {
			id, list, at    int64
			subject, poster string
			body            []byte
		}
		var todo []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.list, &r.subject, &r.poster, &r.at, &r.body); err != nil {
				rows.Close()
				return n, err
			}
			todo = append(todo, r)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return n, err
		}
		if len(todo) == 0 {
			return n, nil
		}
		err = db.Write(ctx, func(tx *store.Tx) error {
			for _, r := range todo {
				m := Analyse(r.body, r.subject, authorOf(r.body, r.poster))
				if _, err := tx.Exec("archive.size", len(r.body), r.id); err != nil {
					return err
				}
				if err := Index(tx, r.id, r.list, m, time.Unix(r.at, 0)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		n += len(todo)
	}
}

// authorOf is the author column of a message posted by poster.
func authorOf(msg []byte, poster string) string {
	h, _ := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(msg)))
	name, _ := splitFrom(decode(h.Get("From")))
	return author(name, poster)
}

// splitFrom cuts a decoded From field into name and address.
func splitFrom(v string) (name, addr string) {
	if i := strings.LastIndexByte(v, '<'); i >= 0 {
		name = strings.Trim(strings.TrimSpace(v[:i]), `"`)
		addr = strings.Trim(v[i:], "<> ")
		return name, addr
	}
	return "", strings.TrimSpace(v)
}

// Mask shows an address without giving it away: its local part and the
// first letter of its domain ("camille@e…"). Public archives show no
// whole address.
func Mask(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || at == len(addr)-1 {
		return addr
	}
	r := []rune(addr[at+1:])
	return addr[:at+1] + string(r[0]) + "…"
}

var addrRE = regexp.MustCompile(`[\p{L}\p{N}._%+\-]+@[\p{L}\p{N}\-]+(\.[\p{L}\p{N}\-]+)+`)

// MaskText masks every address written in s.
func MaskText(s string) string {
	return addrRE.ReplaceAllStringFunc(s, Mask)
}

// markedAddrRE is addrRE with a search's marks (\x01, \x02) anywhere in
// it: a matched word of an address cuts it for addrRE.
var markedAddrRE = regexp.MustCompile(`[\p{L}\p{N}._%+\-\x01\x02]+@[\x01\x02]*[\p{L}\p{N}\-\x01\x02]+(\.[\x01\x02]*[\p{L}\p{N}\-\x01\x02]+)+`)

// MaskExcerpt masks every address in a search's excerpt, whose matches
// are marked \x01 … \x02: an address with a match in it is masked whole
// and marked whole.
func MaskExcerpt(s string) string {
	return markedAddrRE.ReplaceAllStringFunc(s, func(a string) string {
		plain := strings.NewReplacer("\x01", "", "\x02", "").Replace(a)
		if !strings.Contains(plain, "@") || !addrRE.MatchString(plain) {
			return a
		}
		m := MaskText(plain)
		if plain != a {
			return "\x01" + m + "\x02"
		}
		return m
	})
}

// Remove takes post id out of list listID (whose address is list) 's
// archive: deleted (its page, its words in the index, its IMAP UID), the
// removal recorded with who and why, and in the audit log (who, from
// where). Its answers stay, attached above it.
func Remove(ctx context.Context, db *store.DB, listID int64, list string, id int64, a audit.Actor, reason string, now time.Time) error {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return errors.New("archive: a removal needs its reason")
	}
	return db.Write(ctx, func(tx *store.Tx) error {
		var parent, thread int64
		err := tx.QueryRow("archive.parent", id, listID).Scan(&parent, &thread)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: post %d", ErrNotFound, id)
		} else if err != nil {
			return err
		}
		if _, err := tx.Exec("archive.reparent", parent, id); err != nil {
			return err
		}
		if _, err := tx.Exec("archive.remove", id); err != nil {
			return err
		}
		if _, err := tx.Exec("archive.removed", id, listID, now.Unix(), strings.ToLower(a.Who), reason); err != nil {
			return err
		}
		return audit.Record(tx, a, now, "archive.remove", list, fmt.Sprintf("post %d: %s", id, strings.Join(strings.Fields(reason), " ")))
	})
}

// Visibility returns who may read list listID's archive.
func Visibility(ctx context.Context, db *store.DB, listID int64) (string, error) {
	var v string
	err := db.QueryRow(ctx, "archive.visibility", listID).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return v, err
}

// SetVisibility sets who may read list listID's archive.
func SetVisibility(ctx context.Context, db *store.DB, listID int64, v string) error {
	ok := false
	for _, x := range Visibilities {
		ok = ok || x == v
	}
	if !ok {
		return fmt.Errorf("archive visibility %q: one of %s", v, strings.Join(Visibilities, ", "))
	}
	return db.Write(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec("archive.set-visibility", v, listID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// cleanWords trims text for the index: quoted lines (> …) are the words
// of other posts, already there.
func cleanWords(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		t := strings.TrimLeftFunc(line, unicode.IsSpace)
		if strings.HasPrefix(t, ">") {
			continue
		}
		b.WriteString(strings.TrimRightFunc(line, unicode.IsSpace))
		b.WriteByte('\n')
	}
	return strings.TrimSpace(b.String())
}

// MessageID is a message's Message-ID without its brackets.
func MessageID(msg []byte) string {
	h, _ := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(msg)))
	return firstID(h.Get("Message-Id"))
}

// References is what an answer to msg names (RFC 5322 §3.6.4): msg's
// References (or In-Reply-To), then msg itself, oldest first, at most
// the last maxRefs.
func References(msg []byte) []string {
	h, _ := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(msg)))
	refs := ids(h.Get("References"))
	if len(refs) == 0 {
		refs = ids(h.Get("In-Reply-To"))[:min(1, len(ids(h.Get("In-Reply-To"))))]
	}
	if id := firstID(h.Get("Message-Id")); id != "" {
		refs = append(refs, id)
	}
	if len(refs) > maxRefs {
		refs = refs[len(refs)-maxRefs:]
	}
	return refs
}

// Removal is a post an owner took out of an archive.
type Removal struct {
	Post   int64
	At     time.Time
	By     string
	Reason string
}

// Removals lists the posts removed from list listID's archive, latest
// first.
func Removals(ctx context.Context, db *store.DB, listID int64) ([]Removal, error) {
	rows, err := db.Query(ctx, "archive.removals", listID)
	if err != nil {
		return nil, err
	}
	var out []Removal
	for rows.Next() {
		var r Removal
		var at int64
		if err := rows.Scan(&r.Post, &at, &r.By, &r.Reason); err != nil {
			rows.Close()
			return nil, err
		}
		r.At = time.Unix(at, 0)
		out = append(out, r)
	}
	return out, errors.Join(rows.Err(), rows.Close())
}
