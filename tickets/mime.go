package tickets

import (
	"bytes"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // windows-1252, ISO-8859-*: what French clients send
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// File is an attachment passed from one side of a ticket to the other.
type File struct {
	Name string
	Type string // media type with its parameters
	Data []byte
}

// maxDepth bounds MIME nesting; deeper parts are ignored.
const maxDepth = 8

// Content is what a message says: its text (from text/plain, else from
// text/html rendered to text, quotes removed) and its attachments.
type Content struct {
	Text  string
	Files []File
	// HTML says the text came from an HTML part.
	HTML bool
}

// Read takes a message apart. Bad MIME does not stop it: what could be read
// is returned.
func Read(raw []byte) Content {
	e, err := message.Read(bytes.NewReader(raw))
	if e == nil || (err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err)) {
		return Content{Text: string(bodyOf(raw))}
	}
	var c Content
	// The text parts, joined once at the end: joining them as they come
	// copies the text again for each part, the square of a message of
	// many small parts.
	var plain, htm []string
	var walk func(e *message.Entity, depth int)
	walk = func(e *message.Entity, depth int) {
		if depth > maxDepth {
			return
		}
		t, params, _ := e.Header.ContentType()
		if t == "" {
			t = "text/plain"
		}
		if mr := e.MultipartReader(); mr != nil {
			for {
				p, err := mr.NextPart()
				if err != nil && p == nil {
					return
				}
				walk(p, depth+1)
			}
		}
		disp, dparams, _ := e.Header.ContentDisposition()
		name := dparams["filename"]
		if name == "" {
			name = params["name"]
		}
		data, _ := io.ReadAll(io.LimitReader(e.Body, 64<<20))
		switch {
		case disp != "attachment" && t == "text/plain" && plain == nil,
			// A further text part of the same body (Apple Mail splits it
			// around inline images): the text goes on.
			disp != "attachment" && name == "" && t == "text/plain":
			plain = append(plain, string(data))
		case disp != "attachment" && t == "text/html" && htm == nil,
			disp != "attachment" && name == "" && t == "text/html":
			htm = append(htm, string(data))
		default:
			if name == "" {
				name = "piece-jointe"
			}
			ct := t
			if params["charset"] != "" && strings.HasPrefix(t, "text/") {
				ct = mime.FormatMediaType(t, map[string]string{"charset": "utf-8"})
			}
			c.Files = append(c.Files, File{Name: name, Type: ct, Data: data})
		}
	}
	walk(e, 0)
	switch {
	case plain != nil:
		c.Text = strings.Join(plain, "\n")
	case htm != nil:
		c.Text, c.HTML = HTMLText(bounded(strings.Join(htm, ""), maxHTML)), true
	}
	c.Text = bounded(c.Text, maxText)
	return c
}

// What the desk reads of a message's words: the text shown in the ticket
// and to the operators, trimmed of quotes and signatures, goes no further
// than maxText (a long mail is a few thousand lines), rendered from no more
// than maxHTML of HTML. The desk reads inside the intake transaction, the
// hub's one writer: trimming 24 MB of short lines took 32 s there. The
// message itself is kept whole, attachments included.
const (
	maxText = 256 << 10
	maxHTML = 2 << 20
)

// bounded is s cut at a line end (or a rune) before max bytes, marked.
func bounded(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := strings.LastIndexByte(s[:max], '\n')
	if cut < max/2 {
		cut = max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
	}
	return s[:cut] + "\n[…]\n"
}

func bodyOf(raw []byte) []byte {
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		return raw[i+4:]
	}
	if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
		return raw[i+2:]
	}
	return nil
}

// HTMLText renders an HTML body as text, without the quoted message that
// mail clients mark: Gmail's gmail_quote, Apple Mail's and Thunderbird's
// blockquote type="cite" and moz-cite-prefix, ProtonMail's
// protonmail_quote, Yahoo's yahoo_quoted, and Outlook on the web's
// divRplyFwdMsg and appendonsend, after which everything is old.
func HTMLText(src string) string {
	doc, err := html.Parse(strings.NewReader(src))
	if err != nil {
		return src
	}
	var b text
	stop := false
	var walk func(n *html.Node, pre bool)
	walk = func(n *html.Node, pre bool) {
		if stop {
			return
		}
		switch n.Type {
		case html.TextNode:
			if pre {
				b.write(n.Data)
				return
			}
			t := strings.Join(strings.Fields(n.Data), " ")
			if n.Data != "" && isSpace(n.Data[0]) {
				t = " " + t
			}
			if t != " " && t != "" && isSpace(n.Data[len(n.Data)-1]) {
				t += " "
			}
			if strings.HasPrefix(t, " ") && (b.empty() || b.endsWith('\n') || b.endsWith(' ')) {
				t = t[1:]
			}
			b.write(t)
			return
		case html.ElementNode:
			switch n.DataAtom {
			case atom.Head, atom.Style, atom.Script, atom.Title:
				return
			}
			if quoteContainer(n) {
				return
			}
			if endsMessage(n) {
				stop = true
				return
			}
		}
		block := n.Type == html.ElementNode && blockElement(n.DataAtom)
		if block {
			b.newline()
		}
		if n.Type == html.ElementNode && n.DataAtom == atom.Br {
			b.trimSpaceEnd()
			b.write("\n")
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, pre || n.DataAtom == atom.Pre)
		}
		if block {
			b.newline()
			if n.DataAtom == atom.P {
				b.write("\n")
			}
		}
	}
	walk(doc, false)
	return b.String()
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// text is what HTMLText writes: a builder that holds its trailing spaces
// back, so that dropping them before a line break costs nothing. Dropping
// them from the builder meant copying all the text written so far, for
// each line break: the square of the size of the HTML.
type text struct {
	b      strings.Builder
	spaces int // written after the builder's content, not yet in it
}

func (t *text) write(s string) {
	u := strings.TrimRight(s, " ")
	if u == "" {
		t.spaces += len(s)
		return
	}
	for ; t.spaces > 0; t.spaces-- {
		t.b.WriteByte(' ')
	}
	t.b.WriteString(u)
	t.spaces = len(s) - len(u)
}

func (t *text) empty() bool { return t.b.Len() == 0 && t.spaces == 0 }

// endsWith says whether the text written so far ends with c.
func (t *text) endsWith(c byte) bool {
	if t.spaces > 0 {
		return c == ' '
	}
	s := t.b.String()
	return s != "" && s[len(s)-1] == c
}

func (t *text) trimSpaceEnd() { t.spaces = 0 }

func (t *text) newline() {
	t.trimSpaceEnd()
	if t.b.Len() > 0 && !t.endsWith('\n') {
		t.b.WriteByte('\n')
	}
}

func (t *text) String() string { return t.b.String() + strings.Repeat(" ", t.spaces) }

func blockElement(a atom.Atom) bool {
	switch a {
	case atom.P, atom.Div, atom.Li, atom.Tr, atom.Table, atom.H1, atom.H2, atom.H3, atom.H4,
		atom.H5, atom.H6, atom.Blockquote, atom.Pre, atom.Ul, atom.Ol, atom.Hr, atom.Section, atom.Article:
		return true
	}
	return false
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if strings.EqualFold(a.Key, key) {
			return a.Val
		}
	}
	return ""
}

func hasClass(n *html.Node, names ...string) bool {
	for _, c := range strings.Fields(attr(n, "class")) {
		for _, name := range names {
			if strings.EqualFold(c, name) {
				return true
			}
		}
	}
	return false
}

// quoteContainer says whether n holds a quoted message (or the line
// introducing it), which is left out.
func quoteContainer(n *html.Node) bool {
	if n.DataAtom == atom.Blockquote && (strings.EqualFold(attr(n, "type"), "cite") || hasClass(n, "gmail_quote", "protonmail_quote")) {
		return true
	}
	return hasClass(n, "gmail_quote", "gmail_quote_container", "gmail_attr", "moz-cite-prefix", "protonmail_quote", "yahoo_quoted", "ydp-quoted")
}

// endsMessage says whether n starts the quoted part of an Outlook message,
// after which nothing is new.
func endsMessage(n *html.Node) bool {
	switch strings.ToLower(attr(n, "id")) {
	case "divrplyfwdmsg", "appendonsend", "stopspelling", "mail-editor-reference-message-container":
		return true
	}
	return false
}
