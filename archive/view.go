package archive

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"mime"
	"net/url"
	"strings"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // charsets other than UTF-8
	xhtml "golang.org/x/net/html"
)

// View is a post as its page shows it.
type View struct {
	From    string // name <address>, the address masked when asked
	Date    string // as written
	Subject string
	To, Cc  string
	Parts   []Part
}

// Part is one piece of a post's body, in order: text, sanitised HTML, or
// an attachment to download.
type Part struct {
	N    int    // its number among the leaf parts, for Attachment
	Text string // a text part, decoded
	HTML string // an HTML part, sanitised (no script, style, remote image, form)
	Name string // an attachment's file name
	Type string // its media type as the sender labelled it
	Size int    // its size, decoded
}

// maxDepth bounds the nesting of parts read.
const maxDepth = 8

// maxText bounds the text of one part kept for a page or the index.
const maxText = 1 << 20

// Read makes the view of a post. With mask, addresses are shown masked
// (Mask) in its fields and text: public archives show no address whole.
// cid makes the address of an inline image (cid: URL) from its part
// number, "" for none.
func Read(raw []byte, mask bool, cid func(n int) string) View {
	e, err := message.Read(bytes.NewReader(raw))
	if e == nil {
		return View{Parts: []Part{{Text: fmt.Sprint("(", err, ")")}}}
	}
	field := func(k string) string {
		v := decode(e.Header.Get(k))
		if mask {
			v = MaskText(v)
		}
		return v
	}
	v := View{From: field("From"), Date: e.Header.Get("Date"), Subject: field("Subject"), To: field("To"), Cc: field("Cc")}
	w := walker{mask: mask, cid: cid, cids: map[string]int{}}
	w.index(e, raw, 0)
	e, _ = message.Read(bytes.NewReader(raw))
	w.n = 0
	w.walk(e, 0, &v.Parts)
	return v
}

type walker struct {
	n    int
	mask bool
	cid  func(int) string
	cids map[string]int // Content-ID → part number
}

// index numbers the leaf parts and notes their Content-IDs, for inline
// images an HTML part shows.
func (w *walker) index(e *message.Entity, raw []byte, depth int) {
	var rec func(e *message.Entity, depth int)
	rec = func(e *message.Entity, depth int) {
		if depth > maxDepth {
			return
		}
		if mr := e.MultipartReader(); mr != nil {
			for {
				p, err := mr.NextPart()
				if err != nil {
					return
				}
				rec(p, depth+1)
			}
		}
		w.n++
		if id := strings.Trim(e.Header.Get("Content-Id"), "<> "); id != "" {
			w.cids[id] = w.n
		}
		io.Copy(io.Discard, e.Body)
	}
	rec(e, depth)
}

func (w *walker) walk(e *message.Entity, depth int, out *[]Part) {
	if depth > maxDepth {
		return
	}
	t, params, _ := e.Header.ContentType()
	if mr := e.MultipartReader(); mr != nil {
		var parts []*message.Entity
		var bodies [][]byte
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			// Read each part now: the reader moves on at the next one.
			b, _ := io.ReadAll(io.LimitReader(p.Body, 32<<20))
			parts = append(parts, p)
			bodies = append(bodies, b)
		}
		if t == "multipart/alternative" {
			// The plain text when there is one, else the richest the page
			// can show; the others are counted, not shown.
			pick := -1
			for i, p := range parts {
				if pt, _, _ := p.Header.ContentType(); pt == "text/plain" && pick < 0 {
					pick = i
				}
			}
			if pick < 0 {
				pick = len(parts) - 1
			}
			for i, p := range parts {
				if i == pick {
					w.leafOrTree(p, bodies[i], depth+1, out)
				} else {
					w.skip(p, bodies[i], depth+1)
				}
			}
			return
		}
		for i, p := range parts {
			w.leafOrTree(p, bodies[i], depth+1, out)
		}
		return
	}
	b, _ := io.ReadAll(io.LimitReader(e.Body, 32<<20))
	w.leaf(e, t, params, b, out)
}

// leafOrTree goes on with a part whose body was read already.
func (w *walker) leafOrTree(p *message.Entity, body []byte, depth int, out *[]Part) {
	t, params, _ := p.Header.ContentType()
	if strings.HasPrefix(t, "multipart/") {
		e, err := message.New(p.Header, bytes.NewReader(body))
		if err != nil && e == nil {
			return
		}
		w.walk(e, depth, out)
		return
	}
	w.leaf(p, t, params, body, out)
}

// skip counts the leaf parts of what is not shown.
func (w *walker) skip(p *message.Entity, body []byte, depth int) {
	t, _, _ := p.Header.ContentType()
	if strings.HasPrefix(t, "multipart/") {
		e, err := message.New(p.Header, bytes.NewReader(body))
		if e == nil || err != nil && !message.IsUnknownCharset(err) {
			return
		}
		var sink []Part
		w.walk(e, depth, &sink)
		return
	}
	w.n++
}

func (w *walker) leaf(e *message.Entity, t string, params map[string]string, body []byte, out *[]Part) {
	w.n++
	disp, dparams, _ := e.Header.ContentDisposition()
	name := dparams["filename"]
	if name == "" {
		name = params["name"]
	}
	if t == "" {
		t = "text/plain"
	}
	if disp != "attachment" && name == "" || disp == "inline" && (t == "text/plain" || t == "text/html") {
		switch t {
		case "text/plain":
			s := string(body)
			if len(s) > maxText {
				s = s[:maxText]
			}
			s = strings.ReplaceAll(s, "\r\n", "\n")
			if w.mask {
				s = MaskText(s)
			}
			*out = append(*out, Part{N: w.n, Text: s})
			return
		case "text/html":
			*out = append(*out, Part{N: w.n, HTML: Sanitize(body, w.mask, w.image)})
			return
		}
	}
	if name == "" {
		name = fmt.Sprintf("part-%d", w.n)
	}
	name = decode(name)
	if w.mask {
		name = MaskText(name)
	}
	*out = append(*out, Part{N: w.n, Name: name, Type: t, Size: len(body)})
}

// image is the address of an inline image named by src: a cid: URL of
// this message, else "" (remote images are never loaded).
func (w *walker) image(src string) string {
	if len(src) < 4 || !strings.EqualFold(src[:4], "cid:") || w.cid == nil {
		return ""
	}
	id, err := url.PathUnescape(src[4:])
	if err != nil {
		id = src[4:]
	}
	if n, ok := w.cids[strings.Trim(id, "<>")]; ok {
		return w.cid(n)
	}
	return ""
}

// Attachment returns leaf part n of a post, decoded, with its media type
// (as labelled: serve it as SafeType says) and file name.
func Attachment(raw []byte, n int) (data []byte, typ, name string, ok bool) {
	e, _ := message.Read(bytes.NewReader(raw))
	if e == nil {
		return nil, "", "", false
	}
	i := 0
	var rec func(e *message.Entity, depth int) bool
	rec = func(e *message.Entity, depth int) bool {
		if depth > maxDepth {
			return false
		}
		if mr := e.MultipartReader(); mr != nil {
			for {
				p, err := mr.NextPart()
				if err != nil {
					return false
				}
				if rec(p, depth+1) {
					return true
				}
			}
		}
		i++
		if i != n {
			io.Copy(io.Discard, e.Body)
			return false
		}
		data, _ = io.ReadAll(io.LimitReader(e.Body, 64<<20))
		var params map[string]string
		typ, params, _ = e.Header.ContentType()
		if typ == "" {
			typ = "text/plain"
		}
		_, dparams, _ := e.Header.ContentDisposition()
		name = dparams["filename"]
		if name == "" {
			name = params["name"]
		}
		name = decode(name)
		if name == "" {
			ext := ".bin"
			if exts, _ := mime.ExtensionsByType(typ); len(exts) > 0 {
				ext = exts[0]
			}
			name = fmt.Sprintf("part-%d%s", n, ext)
		}
		return true
	}
	ok = rec(e, 0)
	return data, typ, name, ok
}

// MaskedText is a message as text with every address masked: its fields,
// its text parts (HTML ones as their words), the names of its
// attachments. A public archive's reader gets a forwarded message so.
func MaskedText(raw []byte) []byte {
	v := Read(raw, true, nil)
	var b strings.Builder
	for _, f := range [][2]string{{"From", v.From}, {"To", v.To}, {"Cc", v.Cc}, {"Subject", v.Subject}, {"Date", v.Date}} {
		if f[1] != "" {
			b.WriteString(f[0] + ": " + f[1] + "\n")
		}
	}
	b.WriteString("\n")
	for _, p := range v.Parts {
		switch {
		case p.Text != "":
			b.WriteString(p.Text)
		case p.HTML != "":
			b.WriteString(MaskText(htmlWords(p.HTML)))
		default:
			b.WriteString("[" + p.Name + "]")
		}
		b.WriteString("\n")
	}
	return []byte(b.String())
}

// SafeType is the Content-Type an attachment is served with: the types a
// browser shows without running anything, else a download of bytes.
func SafeType(t string) string {
	switch strings.ToLower(t) {
	case "image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf":
		return strings.ToLower(t)
	case "text/plain", "text/calendar", "text/csv":
		return "text/plain; charset=utf-8"
	}
	return "application/octet-stream"
}

// Words returns the words of a post for the index: its text parts
// decoded (its HTML parts as text when it has no plain text), without the
// lines it quotes.
func Words(raw []byte) string {
	v := Read(raw, false, nil)
	var b strings.Builder
	for _, p := range v.Parts {
		switch {
		case p.Text != "":
			b.WriteString(p.Text)
		case p.HTML != "":
			b.WriteString(htmlWords(p.HTML))
		case p.Name != "":
			b.WriteString(p.Name)
		}
		b.WriteByte('\n')
		if b.Len() > maxText {
			break
		}
	}
	s := cleanWords(b.String())
	if len(s) > maxText {
		s = s[:maxText]
	}
	return s
}

func htmlWords(s string) string {
	z := xhtml.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	for {
		switch z.Next() {
		case xhtml.ErrorToken:
			return b.String()
		case xhtml.TextToken:
			b.Write(z.Text())
		case xhtml.StartTagToken, xhtml.EndTagToken, xhtml.SelfClosingTagToken:
			b.WriteByte('\n')
		}
	}
}

// allowed are the elements a sanitised HTML part keeps, with the
// attributes each may carry.
var allowed = map[string][]string{
	"p": nil, "br": nil, "div": nil, "span": nil, "b": nil, "strong": nil, "i": nil, "em": nil, "u": nil, "s": nil,
	"small": nil, "sub": nil, "sup": nil, "ul": nil, "ol": nil, "li": nil, "dl": nil, "dt": nil, "dd": nil,
	"blockquote": nil, "pre": nil, "code": nil, "hr": nil, "h1": nil, "h2": nil, "h3": nil, "h4": nil, "h5": nil,
	"h6": nil, "table": nil, "thead": nil, "tbody": nil, "tfoot": nil, "tr": nil, "td": {"colspan", "rowspan"},
	"th": {"colspan", "rowspan"}, "caption": nil, "a": {"href", "title"}, "img": {"src", "alt", "width", "height"},
}

// dropped are elements whose content goes with them.
var dropped = map[string]bool{"script": true, "style": true, "head": true, "title": true, "iframe": true, "object": true,
	"embed": true, "svg": true, "math": true, "template": true, "noscript": true, "frame": true, "frameset": true,
	"applet": true, "form": true, "select": true, "textarea": true, "button": true, "audio": true, "video": true}

// Sanitize keeps of an HTML part only text and the plain elements of
// allowed: no script, style, form or frame; links only to http, https
// and mailto, marked nofollow; images only those the message carries
// (image makes their address), others shown as their alt text. With mask,
// addresses are masked in text and mailto links.
func Sanitize(src []byte, mask bool, image func(src string) string) string {
	z := xhtml.NewTokenizer(bytes.NewReader(src))
	var b strings.Builder
	skip := 0 // inside dropped elements
	open := map[string]int{}
	for {
		tt := z.Next()
		switch tt {
		case xhtml.ErrorToken:
			// Close what is left open, so the page's own markup holds.
			for _, t := range []string{"a", "li", "ul", "ol", "td", "th", "tr", "tbody", "thead", "tfoot", "table", "blockquote", "pre", "div", "p"} {
				for ; open[t] > 0; open[t]-- {
					b.WriteString("</" + t + ">")
				}
			}
			return b.String()
		case xhtml.TextToken:
			if skip > 0 {
				continue
			}
			s := string(z.Text())
			if mask {
				s = MaskText(s)
			}
			b.WriteString(html.EscapeString(s))
		case xhtml.StartTagToken, xhtml.SelfClosingTagToken:
			tok := z.Token()
			name := tok.Data
			if dropped[name] {
				if tt == xhtml.StartTagToken && name != "br" {
					skip++
				}
				continue
			}
			attrs, ok := allowed[name]
			if !ok || skip > 0 {
				continue
			}
			var out []string
			keep := true
			for _, a := range tok.Attr {
				if !contains(attrs, a.Key) {
					continue
				}
				v := a.Val
				switch a.Key {
				case "href":
					u := strings.ToLower(strings.TrimSpace(v))
					switch {
					case strings.HasPrefix(u, "http://"), strings.HasPrefix(u, "https://"):
						if mask {
							// A link may carry an address (?email=…), as is
							// or percent-encoded: masked like the text.
							v = MaskText(pct40.Replace(v))
						}
					case strings.HasPrefix(u, "mailto:"):
						if mask {
							v = "mailto:" + Mask(strings.TrimSpace(v)[len("mailto:"):])
						}
					default:
						continue
					}
				case "src":
					if v = image(v); v == "" {
						keep = false
					}
				case "title", "alt":
					if mask {
						v = MaskText(v)
					}
				}
				out = append(out, a.Key+`="`+html.EscapeString(v)+`"`)
			}
			if name == "img" && !keep || name == "img" && image == nil {
				alt := "[image]"
				for _, a := range tok.Attr {
					if a.Key == "alt" && strings.TrimSpace(a.Val) != "" {
						alt = "[" + a.Val + "]"
						if mask {
							alt = MaskText(alt)
						}
					}
				}
				b.WriteString(html.EscapeString(alt))
				continue
			}
			if name == "a" {
				out = append(out, `rel="nofollow noopener noreferrer"`)
			}
			b.WriteString("<" + name)
			for _, a := range out {
				b.WriteString(" " + a)
			}
			b.WriteString(">")
			if tt == xhtml.StartTagToken && name != "br" && name != "hr" && name != "img" {
				open[name]++
			}
		case xhtml.EndTagToken:
			tok := z.Token()
			if dropped[tok.Data] {
				if skip > 0 {
					skip--
				}
				continue
			}
			if skip > 0 {
				continue
			}
			if _, ok := allowed[tok.Data]; ok && open[tok.Data] > 0 {
				open[tok.Data]--
				b.WriteString("</" + tok.Data + ">")
			}
		}
	}
}

// pct40 writes a percent-encoded @ as it is, for MaskText to find the
// address around it.
var pct40 = strings.NewReplacer("%40", "@")

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}
