package signin

import (
	"bytes"
	"io"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"

	"codeberg.org/relais/relais/dkim"
	"codeberg.org/relais/relais/internal/rawheader"
	"codeberg.org/relais/relais/store"
)

// findTokens finds a footer's or digest's link to a member's page in
// text: its token alone, wherever it is, since the path before it is not
// always written out. Link-protecting gateways (Outlook's Safe Links, and
// others) quote the whole link percent-encoded inside their own
// ("?url=https%3A%2F%2Fhub%2Fsignin%2Fl.12…"), and a reply quotes it so.
// What is not a link of the hub's fails its MAC and is left alone.
//
// A token is what the regular expression
// [al]\.[0-9a-f]{1,40}\.[0-9a-z]{1,13}\.[a-z2-7]{26} matches (the tests
// compare them); searched by hand, since every message to a list or a
// group is searched inside the writer's transaction, and the regexp
// package took a fifth of a millisecond for 4 KB.
// findTokens returns the first max tokens in b, as FindAll would with the
// expression. Each of the pattern's runs ends where a '.'
// must follow (or is exactly 26 long), so whether it matches at a place,
// and how long, is known without going back: the search goes from one
// '.' to the next.
func findTokens(b []byte, max int) [][]byte {
	var out [][]byte
	from := 0 // matches do not overlap
	for i := 0; len(out) < max; {
		j := bytes.IndexByte(b[i:], '.')
		if j < 0 {
			break
		}
		dot := i + j
		i = dot + 1
		start := dot - 1
		if start < from || b[start] != 'a' && b[start] != 'l' {
			continue
		}
		if n := tokenAt(b, start); n > 0 {
			out = append(out, b[start:start+n])
			from, i = start+n, start+n
		}
	}
	return out
}

// tokenAt returns the length of the footerRE match at b[i:], 0 if none.
func tokenAt(b []byte, i int) int {
	p := i + 2 // past "a." or "l."
	run := func(max int, in func(byte) bool) int {
		n := 0
		for p+n < len(b) && n <= max && in(b[p+n]) {
			n++
		}
		return n
	}
	hex := func(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }
	alnum := func(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' }
	b32 := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '2' && c <= '7' }
	if n := run(40, hex); n < 1 || n > 40 || p+n >= len(b) || b[p+n] != '.' {
		return 0
	} else {
		p += n + 1
	}
	if n := run(13, alnum); n < 1 || n > 13 || p+n >= len(b) || b[p+n] != '.' {
		return 0
	} else {
		p += n + 1
	}
	if n := run(26, b32); n < 26 {
		return 0
	}
	return p + 26 - i
}

// maxQuoted bounds the links looked up for one message: a long thread
// quotes a few dozen footers; a message made of candidates would
// otherwise hold the one writer for a lookup each.
const maxQuoted = 500

// SpendQuoted spends, inside tx, every link to a member's page that a
// message quotes (in any part, decoded): a reply to a list that quotes a
// member's footer would otherwise hand their page to every reader of the
// list. The hub calls it on every post to a list before it goes out or is
// held. It returns how many links it spent.
func (s *Service) SpendQuoted(tx *store.Tx, msg []byte) (int, error) {
	found := quotedTokens(msg)
	n := 0
	for _, tok := range found {
		l, err := s.read(tx, tok)
		if err != nil {
			continue // not ours, or spent already
		}
		if _, err := tx.Exec("weblink.spend", l.hash, l.expires.Unix()); err != nil {
			return n, err
		}
		n++
	}
	if n > 0 {
		s.log.Info("links to members' pages quoted in a post spent", "count", n)
	}
	return n, nil
}

// quotedTokens returns the tokens of links to members' pages that msg
// holds, as written and in each text part decoded, the first maxQuoted.
func quotedTokens(msg []byte) []string {
	found := map[string]bool{}
	var out []string
	look := func(b []byte) {
		// Quoted-printable soft line breaks may cut a link: join them.
		if bytes.Contains(b, []byte("=\n")) || bytes.Contains(b, []byte("=\r\n")) {
			b = bytes.ReplaceAll(b, []byte("=\r\n"), nil)
			b = bytes.ReplaceAll(b, []byte("=\n"), nil)
		}
		for _, m := range findTokens(b, maxQuoted) {
			if len(out) < maxQuoted && !found[string(m)] {
				found[string(m)] = true
				out = append(out, string(m))
			}
		}
	}
	look(msg)
	th, err := textproto.ReadHeader(rawheader.Reader(msg))
	if err != nil {
		return out
	}
	h := message.Header{Header: th}
	if asWritten(h) {
		return out
	}
	body := msg[min(dkim.BodyStart(msg), len(msg)):]
	if e, _ := message.New(h, bytes.NewReader(body)); e != nil {
		walk(e, 0, look)
	}
	return out
}

// asWritten says whether a message with header h is one part whose text,
// decoded, is its bytes as written, which look has seen already: no
// transfer encoding but 7bit, 8bit or binary, and a charset that writes
// ASCII as ASCII (the tokens are ASCII). Anything else is decoded and
// looked at again.
func asWritten(h message.Header) bool {
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "", "7bit", "8bit", "binary":
	default:
		return false
	}
	t, params, _ := h.ContentType()
	if strings.HasPrefix(t, "multipart/") || t == "message/rfc822" {
		return false // parts, or a message attached whole, decoded below
	}
	switch cs := strings.ToLower(params["charset"]); {
	case cs == "", cs == "us-ascii", cs == "utf-8", strings.HasPrefix(cs, "iso-8859-"), strings.HasPrefix(cs, "windows-125"):
		return true
	}
	return false
}

// walk hands look the decoded body of every text part of e, a bounded
// amount of it.
func walk(e *message.Entity, depth int, look func([]byte)) {
	if depth > 10 {
		return
	}
	if mr := e.MultipartReader(); mr != nil {
		for i := 0; i < 100; i++ {
			p, err := mr.NextPart()
			if p == nil || err != nil && !message.IsUnknownCharset(err) {
				return
			}
			walk(p, depth+1, look)
		}
		return
	}
	t, _, _ := e.Header.ContentType()
	if t != "" && !strings.HasPrefix(t, "text/") && t != "message/rfc822" {
		return
	}
	b, _ := io.ReadAll(io.LimitReader(e.Body, 4<<20))
	look(b)
	if t == "message/rfc822" {
		// A message attached whole: its own parts, decoded.
		if inner, _ := message.Read(bytes.NewReader(b)); inner != nil {
			walk(inner, depth+1, look)
		}
	}
}
