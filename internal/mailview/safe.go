package mailview

import (
	"bytes"
	"io"
	"strings"

	"github.com/emersion/go-message"
	"github.com/microcosm-cc/bluemonday"
)

// Safe is a message as a web page may show it to a moderator: its header
// fields decoded, its text, its HTML with everything that could act or
// load removed (scripts, styles, forms, frames, images, event handlers;
// links kept, opened elsewhere with no referrer), and its attachments
// named, never opened.
type Safe struct {
	Fields      [][2]string
	Text        string
	HTML        string // sanitised: safe to insert in a page
	Attachments []Attachment
}

// Attachment is a part a reader would save.
type Attachment struct {
	Name string
	Type string
	Size int
}

// policy keeps the structure of a mail's HTML and nothing that runs,
// loads or styles: the console's pages allow no inline style, no image
// from elsewhere, no script.
var policy = func() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowElements("p", "br", "b", "i", "em", "strong", "u", "s", "small", "sub", "sup", "ul", "ol", "li", "dl", "dt", "dd",
		"blockquote", "pre", "code", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "div", "span",
		"table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption")
	p.AllowAttrs("href").OnElements("a")
	p.AllowStandardURLs()
	p.AllowURLSchemes("http", "https", "mailto")
	p.RequireNoFollowOnLinks(true)
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	return p
}()

// View reads raw for a web page. Of alternatives, both the text and the
// HTML are kept; nested messages are listed as attachments.
func View(raw []byte) Safe {
	var v Safe
	e, err := message.Read(bytes.NewReader(raw))
	if e == nil {
		v.Text = "(" + err.Error() + ")"
		return v
	}
	for _, k := range Fields {
		for _, x := range e.Header.Values(k) {
			v.Fields = append(v.Fields, [2]string{k, decodeField(x)})
		}
	}
	var text, htm strings.Builder
	var walk func(e *message.Entity, depth int)
	walk = func(e *message.Entity, depth int) {
		if depth > maxDepth {
			return
		}
		t, params, _ := e.Header.ContentType()
		if mr := e.MultipartReader(); mr != nil {
			for {
				p, err := mr.NextPart()
				if err != nil {
					break
				}
				walk(p, depth+1)
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
		case disp == "attachment" || (t != "" && !strings.HasPrefix(t, "text/")) || (t == "text/calendar"):
			v.Attachments = append(v.Attachments, Attachment{Name: orNone(name), Type: orNone(t), Size: len(body)})
		case t == "text/html":
			htm.Write(body)
		default:
			if text.Len() > 0 {
				text.WriteString("\n\n")
			}
			text.WriteString(strings.ReplaceAll(string(body), "\r\n", "\n"))
		}
	}
	walk(e, 0)
	v.Text = strings.TrimRight(text.String(), "\n")
	if htm.Len() > 0 {
		v.HTML = policy.Sanitize(htm.String())
		if v.Text == "" {
			v.Text = htmlText([]byte(htm.String()))
		}
	}
	return v
}
