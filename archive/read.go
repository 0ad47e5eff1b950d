package archive

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
	"unicode"

	"codeberg.org/relais/relais/store"
)

// Month is a month of an archive with its number of posts.
type Month struct {
	Year, Month int
	Posts       int
}

// Months lists a list's months with posts, newest first (UTC).
func Months(ctx context.Context, db *store.DB, listID int64) ([]Month, error) {
	rows, err := db.Query(ctx, "archive.months", listID)
	if err != nil {
		return nil, err
	}
	var out []Month
	for rows.Next() {
		var m string
		var n int
		if err := rows.Scan(&m, &n); err != nil {
			rows.Close()
			return nil, err
		}
		var y, mo int
		fmt.Sscanf(m, "%d-%d", &y, &mo)
		out = append(out, Month{Year: y, Month: mo, Posts: n})
	}
	return out, errors.Join(rows.Err(), rows.Close())
}

// Thread is a thread as a month lists it.
type Thread struct {
	ID    int64 // its first post's id (the thread's permalink)
	First Post  // its first post present in the month
	Posts int   // its posts in the month
	Last  time.Time
}

// MonthBounds are the first instant of a month and of the next (UTC).
func MonthBounds(year, month int) (time.Time, time.Time) {
	from := time.Date(year, time.Month(month), 1, 0, 0, 0, 0, time.UTC)
	return from, from.AddDate(0, 1, 0)
}

// MonthThreads lists the threads with posts in a month, latest activity
// first.
func MonthThreads(ctx context.Context, db *store.DB, listID int64, year, month int) ([]Thread, error) {
	from, to := MonthBounds(year, month)
	rows, err := db.Query(ctx, "archive.month-threads", listID, from.Unix(), to.Unix())
	if err != nil {
		return nil, err
	}
	var out []Thread
	var firsts []int64
	for rows.Next() {
		var t Thread
		var first, last int64
		if err := rows.Scan(&t.ID, &t.Posts, &first, &last); err != nil {
			rows.Close()
			return nil, err
		}
		t.Last = time.Unix(last, 0)
		out = append(out, t)
		firsts = append(firsts, first)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	for i, id := range firsts {
		p, err := Head(ctx, db, id)
		if err != nil {
			return nil, err
		}
		out[i].First = p
	}
	return out, nil
}

type scanner interface{ Scan(...any) error }

func scanPost(r scanner, extra ...any) (Post, error) {
	var p Post
	var at int64
	err := r.Scan(append([]any{&p.ID, &p.List, &p.Poster, &p.Author, &p.Subject, &at, &p.MsgID, &p.Parent, &p.Thread, &p.Size}, extra...)...)
	p.Posted = time.Unix(at, 0)
	return p, err
}

// Head returns post id without its body.
func Head(ctx context.Context, db *store.DB, id int64) (Post, error) {
	p, err := scanPost(db.QueryRow(ctx, "archive.head", id))
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("%w: post %d", ErrNotFound, id)
	}
	return p, err
}

// Node is a post in a thread's tree, with its depth.
type Node struct {
	Post
	Depth int
}

// ThreadPosts returns the posts of thread id in list listID as a tree,
// depth first, answers in date order. A post whose parent is gone
// (removed, or past retention) stands at the top.
func ThreadPosts(ctx context.Context, db *store.DB, listID, id int64) ([]Node, error) {
	rows, err := db.Query(ctx, "archive.thread", id, listID)
	if err != nil {
		return nil, err
	}
	var posts []Post
	for rows.Next() {
		p, err := scanPost(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		posts = append(posts, p)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	if len(posts) == 0 {
		return nil, fmt.Errorf("%w: thread %d", ErrNotFound, id)
	}
	return Tree(posts), nil
}

// Tree orders posts as a tree from their parents, depth first; answers
// in date order under their parent; posts whose parent is not among them
// at the top.
func Tree(posts []Post) []Node {
	present := map[int64]bool{}
	for _, p := range posts {
		present[p.ID] = true
	}
	kids := map[int64][]Post{}
	var roots []Post
	for _, p := range posts {
		if p.Parent != 0 && present[p.Parent] && p.Parent != p.ID {
			kids[p.Parent] = append(kids[p.Parent], p)
		} else {
			roots = append(roots, p)
		}
	}
	byDate := func(ps []Post) {
		sort.SliceStable(ps, func(i, j int) bool {
			if !ps[i].Posted.Equal(ps[j].Posted) {
				return ps[i].Posted.Before(ps[j].Posted)
			}
			return ps[i].ID < ps[j].ID
		})
	}
	byDate(roots)
	var out []Node
	seen := map[int64]bool{}
	var walk func(p Post, d int)
	walk = func(p Post, d int) {
		if seen[p.ID] {
			return
		}
		seen[p.ID] = true
		out = append(out, Node{Post: p, Depth: d})
		ks := kids[p.ID]
		byDate(ks)
		for _, k := range ks {
			walk(k, min(d+1, 12))
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	for _, p := range posts { // parents in a loop: shown all the same
		if !seen[p.ID] {
			walk(p, 0)
		}
	}
	return out
}

// Body returns post id of list listID as archived.
func Body(ctx context.Context, db *store.DB, listID, id int64) ([]byte, error) {
	var b []byte
	err := db.QueryRow(ctx, "archive.post", id, listID).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: post %d", ErrNotFound, id)
	}
	return b, err
}

// Latest returns a list's n latest posts, newest first.
func Latest(ctx context.Context, db *store.DB, listID int64, n int) ([]Post, error) {
	rows, err := db.Query(ctx, "archive.latest", listID, n)
	if err != nil {
		return nil, err
	}
	var out []Post
	for rows.Next() {
		p, err := scanPost(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, p)
	}
	return out, errors.Join(rows.Err(), rows.Close())
}

// Query is a search of one list's archive.
type Query struct {
	Words  string    // words to find, accents or not ("réunion" finds "reunion")
	Author string    // words of the author's name or address
	From   time.Time // posted at or after (zero: from the start)
	To     time.Time // posted before (zero: up to now)
	Before int64     // the next page: posts with a smaller id (0: the first page)
	Limit  int
}

// Hit is a post a search found, with the words around what matched:
// Excerpt holds \x01 and \x02 around each match.
type Hit struct {
	Post
	Excerpt string
}

// ErrEmptyQuery: a search with nothing to look for.
var ErrEmptyQuery = errors.New("archive: nothing to search for")

// Search finds the posts of list listID that hold every word of q.Words
// (in subject, author or text) and of q.Author (in the author's name or
// address), posted within the dates, newest first.
func Search(ctx context.Context, db *store.DB, listID int64, q Query) ([]Hit, error) {
	match := matchExpr(q.Words, "")
	if a := matchExpr(q.Author, "author:"); a != "" {
		match = strings.TrimSpace(match + " " + a)
	}
	from, to := int64(0), int64(1<<62)
	if !q.From.IsZero() {
		from = q.From.Unix()
	}
	if !q.To.IsZero() {
		to = q.To.Unix()
	}
	before := q.Before
	if before <= 0 {
		before = 1 << 62
	}
	if q.Limit <= 0 {
		q.Limit = 50
	}
	var rows *sql.Rows
	var err error
	switch {
	case match != "":
		rows, err = db.Query(ctx, "archive.search", match, listID, from, to, before, q.Limit)
	case !q.From.IsZero() || !q.To.IsZero():
		rows, err = db.Query(ctx, "archive.range", listID, from, to, before, q.Limit)
	default:
		return nil, ErrEmptyQuery
	}
	if err != nil {
		return nil, err
	}
	var out []Hit
	for rows.Next() {
		var h Hit
		p, err := scanPost(rows, &h.Excerpt)
		if err != nil {
			rows.Close()
			return nil, err
		}
		h.Post = p
		out = append(out, h)
	}
	return out, errors.Join(rows.Err(), rows.Close())
}

// matchExpr makes an FTS4 query of what a person typed: each word a
// term of letters and digits (so nothing they type is an operator),
// all required;
// col restricts them to a column ("author:").
func matchExpr(s, col string) string {
	var terms []string
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) }) {
		if len(terms) == 16 {
			break
		}
		// Letters and digits only, lower case: never an operator (OR,
		// NEAR, -) of the query syntax.
		terms = append(terms, col+strings.ToLower(w))
	}
	return strings.Join(terms, " ")
}

// WriteMbox writes posts (id, poster, date, body) from rows as mboxrd
// (RFC 4155), LF line ends, oldest first; it returns how many.
func writeMbox(rows *sql.Rows, w io.Writer) (int, error) {
	defer rows.Close()
	bw := bufio.NewWriter(w)
	n := 0
	for rows.Next() {
		var id, at int64
		var poster string
		var body []byte
		if err := rows.Scan(&id, &poster, &at, &body); err != nil {
			return n, err
		}
		if poster == "" || strings.ContainsAny(poster, " \t") {
			poster = "MAILER-DAEMON"
		}
		bw.WriteString("From " + poster + " " + time.Unix(at, 0).UTC().Format(time.ANSIC) + "\n")
		body = bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n"))
		for _, line := range bytes.SplitAfter(body, []byte("\n")) {
			if bytes.HasPrefix(bytes.TrimLeft(line, ">"), []byte("From ")) {
				bw.WriteByte('>')
			}
			bw.Write(line)
		}
		if !bytes.HasSuffix(body, []byte("\n")) {
			bw.WriteByte('\n')
		}
		bw.WriteByte('\n')
		n++
	}
	if err := rows.Err(); err != nil {
		return n, err
	}
	return n, bw.Flush()
}

// MonthMbox writes a month of a list's archive as mbox.
func MonthMbox(ctx context.Context, db *store.DB, listID int64, year, month int, w io.Writer) (int, error) {
	from, to := MonthBounds(year, month)
	rows, err := db.Query(ctx, "archive.month-bodies", listID, from.Unix(), to.Unix())
	if err != nil {
		return 0, err
	}
	return writeMbox(rows, w)
}

// ThreadMbox writes a thread as mbox.
func ThreadMbox(ctx context.Context, db *store.DB, listID, thread int64, w io.Writer) (int, error) {
	rows, err := db.Query(ctx, "archive.thread-bodies", thread, listID)
	if err != nil {
		return 0, err
	}
	return writeMbox(rows, w)
}
