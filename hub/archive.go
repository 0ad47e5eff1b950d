package hub

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"html/template"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"strconv"
	"strings"
	"time"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/archive"
	"codeberg.org/relais/relais/audit"
	"codeberg.org/relais/relais/imapd"
	"codeberg.org/relais/relais/lists"
	"codeberg.org/relais/relais/mailauth"
	"codeberg.org/relais/relais/signin"
	"codeberg.org/relais/relais/store"
	"codeberg.org/relais/relais/templates"
	"codeberg.org/relais/relais/web"
)

// The list archives' adapters (issue 19): what package web asks
// (web.Archives, and the app passwords of web.Members), answered by
// archive, lists and signin. Who may read an archive is decided here
// once, from the list's visibility and what the person is to the list.

// webArchives adapts the archives to the pages.
type webArchives struct{ h *Hub }

// reader is a list's archive opened for one person.
type reader struct {
	l    lists.List
	role string // owner, moderator, member, animator, or ""
	vis  string
	row  web.ArchiveList
}

// CanRead says whether someone who is role to a list may read an
// archive of visibility vis.
func CanRead(vis, role string) bool {
	switch vis {
	case archive.Public:
		return true
	case archive.Owners:
		return role == "owner" || role == "moderator"
	}
	return role != ""
}

// open finds list local and checks that email may read its archive.
func (a webArchives) open(ctx context.Context, local, email string) (reader, error) {
	h := a.h
	code, name, err := address.GroupLocal(strings.ToLower(local))
	if err != nil {
		return reader{}, web.ErrNoFeed
	}
	id, err := lists.Lookup(ctx, h.DB, code, name)
	if errors.Is(err, lists.ErrNotFound) {
		return reader{}, web.ErrNoFeed
	} else if err != nil {
		return reader{}, err
	}
	var rd reader
	if rd.l, rd.role, err = h.Lists.RoleOf(ctx, id, email); err != nil {
		return rd, err
	}
	if email == "" {
		rd.role = ""
	}
	if rd.vis, err = archive.Visibility(ctx, h.DB, id); err != nil {
		return rd, err
	}
	if !CanRead(rd.vis, rd.role) {
		if email == "" {
			return rd, web.ErrSignIn
		}
		return rd, web.ErrNoFeed
	}
	var n int
	if err := h.DB.QueryRow(ctx, "post.count", id).Scan(&n); err != nil {
		return rd, err
	}
	path := "/archives/" + rd.l.Local()
	rd.row = web.ArchiveList{ArchiveRow: web.ArchiveRow{Address: rd.l.Local(), Name: rd.l.DisplayName, Visibility: rd.vis},
		Path: path, Email: h.Lists.Address(rd.l, ""), CanPost: email != "", CanMbox: email != "" && rd.role != "",
		IsOwner: rd.role == "owner" || rd.role == "moderator", Policy: rd.l.Policy, Archived: n}
	if rd.vis == archive.Public {
		rd.row.Feed = path + "/atom"
	}
	return rd, nil
}

// mask: pages of a public archive show no address whole; so do all
// pages, since a member's archive may be made public later and pages
// are screenshot and shared. Whole messages (mbox, IMAP) are for the
// list's own people (members, owners, moderators), signed in: anyone
// known to the hub may sign in.
const mask = true

func (a webArchives) Readable(ctx context.Context, email string) ([]web.ArchiveRow, error) {
	rs, err := a.h.readable(ctx, email, true)
	if err != nil {
		return nil, err
	}
	out := make([]web.ArchiveRow, 0, len(rs))
	for _, r := range rs {
		out = append(out, web.ArchiveRow{Address: r.local, Name: r.name, Visibility: r.vis})
	}
	return out, nil
}

// readableList is a list whose archive someone may read.
type readableList struct {
	id               int64
	local, name, vis string
	created          time.Time
}

// readable lists the archives email may read ("": the public ones);
// without public, only the lists email is on or runs. One query says what
// email is to each list; territory lists alone ask the groups.
func (h *Hub) readable(ctx context.Context, email string, public bool) ([]readableList, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	rows, err := h.DB.Query(ctx, "archive.readable", email, public)
	if err != nil {
		return nil, err
	}
	type row struct {
		readableList
		policy, role string
	}
	var all []row
	for rows.Next() {
		var r row
		var code, name string
		var created int64
		if err := rows.Scan(&r.id, &code, &name, &r.name, &r.vis, &r.policy, &created, &r.role); err != nil {
			rows.Close()
			return nil, err
		}
		r.created = time.Unix(created, 0)
		r.local = strings.ToLower(code) + "." + name
		all = append(all, r)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	// Territory lists: their readers are the animators of the groups
	// inside them. The codes of the groups email animates are read once,
	// not every group's animators once per territory list (hundreds of
	// them: a member's page and every IMAP LIST, SELECT or STATUS).
	var mine []address.Code
	if email != "" {
		rows, err := h.DB.Query(ctx, "archive.animated-codes", email)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var gc string
			if err := rows.Scan(&gc); err != nil {
				rows.Close()
				return nil, err
			}
			if c, err := address.ParseCode(gc); err == nil {
				mine = append(mine, c)
			}
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return nil, err
		}
	}
	var out []readableList
	for _, r := range all {
		role := r.role
		if email == "" {
			role = ""
		} else if r.policy == lists.Territory && role == "" {
			zone, err := address.ParseCode(strings.SplitN(r.local, ".", 2)[0])
			for _, c := range mine {
				if err == nil && zone.Contains(c) {
					role = "animator"
					break
				}
			}
		}
		if role == "" && !(public && r.vis == archive.Public) {
			continue
		}
		if CanRead(r.vis, role) {
			out = append(out, r.readableList)
		}
	}
	return out, nil
}

func stamp(t time.Time) string { return t.In(parisZone()).Format("2006-01-02 15:04") }

func (a webArchives) postRow(rd reader, p archive.Post) web.ArchivePostRow {
	author := p.Name()
	if author == "" || strings.Contains(author, "@") {
		author = archive.Mask(p.Poster)
		if author == "" {
			author = "?"
		}
	}
	subject := archive.MaskText(p.Subject)
	if subject == "" {
		subject = "(—)"
	}
	return web.ArchivePostRow{ID: p.ID, Path: rd.row.Path + "/m/" + strconv.FormatInt(p.ID, 10),
		Thread: rd.row.Path + "/t/" + strconv.FormatInt(p.Thread, 10), Subject: subject, Author: author, When: stamp(p.Posted)}
}

func (a webArchives) Index(ctx context.Context, list, email string) (web.ArchiveIndex, error) {
	rd, err := a.open(ctx, list, email)
	if err != nil {
		return web.ArchiveIndex{}, err
	}
	p := web.ArchiveIndex{ArchiveList: rd.row}
	ms, err := archive.Months(ctx, a.h.DB, rd.l.ID)
	if err != nil {
		return p, err
	}
	for _, m := range ms {
		p.Months = append(p.Months, web.ArchiveMonthRow{YM: fmt.Sprintf("%04d-%02d", m.Year, m.Month), Posts: m.Posts})
	}
	latest, err := archive.Latest(ctx, a.h.DB, rd.l.ID, 10)
	if err != nil {
		return p, err
	}
	for _, x := range latest {
		p.Latest = append(p.Latest, a.postRow(rd, x))
	}
	return p, nil
}

func parseYM(ym string) (int, int, bool) {
	t, err := time.Parse("2006-01", ym)
	if err != nil || t.Year() < 1990 || t.Year() > 3000 {
		return 0, 0, false
	}
	return t.Year(), int(t.Month()), true
}

func (a webArchives) Month(ctx context.Context, list, email, ym string) (web.ArchiveMonth, error) {
	y, m, ok := parseYM(ym)
	if !ok {
		return web.ArchiveMonth{}, web.ErrNoFeed
	}
	rd, err := a.open(ctx, list, email)
	if err != nil {
		return web.ArchiveMonth{}, err
	}
	p := web.ArchiveMonth{ArchiveList: rd.row, YM: ym}
	ts, err := archive.MonthThreads(ctx, a.h.DB, rd.l.ID, y, m)
	if err != nil {
		return p, err
	}
	for _, t := range ts {
		r := a.postRow(rd, t.First)
		p.Threads = append(p.Threads, web.ArchiveThreadRow{Path: rd.row.Path + "/t/" + strconv.FormatInt(t.ID, 10),
			Subject: r.Subject, Author: r.Author, Posts: t.Posts, Last: stamp(t.Last)})
	}
	return p, nil
}

// message is a post as its page shows it.
func (a webArchives) message(ctx context.Context, rd reader, p archive.Post, depth int) (web.ArchiveMessage, error) {
	raw, err := archive.Body(ctx, a.h.DB, rd.l.ID, p.ID)
	if err != nil {
		return web.ArchiveMessage{}, err
	}
	row := a.postRow(rd, p)
	row.Depth = depth
	part := func(n int) string { return row.Path + "/part/" + strconv.Itoa(n) }
	v := archive.Read(raw, mask, part)
	m := web.ArchiveMessage{ArchivePostRow: row, From: v.From, Date: v.Date, To: v.To, Cc: v.Cc}
	for _, x := range v.Parts {
		switch {
		case x.Text != "":
			m.Parts = append(m.Parts, web.ArchivePart{Text: x.Text})
		case x.HTML != "":
			m.Parts = append(m.Parts, web.ArchivePart{HTML: template.HTML(x.HTML)}) // sanitised by archive.Sanitize
		default:
			m.Parts = append(m.Parts, web.ArchivePart{Name: x.Name, Path: part(x.N), Type: x.Type, Size: size(x.Size)})
		}
	}
	return m, nil
}

func size(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d kB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

func (a webArchives) Thread(ctx context.Context, list, email string, id int64) (web.ArchiveThread, error) {
	rd, err := a.open(ctx, list, email)
	if err != nil {
		return web.ArchiveThread{}, err
	}
	nodes, err := archive.ThreadPosts(ctx, a.h.DB, rd.l.ID, id)
	if errors.Is(err, archive.ErrNotFound) {
		return web.ArchiveThread{}, web.ErrNoFeed
	} else if err != nil {
		return web.ArchiveThread{}, err
	}
	t := web.ArchiveThread{ArchiveList: rd.row, ID: id, Path: rd.row.Path + "/t/" + strconv.FormatInt(id, 10)}
	t.Mbox = t.Path + "/mbox"
	for _, n := range nodes {
		m, err := a.message(ctx, rd, n.Post, n.Depth)
		if err != nil {
			return t, err
		}
		t.Posts = append(t.Posts, m)
	}
	t.Subject = t.Posts[0].Subject
	return t, nil
}

func (a webArchives) Message(ctx context.Context, list, email string, id int64) (web.ArchiveThread, error) {
	rd, err := a.open(ctx, list, email)
	if err != nil {
		return web.ArchiveThread{}, err
	}
	p, err := archive.Head(ctx, a.h.DB, id)
	if errors.Is(err, archive.ErrNotFound) || err == nil && p.List != rd.l.ID {
		return web.ArchiveThread{}, web.ErrNoFeed
	} else if err != nil {
		return web.ArchiveThread{}, err
	}
	m, err := a.message(ctx, rd, p, 0)
	if err != nil {
		return web.ArchiveThread{}, err
	}
	return web.ArchiveThread{ArchiveList: rd.row, ID: p.Thread, Path: rd.row.Path, Subject: m.Subject,
		Posts: []web.ArchiveMessage{m}, Mbox: m.Thread + "/mbox"}, nil
}

func (a webArchives) Attachment(ctx context.Context, list, email string, id int64, n int) (web.ArchiveFile, error) {
	rd, err := a.open(ctx, list, email)
	if err != nil {
		return web.ArchiveFile{}, err
	}
	raw, err := archive.Body(ctx, a.h.DB, rd.l.ID, id)
	if errors.Is(err, archive.ErrNotFound) {
		return web.ArchiveFile{}, web.ErrNoFeed
	} else if err != nil {
		return web.ArchiveFile{}, err
	}
	data, typ, name, ok := archive.Attachment(raw, n)
	if !ok {
		return web.ArchiveFile{}, web.ErrNoFeed
	}
	if rd.role == "" {
		// A public archive's reader who is not of the list: what can be
		// masked is, as on the pages (a CSV of sign-ups, a message
		// forwarded as an attachment); a PDF or an image cannot be.
		t := strings.ToLower(typ)
		switch {
		case strings.HasPrefix(t, "message/"):
			return web.ArchiveFile{Name: archive.MaskText(name) + ".txt", Type: "text/plain; charset=utf-8", Data: archive.MaskedText(data)}, nil
		case strings.HasPrefix(t, "text/"):
			data = []byte(archive.MaskText(string(data)))
		}
		name = archive.MaskText(name)
	}
	return web.ArchiveFile{Name: name, Type: archive.SafeType(typ), Data: data}, nil
}

func (a webArchives) Search(ctx context.Context, list, email string, q web.ArchiveQuery) (web.ArchiveSearch, error) {
	rd, err := a.open(ctx, list, email)
	if err != nil {
		return web.ArchiveSearch{}, err
	}
	p := web.ArchiveSearch{ArchiveList: rd.row, Query: q}
	aq := archive.Query{Words: q.Words, Author: q.Author, Before: q.Before, Limit: 50}
	day := func(s string) (time.Time, bool) {
		if s == "" {
			return time.Time{}, true
		}
		t, err := time.ParseInLocation("2006-01-02", s, parisZone())
		return t, err == nil
	}
	var ok1, ok2 bool
	aq.From, ok1 = day(q.From)
	aq.To, ok2 = day(q.To)
	if !aq.To.IsZero() {
		aq.To = aq.To.AddDate(0, 0, 1) // the whole last day
	}
	if !ok1 || !ok2 {
		p.Problem = "bad-date"
		return p, nil
	}
	start := time.Now()
	hits, err := archive.Search(ctx, a.h.DB, rd.l.ID, aq)
	p.Took = time.Since(start)
	if errors.Is(err, archive.ErrEmptyQuery) {
		if q != (web.ArchiveQuery{}) {
			p.Problem = "empty"
		}
		return p, nil
	} else if err != nil {
		return p, err
	}
	for _, x := range hits {
		r := a.postRow(rd, x.Post)
		ex := html.EscapeString(archive.MaskExcerpt(x.Excerpt))
		ex = strings.NewReplacer("\x01", "<mark>", "\x02", "</mark>").Replace(ex)
		r.Excerpt = template.HTML(ex) // escaped above, only <mark> added
		p.Hits = append(p.Hits, r)
	}
	if len(hits) == aq.Limit {
		v := fmt.Sprintf("?q=%s&author=%s&from=%s&to=%s&before=%d", urlq(q.Words), urlq(q.Author), urlq(q.From), urlq(q.To),
			hits[len(hits)-1].ID)
		p.More = rd.row.Path + "/search" + v
	}
	return p, nil
}

func urlq(s string) string { return strings.ReplaceAll(template.URLQueryEscaper(s), "%20", "+") }

func (a webArchives) Mbox(ctx context.Context, list, email, ym string, thread int64, w io.Writer) error {
	if email == "" {
		return web.ErrSignIn
	}
	rd, err := a.open(ctx, list, email)
	if err != nil {
		return err
	}
	if !rd.row.CanMbox {
		return web.ErrNoFeed // a public archive's reader who is not of the list
	}
	var n int
	if ym != "" {
		y, m, ok := parseYM(ym)
		if !ok {
			return web.ErrNoFeed
		}
		n, err = archive.MonthMbox(ctx, a.h.DB, rd.l.ID, y, m, w)
	} else {
		n, err = archive.ThreadMbox(ctx, a.h.DB, rd.l.ID, thread, w)
	}
	if err == nil && n == 0 {
		return web.ErrNoFeed
	}
	return err
}

// Atom writes a public archive's 30 latest posts (RFC 4287), addresses
// masked, the text of each in its content.
func (a webArchives) Atom(ctx context.Context, list string, w io.Writer) error {
	rd, err := a.open(ctx, list, "")
	if err != nil {
		return err
	}
	if rd.vis != archive.Public {
		return web.ErrNoFeed
	}
	base := strings.TrimSuffix(a.h.Lists.ArchiveURL(rd.l), "/archives/"+rd.l.Local())
	posts, err := archive.Latest(ctx, a.h.DB, rd.l.ID, 30)
	if err != nil {
		return err
	}
	type link struct {
		Href string `xml:"href,attr"`
		Rel  string `xml:"rel,attr,omitempty"`
	}
	type content struct {
		Type string `xml:"type,attr"`
		Text string `xml:",chardata"`
	}
	type author struct {
		Name string `xml:"name"`
	}
	type entry struct {
		Title   string  `xml:"title"`
		ID      string  `xml:"id"`
		Link    link    `xml:"link"`
		Updated string  `xml:"updated"`
		Author  author  `xml:"author"`
		Content content `xml:"content"`
	}
	type feed struct {
		XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
		Title   string   `xml:"title"`
		ID      string   `xml:"id"`
		Links   []link   `xml:"link"`
		Updated string   `xml:"updated"`
		Entries []entry  `xml:"entry"`
	}
	f := feed{Title: rd.l.DisplayName, ID: a.h.Lists.ArchiveURL(rd.l),
		Links:   []link{{Href: a.h.Lists.ArchiveURL(rd.l)}, {Href: a.h.Lists.ArchiveURL(rd.l) + "/atom", Rel: "self"}},
		Updated: time.Unix(0, 0).UTC().Format(time.RFC3339)}
	for i, p := range posts {
		if i == 0 {
			f.Updated = p.Posted.UTC().Format(time.RFC3339)
		}
		raw, err := archive.Body(ctx, a.h.DB, rd.l.ID, p.ID)
		if err != nil {
			return err
		}
		v := archive.Read(raw, true, nil)
		var text strings.Builder
		for _, x := range v.Parts {
			if x.Text != "" {
				text.WriteString(x.Text)
			} else if x.Name != "" {
				text.WriteString("[" + x.Name + "]\n")
			}
		}
		r := a.postRow(rd, p)
		f.Entries = append(f.Entries, entry{Title: r.Subject, ID: a.h.Lists.Permalink(rd.l, p.ID),
			Link: link{Href: base + r.Path}, Updated: p.Posted.UTC().Format(time.RFC3339), Author: author{Name: r.Author},
			Content: content{Type: "text", Text: text.String()}})
	}
	io.WriteString(w, xml.Header)
	return xml.NewEncoder(w).Encode(f)
}

// Post writes what a signed-in member typed as a message From their
// address to the list, and hands it to the dispatcher as if it had come
// by SMTP: the same route, the same posting policy, the same copies. The
// verdict on top says the hub proved the From (mailauth.SignedInField).
func (a webArchives) Post(ctx context.Context, list, email string, p web.ArchivePost) (web.ArchivePosted, error) {
	rd, err := a.open(ctx, list, email)
	if err != nil {
		return web.ArchivePosted{}, err
	}
	h := a.h
	var refs []string
	if p.ReplyTo != 0 {
		parent, err := archive.Head(ctx, h.DB, p.ReplyTo)
		if err != nil || parent.List != rd.l.ID {
			return web.ArchivePosted{}, web.ErrNoFeed
		}
		raw, err := archive.Body(ctx, h.DB, rd.l.ID, parent.ID)
		if err != nil {
			return web.ArchivePosted{}, err
		}
		refs = archive.References(raw)
	}
	msg := h.webMessage(rd.l, email, p, refs)
	id := store.NewID()
	in := inbound{messageID: id, rcpt: h.Lists.Address(rd.l, ""), route: routeList, target: strconv.FormatInt(rd.l.ID, 10)}
	now := h.now()
	err = h.DB.Write(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec("message.insert", id, now.Unix(), email, p.Client, "web", false, false, len(msg), msg); err != nil {
			return err
		}
		res, err := tx.Exec("inbound.insert", id, in.rcpt, in.route, in.target, now.Unix(), "pending")
		if err != nil {
			return err
		}
		if in.id, err = res.LastInsertId(); err != nil {
			return err
		}
		// Ours to handle below: the dispatcher's scan passes it by.
		h.disp.mu.Lock()
		h.disp.inflight[in.id] = true
		h.disp.mu.Unlock()
		return nil
	})
	if err != nil {
		h.disp.mu.Lock()
		delete(h.disp.inflight, in.id)
		h.disp.mu.Unlock()
		return web.ArchivePosted{}, err
	}
	h.log.Info("accepted", "qid", id, "from", "web", "rcpt", address.Redact(in.rcpt))
	h.disp.handle(ctx, in)
	h.disp.mu.Lock()
	delete(h.disp.inflight, in.id)
	h.disp.mu.Unlock()
	var state string
	if err := h.DB.QueryRow(ctx, "archive.web-state", in.id).Scan(&state); err != nil {
		return web.ArchivePosted{}, err
	}
	if state != "done" {
		h.disp.kick()
		return web.ArchivePosted{Outcome: "failed"}, nil
	}
	var held int
	if err := h.DB.QueryRow(ctx, "archive.web-held", id).Scan(&held); err != nil {
		return web.ArchivePosted{}, err
	}
	if held > 0 {
		return web.ArchivePosted{Outcome: "held"}, nil
	}
	var post, thread int64
	if err := h.DB.QueryRow(ctx, "archive.by-msgid", rd.l.ID, archive.MessageID(msg), 0).Scan(&post, &thread); err != nil {
		return web.ArchivePosted{Outcome: "refused"}, nil
	}
	return web.ArchivePosted{Outcome: "sent", Path: rd.row.Path + "/t/" + strconv.FormatInt(thread, 10)}, nil
}

// webMessage is the message a web post makes: plain text in UTF-8,
// quoted-printable, threaded under refs (nearest last).
func (h *Hub) webMessage(l lists.List, email string, p web.ArchivePost, refs []string) []byte {
	var b bytes.Buffer
	now := h.now()
	b.WriteString(mailauth.SignedInField(h.Config.Auth.AuthservID, email))
	fmt.Fprintf(&b, "Received: from web by %s (relais) with HTTPS; %s\r\n", h.Config.Hostname, now.Format(time.RFC1123Z))
	b.WriteString("From: " + email + "\r\n")
	b.WriteString("To: " + h.Lists.Address(l, "") + "\r\n")
	b.WriteString("Subject: " + mime.QEncoding.Encode("utf-8", oneLine(p.Subject)) + "\r\n")
	b.WriteString("Date: " + now.Format(time.RFC1123Z) + "\r\n")
	b.WriteString("Message-ID: " + templates.NewMessageID(h.Config.Hostname) + "\r\n")
	if len(refs) > 0 {
		b.WriteString("In-Reply-To: <" + refs[len(refs)-1] + ">\r\n")
		var ids []string
		for _, r := range refs {
			ids = append(ids, "<"+r+">")
		}
		b.WriteString("References: " + strings.Join(ids, "\r\n ") + "\r\n")
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	text := strings.ReplaceAll(strings.ReplaceAll(p.Text, "\r\n", "\n"), "\n", "\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(strings.TrimRight(text, "\r\n ") + "\r\n"))
	qp.Close()
	return b.Bytes()
}

func (a webArchives) Remove(ctx context.Context, list, email string, id int64, reason, client string) error {
	rd, err := a.open(ctx, list, email)
	if err != nil {
		return err
	}
	if !rd.row.IsOwner {
		return web.ErrNoFeed
	}
	err = archive.Remove(ctx, a.h.DB, rd.l.ID, rd.l.Local(), id, audit.Actor{Who: email, Via: audit.ViaWeb, From: client}, reason, a.h.now())
	if errors.Is(err, archive.ErrNotFound) {
		return web.ErrNoFeed
	}
	if err == nil {
		a.h.log.Info("archive post removed", "list", rd.l.Local(), "post", id, "by", address.Redact(email))
		a.h.archiveChanged(rd.l.ID)
	}
	return err
}

// archiveChanged tells the IMAP server's idle clients of a list.
func (h *Hub) archiveChanged(listID int64) {
	if h.IMAP != nil {
		h.IMAP.Changed(listID)
	}
}

// The app passwords of a member's page (package signin).

func (w webMembers) NewAppPassword(ctx context.Context, email, name string) (string, error) {
	return w.h.SignIn.NewAppPassword(ctx, email, name)
}

func (w webMembers) RevokeAppPassword(ctx context.Context, email string, id int64) error {
	return w.h.SignIn.RevokeAppPassword(ctx, email, id)
}

// archiveRows adds to a member's page the archives they may read, their
// app passwords and where their mail client finds the IMAP server.
func (w webMembers) archiveRows(ctx context.Context, p *web.MemberPage) error {
	var err error
	if p.Archives, err = (webArchives{w.h}).Readable(ctx, p.Email); err != nil {
		return err
	}
	pws, err := w.h.SignIn.AppPasswords(ctx, p.Email)
	if err != nil {
		return err
	}
	for _, x := range pws {
		r := web.AppPasswordRow{ID: x.ID, Name: x.Name, Created: stamp(x.Created)}
		if !x.Used.IsZero() {
			r.Used = stamp(x.Used)
		}
		p.AppPasswords = append(p.AppPasswords, r)
	}
	c := w.h.Config.IMAP
	host := c.Host
	if host == "" {
		host = w.h.Config.Hostname
	}
	switch {
	case c.ListenTLS != "":
		p.IMAPHost, p.IMAPSecurity = host, "tls"
		_, p.IMAPPort, _ = net.SplitHostPort(c.ListenTLS)
	case w.h.IMAPAddr() != nil:
		p.IMAPHost, p.IMAPSecurity = host, "starttls"
		if w.h.Config.SMTP.TLSCert == "" {
			p.IMAPSecurity = "none"
		}
		_, p.IMAPPort, _ = net.SplitHostPort(w.h.IMAPAddr().String())
	}
	return nil
}

// imapArchives answers the IMAP server (package imapd): app passwords,
// and the folders of the archives a member may read.
type imapArchives struct{ h *Hub }

func (a imapArchives) Login(ctx context.Context, email, password string) error {
	err := a.h.SignIn.CheckAppPassword(ctx, email, password)
	if errors.Is(err, signin.ErrBadPassword) {
		return imapd.ErrBadLogin
	}
	return err
}

// Reads is Folders for one list, without looking at every other: what a
// member is to this list, and its archive's visibility.
func (a imapArchives) Reads(ctx context.Context, email string, list int64) (bool, error) {
	_, role, err := a.h.Lists.RoleOf(ctx, list, email)
	if errors.Is(err, lists.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if role == "" {
		return false, nil // public archives of other lists are on the web, not in IMAP
	}
	vis, err := archive.Visibility(ctx, a.h.DB, list)
	if err != nil {
		return false, err
	}
	return CanRead(vis, role), nil
}

func (a imapArchives) Folders(ctx context.Context, email string) ([]imapd.Folder, error) {
	// A folder for each list the member is on or runs, whose archive they
	// may read; public archives of other lists are on the web.
	rs, err := a.h.readable(ctx, email, false)
	if err != nil {
		return nil, err
	}
	out := make([]imapd.Folder, 0, len(rs))
	for _, r := range rs {
		out = append(out, imapd.Folder{Name: r.local, List: r.id, UIDValidity: uint32(r.created.Unix())})
	}
	return out, nil
}
