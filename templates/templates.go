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
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/jordan-wright/email"
)

//go:embed fr/*.tmpl en/*.tmpl replies.tmpl
var builtin embed.FS

// Languages the hub writes in, default first.
var Languages = []string{"fr", "en"}

// Set is the parsed templates, overrides applied.
type Set struct {
	msgs    map[string]*template.Template // "fr/delivery-failed"
	replies *template.Template
}

// Load parses the built-in templates and, if dir is not empty, the
// overrides found there.
func Load(dir string) (*Set, error) {
	s := &Set{msgs: make(map[string]*template.Template)}
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
	for _, lang := range Languages {
		names, err := fs.Glob(builtin, lang+"/*.tmpl")
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			b, err := read(n)
			if err != nil {
				return nil, fmt.Errorf("templates: %w", err)
			}
			t, err := template.New(n).Option("missingkey=error").Parse(string(b))
			if err != nil {
				return nil, fmt.Errorf("templates: %w", err)
			}
			s.msgs[strings.TrimSuffix(n, ".tmpl")] = t
		}
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
	head, body, ok := strings.Cut(b.String(), "\n\n")
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
	// References is the Message-ID the message answers, if any.
	References string
	Date       time.Time
}

// Compose renders template name and builds the whole message, RFC 5322,
// ready for the queue.
func (s *Set) Compose(lang, name string, data any, env Envelope) ([]byte, error) {
	r, err := s.Render(lang, name, data)
	if err != nil {
		return nil, err
	}
	e := email.NewEmail()
	e.From = env.From
	e.To = []string{env.To}
	e.Subject = r.Subject
	e.Text = []byte(r.Text)
	e.Headers.Set("Message-ID", NewMessageID(env.Hostname))
	if env.Date.IsZero() {
		env.Date = time.Now()
	}
	e.Headers.Set("Date", env.Date.Format(time.RFC1123Z))
	e.Headers.Set("Content-Language", r.Lang)
	if env.AutoSubmitted != "" {
		e.Headers.Set("Auto-Submitted", env.AutoSubmitted)
	}
	if env.References != "" {
		e.Headers.Set("In-Reply-To", env.References)
		e.Headers.Set("References", env.References)
	}
	b, err := e.Bytes()
	if err != nil {
		return nil, fmt.Errorf("templates: compose %s: %w", name, err)
	}
	return b, nil
}

// NewMessageID returns a fresh Message-ID on host (RFC 5322 §3.6.4).
func NewMessageID(host string) string {
	var b [12]byte
	rand.Read(b[:])
	return "<" + hex.EncodeToString(b[:]) + "@" + host + ">"
}
