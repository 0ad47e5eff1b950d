package lists

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-message/textproto"

	"codeberg.org/relais/relais/mailauth"
	"codeberg.org/relais/relais/queue"
	"codeberg.org/relais/relais/store"
	"codeberg.org/relais/relais/templates"
)

// LoopHeader marks every message a list sends with the list's address;
// a post that comes back with it is a loop and is held (the de facto
// X-Loop convention of procmail and Sympa).
const LoopHeader = "X-Loop"

// listHeaders returns the header fields every message to a list member
// carries, except the personal List-Unsubscribe pair added at send time:
// RFC 2919 List-Id, RFC 2369 List-Help, List-Post, List-Subscribe,
// List-Owner, and Precedence with the loop mark.
func (s *Service) listHeaders(l List) [][2]string {
	name := strings.ReplaceAll(l.DisplayName, `"`, "'")
	post := "<mailto:" + s.Address(l, "") + ">"
	if l.Policy == Announce {
		post = "NO" // RFC 2369 §3.4: posting is not allowed
	}
	id := [2]string{"List-Id", phrase(name) + " <" + l.Local() + "." + s.cfg.Domain + ">"}
	if l.Policy == Territory {
		// Nobody subscribes to or leaves CODE.groupes: animators get it in
		// their role, and its +addresses do not exist.
		return [][2]string{id, {"List-Post", post}, {"List-Archive", "<" + s.ArchiveURL(l) + ">"}, {"Precedence", "list"}, {LoopHeader, s.Address(l, "")}}
	}
	return [][2]string{
		// RFC 2919 §2: list-id = [phrase] "<" list-label "." list-id-namespace ">".
		id,
		{"List-Help", "<mailto:" + s.Address(l, "help") + "?subject=help>"},
		{"List-Post", post},
		{"List-Subscribe", "<mailto:" + s.Address(l, "subscribe") + "?subject=subscribe>"},
		{"List-Owner", "<mailto:" + s.Address(l, "owner") + ">"},
		{"List-Archive", "<" + s.ArchiveURL(l) + ">"}, // RFC 2369 §3.6
		{"Precedence", "list"},
		{LoopHeader, s.Address(l, "")},
	}
}

// personalHeaders are the member's own RFC 2369 §3.2 List-Unsubscribe, a
// link and a mailto, and the RFC 8058 §3.1 one-click marker.
func (s *Service) personalHeaders(l List, memberID int64, email string) string {
	url := s.unsubscribeURL(l, memberID, email)
	return "List-Unsubscribe: <" + url + ">,\r\n <mailto:" + s.Address(l, "unsubscribe") + "?subject=unsubscribe>\r\n" +
		"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
}

func (s *Service) unsubscribeURL(l List, memberID int64, email string) string {
	return strings.TrimSuffix(s.webURL(), "/") + "/u/" + s.UnsubscribeToken(l.ID, memberID, email)
}

// removed are the fields a list replaces on the way through.
var removed = []string{"List-Id", "List-Unsubscribe", "List-Unsubscribe-Post", "List-Help", "List-Post",
	"List-Subscribe", "List-Owner", "List-Archive", "Precedence", "Return-Path", "Delivered-To"}

// prepare turns a post as received into the list's version, sent to every
// member: list header fields, subject prefix, Reply-To policy and, when
// the poster's domain would have receivers reject or quarantine it under
// the list's signature (DMARC p=reject or p=quarantine), From written as
// the list's own with the poster in Reply-To or Cc (RFC 7960 §4.1.3, as
// Mailman and Google Groups do). Everything else is left byte for byte.
func (s *Service) prepare(ctx context.Context, l List, raw []byte, poster *mail.Address) ([]byte, string, error) {
	n := headerLen(raw)
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw[:n])))
	if err != nil {
		return nil, "", err
	}
	body := raw[n:]
	for _, k := range removed {
		h.Del(k)
	}
	subject := decode(h.Get("Subject"))
	if l.SubjectPrefix {
		tag := "[" + l.Local() + "]"
		if !strings.Contains(strings.ToLower(subject), strings.ToLower(tag)) {
			raw := strings.TrimSpace(h.Get("Subject"))
			h.Set("Subject", strings.TrimSpace(tag+" "+raw))
		}
	}
	listAddr := s.Address(l, "")
	replyTo := ""
	if l.ReplyTo == "list" && l.Policy != Announce {
		replyTo = listAddr
	}
	munge := false
	if at := strings.LastIndexByte(poster.Address, '@'); at > 0 && s.dns != nil {
		p, err := s.cachedPolicy(poster.Address[at+1:])
		if err != nil {
			return nil, "", err // temporary: the post waits, is looked up again and retried
		}
		munge = p.Strict()
	}
	if munge {
		name := poster.Name
		if name == "" {
			name = poster.Address[:strings.LastIndexByte(poster.Address, '@')]
		}
		from := mail.Address{Name: name + " via " + l.Local(), Address: s.FromAddress(l, "")}
		h.Set("From", from.String())
		if replyTo == listAddr {
			// Replies go to the list; the poster is still reachable.
			cc := h.Get("Cc")
			if cc != "" {
				cc += ", "
			}
			h.Set("Cc", cc+poster.String())
		} else {
			replyTo = poster.String()
		}
	}
	if replyTo != "" {
		h.Set("Reply-To", replyTo)
	}
	if !h.Has("Message-Id") {
		h.Set("Message-Id", templates.NewMessageID(s.cfg.Hostname))
	}
	if !h.Has("Date") {
		h.Set("Date", s.now().Format(time.RFC1123Z))
	}
	hdrs := s.listHeaders(l)
	for i := len(hdrs) - 1; i >= 0; i-- {
		h.Add(hdrs[i][0], hdrs[i][1])
	}
	var b bytes.Buffer
	if err := textproto.WriteHeader(&b, h); err != nil {
		return nil, "", err
	}
	b.Write(body)
	return b.Bytes(), subject, nil
}

// phrase writes a display name as an RFC 5322 phrase: atoms as they are,
// other ASCII quoted, anything else as an RFC 2047 encoded word.
func phrase(name string) string {
	plain := true
	for _, r := range name {
		switch {
		case r >= 0x80:
			return mime.QEncoding.Encode("utf-8", name)
		case r == ' ' || r == '!' || r == '-' || r == '+' || r == '/' || r == '=' || r == '?' || r == '_' || r == '\'' ||
			(r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z'):
		default:
			plain = false
		}
	}
	if plain {
		return name
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(name) + `"`
}

func decode(s string) string {
	d, err := new(mime.WordDecoder).DecodeHeader(s)
	if err != nil {
		return s
	}
	return strings.Join(strings.Fields(d), " ")
}

// ref is what a list gives the queue with each post or digest, and gets
// back at send time to make a member's copy.
type ref struct {
	List int64       `json:"l"`
	Ins  []insertion `json:"i,omitempty"`
}

func (s *Service) enqueueCopies(tx *store.Tx, l List, kind string, msg []byte, ins []insertion, to []string) error {
	if len(to) == 0 {
		return nil
	}
	r, err := json.Marshal(ref{List: l.ID, Ins: ins})
	if err != nil {
		return err
	}
	id := store.NewID()
	utf8, eight := queue.Needs(msg)
	if _, err := tx.Exec("message.insert", id, s.now().Unix(), "", "", "", utf8, eight, len(msg), msg); err != nil {
		return err
	}
	_, err = s.q.Enqueue(tx, queue.Message{MessageID: id, To: to, Kind: kind, Ref: string(r)})
	return err
}

// recipients returns the members who get mail of mode now.
func recipients(tx queryer, listID int64, mode string, now time.Time) ([]string, error) {
	rows, err := tx.Query("member.recipients", listID, mode, now.Unix())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// distribute sends a post that passed the posting policy (or a moderator)
// to the members in "each message" mode, and archives it for digests and
// export.
func (s *Service) distribute(ctx context.Context, tx *store.Tx, l List, raw []byte, poster *mail.Address) error {
	msg, subject, err := s.prepare(ctx, l, raw, poster)
	if err != nil {
		return err
	}
	if msg, err = s.archive(tx, l, msg, poster, subject); err != nil {
		return err
	}
	if l.Policy == Territory {
		// Animators in their role: no subscription, nothing personal.
		to, err := zoneRecipients(tx, l.Code)
		if err != nil {
			return err
		}
		return s.enqueueCopies(tx, l, KindZone, msg, nil, to)
	}
	msg, ins := layout(msg)
	to, err := recipients(tx, l.ID, "each", s.now())
	if err != nil {
		return err
	}
	return s.enqueueCopies(tx, l, KindPost, msg, ins, to)
}

// Personalize is the queue's Personalizer for posts and digests: the
// member's List-Unsubscribe pair on top, the footer with their link where
// layout put its marks. A member who left or bounces since the copy was
// queued gets nothing.
func (s *Service) Personalize(ctx context.Context, c queue.Copy) ([]byte, error) {
	r, err := s.readRef(c.Ref)
	if err != nil {
		return nil, fmt.Errorf("%w: bad ref: %v", queue.ErrDrop, err)
	}
	l, err := s.cached(ctx, r.List)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: list deleted", queue.ErrDrop)
	} else if err != nil {
		return nil, err
	}
	id, state, err := s.memberOf(ctx, l.ID, c)
	if err != nil || state != "active" {
		if err == nil || errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("%w: %s is no longer an active member", queue.ErrDrop, c.Rcpt)
		}
		return nil, err
	}
	// The footer names the member but holds no link that acts alone: a
	// reply quoting it would hand the link to the whole list. The one-click
	// link is in List-Unsubscribe, which replies do not quote. Its link to
	// the member's page ("gérer mes abonnements") only shows a button,
	// signs in once, expires, and is spent by the hub when a post to a
	// list quotes it (package signin).
	unsub := s.unsubscribeAddress(l)
	manage := ""
	if s.cfg.Manage != nil {
		manage = s.cfg.Manage(id, c.Rcpt)
	}
	foot, err := s.texts.Text(l.Lang, "list-footer", map[string]string{
		"List": s.Address(l, ""), "Name": l.DisplayName, "Unsubscribe": unsub, "Help": s.Address(l, "help"), "Email": c.Rcpt,
		"Manage": manage, "OwnFooter": l.Texts.in(l.Texts.Footer, l.Lang),
	})
	if err != nil {
		return nil, err
	}
	head := s.personalHeaders(l, id, c.Rcpt)
	out := make([]byte, 0, len(c.Data)+len(head)+2*len(foot)+256)
	out = append(out, head...)
	last := 0
	for _, in := range r.Ins {
		if in.At < last || in.At > len(c.Data) {
			break
		}
		out = append(out, c.Data[last:in.At]...)
		out = append(out, in.render(foot, unsub, manage, in.At == len(c.Data))...)
		last = in.At
	}
	return append(out, c.Data[last:]...), nil
}

// readRef is the ref raw holds. Every copy of a post or digest carries the
// same ref: the last one read is kept, and its insertions are shared by
// the copies, which only read them.
func (s *Service) readRef(raw string) (ref, error) {
	if last := s.lastRef.Load(); last != nil && last.raw == raw {
		return last.r, nil
	}
	var r ref
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return ref{}, err
	}
	s.lastRef.Store(&parsedRef{raw: raw, r: r})
	return r, nil
}

// parsedRef is a ref as written and as read.
type parsedRef struct {
	raw string
	r   ref
}

// memberBatch is how many recipients of a post one read prepares, and
// memberTTL how long what it read is trusted: a member who leaves while
// the post is being sent may still get it if their copy's row was read in
// the last memberTTL (before, the window was between making a copy and
// sending it).
const (
	memberBatch = 512
	memberTTL   = 2 * time.Second
)

// memberRead is a recipient's member id and state as read for a copy.
type memberRead struct {
	id    int64
	state string // "" when the batch found no member
	read  time.Time
}

// memberOf returns the id and state of the member a copy is for, read with
// those of the next recipients of the same message (member.copies), or
// alone (member.state) when the batch has nothing for it. The batch after
// is read ahead, outside the lock, once half of this one is used: the
// workers do not wait for it (a read of 512 rows held them all).
func (s *Service) memberOf(ctx context.Context, listID int64, c queue.Copy) (int64, string, error) {
	s.copiesMu.Lock()
	defer s.copiesMu.Unlock()
	now := time.Now()
	m, ok := s.copies[c.DeliveryID]
	if (!ok || now.Sub(m.read) >= memberTTL) && c.OutboundID != 0 {
		if len(s.copies) > 4*memberBatch {
			clear(s.copies)
		}
		read, err := s.readMembers(ctx, listID, c.OutboundID, c.DeliveryID)
		if err != nil {
			return 0, "", err
		}
		s.keepMembers(read, now)
		s.ahead = readAhead{list: listID, outbound: c.OutboundID, from: read.after}
		m, ok = s.copies[c.DeliveryID]
	}
	delete(s.copies, c.DeliveryID)
	if a := s.ahead; a.outbound == c.OutboundID && a.from != 0 && !a.reading && len(s.copies) < memberBatch/2 {
		s.ahead.reading = true
		go s.readAheadMembers(a)
	}
	if ok && m.state != "" {
		return m.id, m.state, nil
	}
	// Not in a batch (no longer queued, a caller without the queue), or
	// not found by the join, which compares addresses as stored: ask alone.
	var id int64
	var state string
	err := s.db.QueryRow(ctx, "member.state", listID, strings.ToLower(c.Rcpt)).Scan(&id, &state)
	return id, state, err
}

// readAhead is where the next batch of members starts (from: a delivery
// id; 0 when the last batch was the message's last), and whether it is
// being read.
type readAhead struct {
	list, outbound, from int64
	reading              bool
}

// members is a batch of member.copies: each delivery's member, and the
// delivery id after the last (0 when the batch was not full).
type members struct {
	ids   []int64
	reads []memberRead
	after int64
}

// readMembers reads the members of outbound's next memberBatch queued
// deliveries from delivery from on.
func (s *Service) readMembers(ctx context.Context, listID, outbound, from int64) (members, error) {
	var out members
	rows, err := s.db.Query(ctx, "member.copies", listID, outbound, from, memberBatch)
	if err != nil {
		return out, err
	}
	for rows.Next() {
		var d int64
		var id sql.NullInt64
		var state sql.NullString
		if err := rows.Scan(&d, &id, &state); err != nil {
			rows.Close()
			return out, err
		}
		out.ids = append(out.ids, d)
		out.reads = append(out.reads, memberRead{id: id.Int64, state: state.String})
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return out, err
	}
	if len(out.ids) == memberBatch {
		out.after = out.ids[len(out.ids)-1] + 1
	}
	return out, nil
}

// keepMembers keeps a batch read at now; copiesMu is held.
func (s *Service) keepMembers(read members, now time.Time) {
	for i, d := range read.ids {
		r := read.reads[i]
		r.read = now
		s.copies[d] = r
	}
}

// readAheadMembers reads the batch a says, without the lock, and keeps it.
// A failed read is left to memberOf, which reads what it misses itself.
func (s *Service) readAheadMembers(a readAhead) {
	now := time.Now()
	read, err := s.readMembers(context.Background(), a.list, a.outbound, a.from)
	s.copiesMu.Lock()
	defer s.copiesMu.Unlock()
	if s.ahead.outbound != a.outbound || s.ahead.from != a.from {
		// memberOf read on meanwhile: its batch stands, and whoever set
		// s.ahead since says whether a read is under way.
		return
	}
	s.ahead = readAhead{list: a.list, outbound: a.outbound}
	if err != nil {
		return
	}
	if len(s.copies) > 4*memberBatch {
		clear(s.copies)
	}
	s.keepMembers(read, now)
	s.ahead.from = read.after
}

// htmlFooter turns the footer text into a small HTML block, the
// unsubscribe address made a mailto link.
func htmlFooter(foot, unsub, manage string) string {
	esc := html.EscapeString(strings.TrimSpace(foot))
	a := html.EscapeString(unsub)
	esc = strings.ReplaceAll(esc, a, `<a href="mailto:`+a+`?subject=unsubscribe">`+a+`</a>`)
	if m := html.EscapeString(manage); m != "" {
		esc = strings.ReplaceAll(esc, m, `<a href="`+m+`">`+m+`</a>`)
	}
	esc = strings.ReplaceAll(esc, "\n", "<br>\r\n")
	return "<div style=\"margin-top:1em;border-top:1px solid #ccc;font-size:small;color:#555\">\r\n" + esc + "\r\n</div>\r\n"
}

func qp(s string) string {
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

// policyTTL is how long a domain's DMARC policy is remembered.
const policyTTL = time.Hour

type cachedPolicy struct {
	p    mailauth.Policy
	when time.Time
}

// policy returns the DMARC policy of domain, from the cache when it can.
func (s *Service) policy(ctx context.Context, domain string) (mailauth.Policy, error) {
	domain = strings.ToLower(domain)
	s.mu.Lock()
	c, ok := s.policies[domain]
	s.mu.Unlock()
	if ok && s.now().Sub(c.when) < policyTTL {
		return c.p, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	p, err := mailauth.DMARCPolicy(ctx, s.dns, domain)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	if len(s.policies) > 10000 {
		clear(s.policies)
	}
	s.policies[domain] = cachedPolicy{p: p, when: s.now()}
	s.mu.Unlock()
	return p, nil
}

// errNotLookedUp: a post's author's policy was not looked up beforehand
// (or was forgotten since); the dispatcher looks it up and tries again.
var errNotLookedUp = errors.New("lists: DMARC policy not looked up yet")

// cachedPolicy is the policy of domain as Prefetch found it: no DNS is
// asked inside a transaction, where the one writer would wait for it.
func (s *Service) cachedPolicy(domain string) (mailauth.Policy, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.policies[strings.ToLower(domain)]
	if !ok || s.now().Sub(c.when) >= policyTTL {
		return "", errNotLookedUp
	}
	return c.p, nil
}

// PrefetchHeld is Prefetch for the post a moderation token names.
func (s *Service) PrefetchHeld(ctx context.Context, token string) error {
	var heldID int64
	err := s.db.QueryRow(ctx, "token.get", token).Scan(new(string), new(int64), new(string), new(string), &heldID,
		new(int64), new(int64), new(int64), new(string))
	if err != nil || heldID == 0 {
		return nil // a confirmation, or gone: nothing to look up
	}
	var msgID string
	if err := s.db.QueryRow(ctx, "held.get", heldID).Scan(new(int64), new(int64), &msgID, new(string), new(string),
		new(int64), new(int64), new(string)); err != nil {
		return nil
	}
	return s.Prefetch(ctx, msgID)
}

// Prefetch looks up, outside any transaction, the DMARC policy of the
// author of message id, so that posting it (inside one) finds it cached.
func (s *Service) Prefetch(ctx context.Context, messageID string) error {
	var raw []byte
	if err := s.db.QueryRow(ctx, "message.body", messageID).Scan(&raw); err != nil {
		return err
	}
	var mailFrom string
	if err := s.db.QueryRow(ctx, "message.envelope", messageID).Scan(new(int64), &mailFrom, new(string), new(string),
		new(bool), new(bool), new(int)); err != nil {
		return err
	}
	h, _ := header(raw)
	// The same author the post will be sent under (see Post and decide).
	a, _ := sender(h, mailFrom)
	if a == nil || s.dns == nil || !strings.Contains(a.Address, "@") {
		return nil
	}
	_, err := s.policy(ctx, a.Address[strings.LastIndexByte(a.Address, '@')+1:])
	return err
}

// unsubscribeAddress is the address shown in bodies for leaving the list:
// LIST+desinscription (LIST+leave in English), which works as
// LIST+unsubscribe does; filters count "unsubscribe@" in a body without an
// unsubscribe link against the message (SpamAssassin's KHOP_UNSUB_EMAIL).
func (s *Service) unsubscribeAddress(l List) string {
	if l.Lang == "en" {
		return s.Address(l, "leave")
	}
	return s.Address(l, "desinscription")
}
