// Package mailview is in charge of showing a mail message to an operator
// in a terminal, as a mail client would: the header fields a reader looks
// at, decoded (RFC 2047 encoded words), then each text part decoded
// (quoted-printable or base64, its charset), HTML parts as text, and one
// line per attachment; attached messages (message/rfc822) are shown the
// same way, indented. Signatures, Received fields and other machinery are
// left out: `--raw` shows the bytes.
//
// What a stranger wrote reaches an operator's terminal only as text:
// control characters (escape sequences, a carriage return that writes one
// line over another, C1 controls), bidi overrides and bytes that are not
// UTF-8 are shown as U+FFFD (Clean, CleanText), so that the post a
// moderator approves is the one they read.
package mailview

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // charsets other than UTF-8
	"golang.org/x/net/html"
)

// Fields are the header fields shown, in this order.
var Fields = []string{"Date", "From", "Sender", "To", "Cc", "Reply-To", "Subject", "List-Id", "List-Unsubscribe", "Auto-Submitted"}

// maxDepth bounds the nesting of parts and attached messages shown.
const maxDepth = 8

// Write writes raw as a reader sees it.
func Write(w io.Writer, raw []byte) error {
	bw := bufio.NewWriter(w)
	writeEntity(bw, raw, "", 0)
	return bw.Flush()
}

// String returns raw as Write shows it.
func String(raw []byte) string {
	var b strings.Builder
	_ = Write(&b, raw)
	return b.String()
}

var dec = mime.WordDecoder{CharsetReader: message.CharsetReader}

func decodeField(v string) string {
	if d, err := dec.DecodeHeader(v); err == nil {
		v = d
	}
	return Clean(strings.Join(strings.Fields(v), " "))
}

// Clean makes s one line of text for a terminal: tabs and line breaks
// become spaces; other control characters (C0, DEL, C1: the start of
// every escape sequence), bidi embeddings, overrides and isolates, and
// bytes that are not UTF-8 become U+FFFD.
func Clean(s string) string {
	return clean(s, false)
}

// CleanText is Clean for text of several lines: line breaks and tabs stay
// (a CR LF pair is one line break; a lone CR, which writes one line over
// another, is not).
func CleanText(s string) string {
	return clean(strings.ReplaceAll(s, "\r\n", "\n"), true)
}

func clean(s string, lines bool) string {
	ok := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for _, r := range s { // a byte that is not UTF-8 comes as U+FFFD
		switch {
		case r == '\n' || r == '\t':
			if lines {
				b.WriteRune(r)
			} else {
				b.WriteByte(' ')
			}
		case unicode.IsControl(r) || bidi(r):
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// bidi reports the explicit directional formatting characters (Unicode
// Bidirectional Algorithm §2.1-2.3), which reorder what follows them.
func bidi(r rune) bool {
	return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

func writeEntity(w *bufio.Writer, raw []byte, indent string, depth int) {
	e, err := message.Read(bytes.NewReader(raw))
	if e == nil {
		fmt.Fprintf(w, "%s(unreadable message: %s)\n", indent, Clean(fmt.Sprint(err)))
		return
	}
	for _, k := range Fields {
		for _, v := range e.Header.Values(k) {
			fmt.Fprintf(w, "%s%s: %s\n", indent, k, decodeField(v))
		}
	}
	w.WriteString(indent + "\n")
	writeBody(w, e, indent, depth)
}

func writeBody(w *bufio.Writer, e *message.Entity, indent string, depth int) {
	if depth > maxDepth {
		fmt.Fprintf(w, "%s(nested too deep)\n", indent)
		return
	}
	t, params, _ := e.Header.ContentType()
	if mr := e.MultipartReader(); mr != nil {
		var parts []*message.Entity
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(io.LimitReader(p.Body, 4<<20))
			// p.Body is decoded already (transfer encoding, charset): the
			// copy's header must not ask for it again.
			h := p.Header.Copy()
			h.Del("Content-Transfer-Encoding")
			if pt, params, err := h.ContentType(); err == nil && params["charset"] != "" {
				params["charset"] = "utf-8"
				h.SetContentType(pt, params)
			}
			if pe, err := message.New(h, bytes.NewReader(b)); pe != nil {
				parts = append(parts, pe)
			} else {
				fmt.Fprintf(w, "%s(unreadable part: %s)\n", indent, Clean(fmt.Sprint(err)))
			}
		}
		if t == "multipart/alternative" && len(parts) > 0 {
			// Of alternatives, the plain text if there is one.
			pick := parts[0]
			for _, p := range parts {
				if pt, _, _ := p.Header.ContentType(); pt == "text/plain" {
					pick = p
					break
				}
			}
			parts = []*message.Entity{pick}
		}
		for _, p := range parts {
			writeBody(w, p, indent, depth+1)
		}
		return
	}
	disp, dparams, _ := e.Header.ContentDisposition()
	name := dparams["filename"]
	if name == "" {
		name = params["name"]
	}
	body, _ := io.ReadAll(io.LimitReader(e.Body, 4<<20))
	switch {
	case t == "message/rfc822":
		fmt.Fprintf(w, "%s--- attached message ---\n", indent)
		writeEntity(w, body, indent+"| ", depth+1)
	case disp == "attachment" || (t != "" && !strings.HasPrefix(t, "text/")):
		fmt.Fprintf(w, "%s[attachment: %s, %s, %d bytes]\n", indent, Clean(orNone(name)), Clean(orNone(t)), len(body))
	case t == "text/html":
		writeText(w, htmlText(body), indent)
	default:
		writeText(w, string(body), indent)
	}
}

func writeText(w *bufio.Writer, s, indent string) {
	s = CleanText(s)
	s = strings.TrimRight(s, "\n")
	for _, line := range strings.Split(s, "\n") {
		w.WriteString(indent + line + "\n")
	}
}

func orNone(s string) string {
	if s == "" {
		return "no name"
	}
	return s
}

// htmlText is the text of an HTML part, one line per block.
func htmlText(b []byte) string {
	z := html.NewTokenizer(bytes.NewReader(b))
	var out strings.Builder
	skip := 0
	for {
		switch z.Next() {
		case html.ErrorToken:
			return strings.TrimSpace(collapse(out.String()))
		case html.TextToken:
			if skip == 0 {
				out.WriteString(strings.Join(strings.Fields(string(z.Text())), " "))
				out.WriteByte(' ')
			}
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			switch tok.Data {
			case "script", "style", "head":
				if tok.Type == html.StartTagToken {
					skip++
				} else if tok.Type == html.EndTagToken && skip > 0 {
					skip--
				}
			case "p", "br", "div", "li", "tr", "h1", "h2", "h3", "h4", "ul", "ol", "table":
				out.WriteByte('\n')
			case "a":
				if tok.Type == html.StartTagToken {
					for _, a := range tok.Attr {
						if a.Key == "href" {
							out.WriteString("<" + a.Val + "> ")
						}
					}
				}
			}
		}
	}
}

func collapse(s string) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}
