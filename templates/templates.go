// Package templates holds every sentence the hub writes to a person: the
// messages it composes (fr/NAME.tmpl, en/NAME.tmpl) and the text of its SMTP
// replies (replies.tmpl). French is the default language, English the other;
// an operator overrides any file by putting one with the same path in the
// directory named by templates_dir.
//
// A message template is text/template source shaped like a message: header
// lines (only Subject is read), a blank line, then the plain-text body.
package templates

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/jordan-wright/email"
)

//go:embed fr/*.tmpl en/*.tmpl fr/*.html en/*.html fr/web/*.html en/web/*.html replies.tmpl
var builtin embed.FS

// Languages the hub writes in, default first.
var Languages = []string{"fr", "en"}

// Set is the parsed templates, overrides applied.
type Set struct {
	msgs    map[string]*template.Template     // "fr/delivery-failed"
	pages   map[string]*htmltemplate.Template // "fr/unsubscribe"
	replies *template.Template
	// srcs is the source of each message template and page, overrides
	// applied ("fr/agenda-digest.tmpl"), for Memo.
	srcs map[string]string
}

// Load parses the built-in templates and, if dir is not empty, the
// overrides found there.
func Load(dir string) (*Set, error) {
	s := &Set{msgs: make(map[string]*template.Template), pages: make(map[string]*htmltemplate.Template),
		srcs: make(map[string]string)}
	read := func(name string) ([]byte, error) {
		if dir != "" {
			b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
			if err == nil {
				return b, nil
			}
			if !os.IsNotExist(err) {
				return nil, err
			}
		}
		return builtin.ReadFile(name)
	}
	// Message templates (text) and web pages (HTML, escaped as such).
	err := eachFile(read, ".tmpl", func(name, src string) error {
		t, err := template.New(name).Option("missingkey=error").Parse(src)
		s.msgs[strings.TrimSuffix(name, ".tmpl")] = t
		s.srcs[name] = src
		return err
	})
	if err == nil {
		err = eachFile(read, ".html", func(name, src string) error {
			t, err := htmltemplate.New(name).Option("missingkey=error").Parse(src)
			s.pages[strings.TrimSuffix(name, ".html")] = t
			s.srcs[name] = src
			return err
		})
	}
	if err == nil {
		err = s.loadWeb(read)
	}
	if err != nil {
		return nil, err
	}
	b, err := read("replies.tmpl")
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	if s.replies, err = template.New("replies").Option("missingkey=error").Parse(string(b)); err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	return s, nil
}

// eachFile hands add every built-in LANG/*EXT file, in every language,
// as read (overrides first).
func eachFile(read func(string) ([]byte, error), ext string, add func(name, src string) error) error {
	for _, lang := range Languages {
		names, err := fs.Glob(builtin, lang+"/*"+ext)
		if err != nil {
			return err
		}
		for _, n := range names {
			b, err := read(n)
			if err != nil {
				return fmt.Errorf("templates: %w", err)
			}
			if err := add(n, string(b)); err != nil {
				return fmt.Errorf("templates: %w", err)
			}
		}
	}
	return nil
}

// loadWeb parses the web pages, LANG/web/NAME.html: each is made of the
// blocks it defines ("title", "main") inside LANG/web/layout.html, and is
// named "web/NAME" for Page.
func (s *Set) loadWeb(read func(string) ([]byte, error)) error {
	for _, lang := range Languages {
		b, err := read(lang + "/web/layout.html")
		if err != nil {
			return fmt.Errorf("templates: %w", err)
		}
		layout, err := htmltemplate.New(lang + "/web/layout.html").Option("missingkey=error").Funcs(webFuncs).Parse(string(b))
		if err != nil {
			return fmt.Errorf("templates: %w", err)
		}
		names, err := fs.Glob(builtin, lang+"/web/*.html")
		if err != nil {
			return err
		}
		for _, n := range names {
			if strings.HasSuffix(n, "/layout.html") {
				continue
			}
			src, err := read(n)
			if err != nil {
				return fmt.Errorf("templates: %w", err)
			}
			t, err := layout.Clone()
			if err == nil {
				_, err = t.Parse(string(src))
			}
			if err != nil {
				return fmt.Errorf("templates: %s: %w", n, err)
			}
			s.pages[strings.TrimSuffix(n, ".html")] = t
		}
	}
	return nil
}

// webFuncs are the functions the web pages may call.
var webFuncs = htmltemplate.FuncMap{
	"eq1":  func(n int) bool { return n == 1 },
	"next": func(n int) int { return n + 1 },
	// month names a month, 2026-11, in a language: "novembre 2026",
	// "November 2026".
	"month": func(lang, ym string) string {
		t, err := time.Parse("2006-01", ym)
		if err != nil {
			return ym
		}
		if lang == "en" {
			return t.Format("January 2006")
		}
		return fmt.Sprintf("%s %d", frMonths[t.Month()-1], t.Year())
	},
	// indent is the class of a post's depth in a thread.
	"indent": func(d int) string { return fmt.Sprintf("d%d", min(d, 6)) },
}

// Rendered is a message template filled in.
type Rendered struct {
	Lang    string
	Subject string
	Text    string
}

// Render fills message template name in lang (falling back to French) with
// data.
func (s *Set) Render(lang, name string, data any) (Rendered, error) {
	t, ok := s.msgs[lang+"/"+name]
	if !ok {
		lang = Languages[0]
		if t, ok = s.msgs[lang+"/"+name]; !ok {
			return Rendered{}, fmt.Errorf("templates: no template %s", name)
		}
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return Rendered{}, fmt.Errorf("templates: %s/%s: %w", lang, name, err)
	}
	return rendered(lang, name, b.String())
}

// rendered reads a message template's output: its Subject line, a blank
// line, the text.
func rendered(lang, name, out string) (Rendered, error) {
	head, body, ok := strings.Cut(out, "\n\n")
	if !ok {
		return Rendered{}, fmt.Errorf("templates: %s/%s: no blank line after the header", lang, name)
	}
	r := Rendered{Lang: lang, Text: body}
	for _, line := range strings.Split(head, "\n") {
		if v, ok := strings.CutPrefix(line, "Subject:"); ok {
			r.Subject = strings.TrimSpace(v)
		}
	}
	if r.Subject == "" {
		return Rendered{}, fmt.Errorf("templates: %s/%s: no Subject line", lang, name)
	}
	return r, nil
}

// Text fills template name in lang (falling back to French) and returns
// it whole: for pieces of messages, such as a list footer, that have no
// header of their own.
func (s *Set) Text(lang, name string, data any) (string, error) {
	t, ok := s.msgs[lang+"/"+name]
	if !ok {
		if t, ok = s.msgs[Languages[0]+"/"+name]; !ok {
			return "", fmt.Errorf("templates: no template %s", name)
		}
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("templates: %s/%s: %w", lang, name, err)
	}
	return b.String(), nil
}

// Page returns web page name (LANG/NAME.html, falling back to French).
func (s *Set) Page(lang, name string) (*htmltemplate.Template, error) {
	if t, ok := s.pages[lang+"/"+name]; ok {
		return t, nil
	}
	if t, ok := s.pages[Languages[0]+"/"+name]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("templates: no page %s", name)
}

// Reply returns the text of SMTP reply name, one line.
func (s *Set) Reply(name string, data any) string {
	var b bytes.Buffer
	if err := s.replies.ExecuteTemplate(&b, name, data); err != nil {
		// A broken override must not break the SMTP dialogue.
		return name
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// Envelope is who a composed message is from and to, and how it is marked.
type Envelope struct {
	From     string // "Name <addr>" or addr
	To       string
	Hostname string // for the Message-ID
	// AutoSubmitted is the RFC 3834 value: auto-replied, auto-generated.
	AutoSubmitted string
	// References are the Message-IDs of the thread, space-separated, the
	// one answered last (In-Reply-To).
	References string
	Date       time.Time
	// Header holds further header fields, in order (Reply-To, List-Id…).
	Header [][2]string
	// Attach, if not nil, is a message attached whole (message/rfc822).
	Attach []byte
	// MessageID, if set, is the Message-ID field ("<id@host>"); otherwise
	// a fresh one on Hostname.
	MessageID string
	// Files are attached after the text, base64.
	Files []File
	// HTML, if set, names the LANG/NAME.html template that makes an HTML
	// alternative of the text, from the same data.
	HTML string
}

// File is an attachment of a composed message.
type File struct {
	Name string
	Type string // media type with parameters
	Data []byte
}

// Compose renders template name and builds the whole message, RFC 5322,
// ready for the queue.
func (s *Set) Compose(lang, name string, data any, env Envelope) ([]byte, error) {
	r, html, err := s.render(lang, name, data, env.HTML)
	if err != nil {
		return nil, err
	}
	return compose(name, r.Lang, r.Subject, []byte(r.Text), html, env)
}

// render fills message template name and, if htmlName is not "", page
// htmlName, in the language of the message.
func (s *Set) render(lang, name string, data any, htmlName string) (Rendered, []byte, error) {
	r, err := s.Render(lang, name, data)
	if err != nil || htmlName == "" {
		return r, nil, err
	}
	t, err := s.Page(r.Lang, htmlName)
	if err != nil {
		return r, nil, err
	}
	var h bytes.Buffer
	if err := t.Execute(&h, data); err != nil {
		return r, nil, fmt.Errorf("templates: %s/%s.html: %w", r.Lang, htmlName, err)
	}
	return r, h.Bytes(), nil
}

// compose builds the whole message in lang from its subject, its rendered
// text and HTML (nil for none). What it returns shares no memory with
// text, html or subject: the Memo's buffers are used again once it returns.
func compose(name, lang, subject string, text, html []byte, env Envelope) ([]byte, error) {
	e := email.NewEmail()
	e.From = env.From
	e.To = []string{env.To}
	e.Subject = subject
	e.Text = text
	e.HTML = html
	if env.MessageID != "" {
		e.Headers.Set("Message-ID", env.MessageID)
	} else {
		e.Headers.Set("Message-ID", NewMessageID(env.Hostname))
	}
	for _, f := range env.Files {
		if _, err := e.Attach(bytes.NewReader(f.Data), f.Name, f.Type); err != nil {
			return nil, fmt.Errorf("templates: attach %s: %w", f.Name, err)
		}
	}
	if env.Date.IsZero() {
		env.Date = time.Now()
	}
	e.Headers.Set("Date", env.Date.Format(time.RFC1123Z))
	e.Headers.Set("Content-Language", lang)
	if env.AutoSubmitted != "" {
		e.Headers.Set("Auto-Submitted", env.AutoSubmitted)
	}
	if refs := strings.Fields(env.References); len(refs) > 0 {
		e.Headers.Set("In-Reply-To", refs[len(refs)-1])
		e.Headers.Set("References", strings.Join(refs, " "))
	}
	for _, f := range env.Header {
		e.Headers.Add(f[0], f[1])
	}
	b, err := toBytes(e)
	if err != nil {
		return nil, fmt.Errorf("templates: compose %s: %w", name, err)
	}
	if env.Attach != nil {
		return attach(b, env.Attach), nil
	}
	return b, nil
}

// toBytes writes a composed message (the tests compare mimeBytes with
// the library's own).
var toBytes = mimeBytes

// attach makes msg the first part of a multipart/mixed whose second part
// is orig, whole, as message/rfc822. RFC 2046 §5.2.1 allows no encoding
// but 7bit, 8bit or binary for it: the message travels as it came.
func attach(msg, orig []byte) []byte {
	head, body, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	var top, part []string
	last := &top
	for _, line := range strings.SplitAfter(string(head), "\r\n") {
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			continue
		case (line[0] == ' ' || line[0] == '\t') && len(*last) > 0:
			(*last)[len(*last)-1] += line + "\r\n" // a continuation goes with its field
			continue
		case strings.HasPrefix(strings.ToLower(line), "content-"):
			last = &part
		default:
			last = &top
		}
		*last = append(*last, line+"\r\n")
	}
	var r [12]byte
	rand.Read(r[:])
	bnd := "relais-" + hex.EncodeToString(r[:])
	var b bytes.Buffer
	for _, f := range top {
		b.WriteString(f)
	}
	b.WriteString("Content-Type: multipart/mixed; boundary=\"" + bnd + "\"\r\n\r\n")
	b.WriteString("--" + bnd + "\r\n")
	for _, f := range part {
		b.WriteString(f)
	}
	b.WriteString("\r\n")
	b.Write(body)
	b.WriteString("\r\n--" + bnd + "\r\n")
	b.WriteString("Content-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"message.eml\"\r\n")
	enc := "7bit"
	for _, c := range orig {
		if c >= 0x80 {
			enc = "8bit"
			break
		}
	}
	b.WriteString("Content-Transfer-Encoding: " + enc + "\r\n\r\n")
	b.Write(orig)
	if !bytes.HasSuffix(orig, []byte("\n")) {
		b.WriteString("\r\n")
	}
	b.WriteString("--" + bnd + "--\r\n")
	return b.Bytes()
}

// NewMessageID returns a fresh Message-ID on host (RFC 5322 §3.6.4).
func NewMessageID(host string) string {
	var b [12]byte
	rand.Read(b[:])
	return "<" + hex.EncodeToString(b[:]) + "@" + host + ">"
}
