package lists

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/textproto"
)

// An insertion is a place in a stored post where each member's footer
// goes, found once when the post is sent, so that making ten thousand
// personal copies is only copying bytes.
type insertion struct {
	At       int    `json:"a"`           // byte offset in the stored message
	HTML     bool   `json:"h,omitempty"` // an HTML block rather than text
	QP       bool   `json:"q,omitempty"` // quoted-printable part
	Boundary string `json:"b,omitempty"` // a whole new text/plain part before this closing delimiter
}

// render is the bytes inserted for one member.
func (in insertion) render(foot, unsub, manage string, atEnd bool) string {
	if in.Boundary != "" {
		return "--" + in.Boundary + "\r\nContent-Type: text/plain; charset=utf-8\r\n" +
			"Content-Transfer-Encoding: quoted-printable\r\nContent-Disposition: inline\r\n\r\n" +
			qp(toCRLF(strings.TrimRight(foot, "\n"))) + "\r\n"
	}
	var s string
	if in.HTML {
		s = htmlFooter(foot, unsub, manage)
	} else {
		// RFC 3676 §4.3 signature separator: clients grey it out.
		s = "\r\n-- \r\n" + toCRLF(strings.TrimRight(foot, "\n"))
		if atEnd {
			s += "\r\n"
		}
	}
	if in.QP {
		return qp(s)
	}
	return s
}

func toCRLF(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

// layout finds where footers go in msg, changing as little as it can:
//   - a text/plain or text/html body (7bit, 8bit or quoted-printable, in
//     US-ASCII or UTF-8) gets the footer at its end, or before </body>;
//   - multipart/alternative: each such text part gets it;
//   - multipart/mixed and multipart/related: their first part is looked at
//     the same way; if it cannot take a footer, a text/plain part is added
//     at the end of the mixed body;
//   - anything else (multipart/signed, encrypted, base64 or other charsets)
//     is wrapped whole as the first part of a new multipart/mixed whose
//     second part is the footer (RFC 2046 §5.1.3), so a signature over it
//     still holds.
//
// US-ASCII 7bit text parts are relabelled UTF-8 8bit, which they already
// are, so that the footer may carry accents.
//
// A message with more than maxInsertions places for a footer (a
// multipart/alternative of thousands of tiny text parts) is wrapped too:
// each member's copy carries each footer, and a footer in each of 20,000
// parts made every copy 27 times the post.
func layout(msg []byte) ([]byte, []insertion) {
	out, ins, ok := walk(msg, 0)
	if ok && len(ins) <= maxInsertions {
		return out, ins
	}
	return wrap(msg)
}

// maxInsertions: places for a footer in one message. Mail clients write
// two alternatives (text and HTML), three with a calendar or a watch
// version; nested alternatives in a related or mixed body a few more.
const maxInsertions = 8

const maxDepth = 8

// walk looks at one entity (header and body); positions are relative to
// the entity it returns.
func walk(ent []byte, depth int) ([]byte, []insertion, bool) {
	headLen := headerLen(ent)
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(ent[:headLen])))
	if err != nil || depth > maxDepth {
		return ent, nil, false
	}
	body := ent[headLen:]
	t, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if h.Get("Content-Type") == "" {
		t, params, err = "text/plain", map[string]string{}, nil
	}
	if err != nil {
		return ent, nil, false
	}
	switch t {
	case "text/plain", "text/html":
		cte := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))
		cs := strings.ToLower(params["charset"])
		disp, _, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
		if (cte != "" && cte != "7bit" && cte != "8bit" && cte != "quoted-printable") ||
			(cs != "" && cs != "us-ascii" && cs != "utf-8") || disp == "attachment" {
			return ent, nil, false
		}
		// Unlabelled 8-bit text is often Latin-1: relabelled only if it is
		// valid UTF-8 (quoted-printable is checked once decoded).
		if cs == "" && !validUTF8(body, cte) {
			return ent, nil, false
		}
		// Relabel: ASCII is UTF-8, 7bit is 8bit.
		if cs != "utf-8" {
			params["charset"] = "utf-8"
			h.Set("Content-Type", mime.FormatMediaType(t, params))
		}
		if cte == "" || cte == "7bit" {
			h.Set("Content-Transfer-Encoding", "8bit")
		}
		var b bytes.Buffer
		if err := textproto.WriteHeader(&b, h); err != nil {
			return ent, nil, false
		}
		start := b.Len()
		b.Write(body)
		in := insertion{At: b.Len(), HTML: t == "text/html", QP: cte == "quoted-printable"}
		if in.HTML {
			if i := lastIndexFold(body, "</body"); i >= 0 {
				in.At = start + i
			}
		}
		return b.Bytes(), []insertion{in}, true
	case "multipart/alternative", "multipart/mixed", "multipart/related":
		bnd := params["boundary"]
		ps, closeAt, ok := splitParts(body, bnd)
		if !ok || len(ps) == 0 {
			return ent, nil, false
		}
		var b bytes.Buffer
		b.Write(ent[:headLen])
		var ins []insertion
		last := 0
		any := false
		for i, p := range ps {
			if t != "multipart/alternative" && i > 0 {
				break
			}
			out, pins, ok := walk(body[p[0]:p[1]], depth+1)
			if !ok {
				continue
			}
			any = true
			b.Write(body[last:p[0]])
			base := b.Len()
			b.Write(out)
			for _, in := range pins {
				in.At += base
				ins = append(ins, in)
			}
			last = p[1]
		}
		if !any {
			if t != "multipart/mixed" {
				return ent, nil, false
			}
			// A new part at the end of the mixed body.
			b.Write(body[last:closeAt])
			ins = append(ins, insertion{At: b.Len(), Boundary: bnd})
			last = closeAt
		}
		b.Write(body[last:])
		return b.Bytes(), ins, true
	}
	return ent, nil, false
}

// splitParts finds the body parts of a multipart body (RFC 2046 §5.1.1):
// for each, its start and end (the CRLF before the next delimiter belongs
// to the delimiter); closeAt is where the close delimiter line begins.
func splitParts(body []byte, boundary string) (parts [][2]int, closeAt int, ok bool) {
	if boundary == "" {
		return nil, 0, false
	}
	delim := "--" + boundary
	start := -1
	pos := 0
	for pos < len(body) {
		end := bytes.IndexByte(body[pos:], '\n')
		lineEnd := len(body)
		if end >= 0 {
			lineEnd = pos + end + 1
		}
		line := bytes.TrimRight(body[pos:lineEnd], " \t\r\n")
		if bytes.HasPrefix(line, []byte(delim)) {
			rest := line[len(delim):]
			isClose := bytes.Equal(rest, []byte("--"))
			if len(rest) == 0 || isClose {
				if start >= 0 {
					e := pos
					if e > start && body[e-1] == '\n' {
						e--
						if e > start && body[e-1] == '\r' {
							e--
						}
					}
					parts = append(parts, [2]int{start, e})
				}
				if isClose {
					return parts, pos, true
				}
				start = lineEnd
			}
		}
		pos = lineEnd
	}
	return nil, 0, false // no close delimiter: broken
}

// wrap makes msg the first part of a new multipart/mixed, the footer the
// second.
func wrap(msg []byte) ([]byte, []insertion) {
	n := headerLen(msg)
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(msg[:n])))
	if err != nil {
		return msg, nil
	}
	body := msg[n:]
	var inner textproto.Header
	for _, k := range []string{"Content-Transfer-Encoding", "Content-Disposition", "Content-Type"} {
		for _, v := range h.Values(k) {
			inner.Add(k, v)
		}
		h.Del(k)
	}
	if !inner.Has("Content-Type") {
		inner.Set("Content-Type", "text/plain; charset=us-ascii")
	}
	var r [12]byte
	rand.Read(r[:])
	bnd := "relais-" + hex.EncodeToString(r[:])
	h.Set("Content-Type", mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": bnd}))
	h.Set("MIME-Version", "1.0")
	var b bytes.Buffer
	textproto.WriteHeader(&b, h)
	b.WriteString("--" + bnd + "\r\n")
	textproto.WriteHeader(&b, inner)
	b.Write(body)
	if !bytes.HasSuffix(body, []byte("\n")) {
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	at := b.Len()
	b.WriteString("--" + bnd + "--\r\n")
	return b.Bytes(), []insertion{{At: at, Boundary: bnd}}
}

// lastIndexFold finds the last s (ASCII, lower case) in b, ignoring ASCII
// case only, so offsets are those of b.
func lastIndexFold(b []byte, s string) int {
	for i := len(b) - len(s); i >= 0; i-- {
		match := true
		for j := 0; j < len(s); j++ {
			c := b[i+j]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != s[j] {
				match = false
				break
			}
		}
		if match {
			return i
		}
	}
	return -1
}

func validUTF8(body []byte, cte string) bool {
	if cte == "quoted-printable" {
		dec, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		return err == nil && utf8.Valid(dec)
	}
	return utf8.Valid(body)
}
