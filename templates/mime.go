package templates

import (
	"bytes"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"slices"
	"strings"

	"github.com/jordan-wright/email"
)

// mimeBytes is e.Bytes() for a message without attachments, written into
// a buffer of the message's size at once (Bytes starts at 4 KB and grows:
// three copies of a digest), header fields in a fixed order rather than
// in map order: the same fields, encoded the same way, and the same MIME
// structure. Anything else goes to Bytes.
func mimeBytes(e *email.Email) ([]byte, error) {
	if len(e.Attachments) > 0 || len(e.Text) == 0 && len(e.HTML) == 0 || e.Headers.Get("Message-Id") == "" || e.Headers.Get("Date") == "" {
		return e.Bytes()
	}
	// The fields, as Bytes takes them (e.Headers first, then the Email's
	// own fields where e.Headers lacks them).
	h := make(textproto.MIMEHeader, len(e.Headers)+6)
	for k, v := range e.Headers {
		h[k] = v
	}
	set := func(k, v string) {
		if _, ok := h[k]; !ok && v != "" {
			h.Set(k, v)
		}
	}
	set("Reply-To", strings.Join(e.ReplyTo, ", "))
	set("To", strings.Join(e.To, ", "))
	set("Cc", strings.Join(e.Cc, ", "))
	set("Subject", e.Subject)
	if _, ok := h["From"]; !ok {
		h.Set("From", e.From)
	}
	set("Mime-Version", "1.0")
	var b bytes.Buffer
	b.Grow(qpRoom(e.Text) + qpRoom(e.HTML) + 2048)
	var w *multipart.Writer
	switch {
	case len(e.Text) > 0 && len(e.HTML) > 0:
		w = multipart.NewWriter(&b)
		h.Set("Content-Type", "multipart/alternative;\r\n boundary="+w.Boundary())
	case len(e.HTML) > 0:
		h.Set("Content-Type", "text/html; charset=UTF-8")
		h.Set("Content-Transfer-Encoding", "quoted-printable")
	default:
		h.Set("Content-Type", "text/plain; charset=UTF-8")
		h.Set("Content-Transfer-Encoding", "quoted-printable")
	}
	written := map[string]bool{}
	field := func(k string) {
		if written[k] {
			return
		}
		written[k] = true
		for _, v := range h[k] {
			b.WriteString(k)
			b.WriteString(": ")
			switch k {
			case "Content-Type", "Content-Disposition":
				b.WriteString(v)
			case "From", "To", "Cc", "Bcc":
				ps := strings.Split(v, ",")
				for i, p := range ps {
					if a, err := mail.ParseAddress(p); err == nil {
						ps[i] = a.String()
					}
				}
				b.WriteString(strings.Join(ps, ", "))
			default:
				b.WriteString(mime.QEncoding.Encode("UTF-8", v))
			}
			b.WriteString("\r\n")
		}
	}
	for _, k := range []string{"From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-Id", "In-Reply-To", "References"} {
		field(k)
	}
	var rest []string
	for k := range h {
		if !written[k] && !strings.HasPrefix(k, "Content-") && k != "Mime-Version" {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	for _, k := range append(rest, "Mime-Version", "Content-Type", "Content-Transfer-Encoding") {
		field(k)
	}
	for k := range h { // any other Content- field someone added
		field(k)
	}
	b.WriteString("\r\n")
	part := func(body []byte, mediaType string) error {
		if w != nil {
			if _, err := w.CreatePart(textproto.MIMEHeader{"Content-Type": {mediaType + "; charset=UTF-8"},
				"Content-Transfer-Encoding": {"quoted-printable"}}); err != nil {
				return err
			}
		}
		b.Write(appendQP(b.AvailableBuffer(), body)) // in place when b has room
		return nil
	}
	if len(e.Text) > 0 {
		if err := part(e.Text, "text/plain"); err != nil {
			return nil, err
		}
	}
	if len(e.HTML) > 0 {
		if err := part(e.HTML, "text/html"); err != nil {
			return nil, err
		}
	}
	if w != nil {
		if err := w.Close(); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

// qpRoom is room enough for b in quoted-printable, most of the time
// (counting it costs as much as a tenth of writing it): a byte beyond ASCII
// or '=' takes three, a soft line break three more every 73 or so. When
// it is not, appendQP grows the buffer.
func qpRoom(b []byte) int {
	return len(b) + len(b)/4 + 64
}
