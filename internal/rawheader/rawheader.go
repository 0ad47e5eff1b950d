// Package rawheader reads the header of a message as it was received, byte
// for byte, in one pass: where it ends and where each field starts and ends
// (RFC 5322 §2.2: a field is its first line and every continuation line
// starting with a space or a tab). It parses no value. Code that must stay
// linear in the size of hostile input (the inbound checks, DKIM) uses it
// instead of readers that rebuild a field for each continuation line.
package rawheader

import (
	"bufio"
	"bytes"
)

// Field is one header field.
type Field struct {
	Name string // the field name as written, without spaces around it
	Raw  []byte // the whole field: name, colon, value, continuation lines and line ends
}

// Value is what follows the colon, folding and line end included.
func (f Field) Value() []byte {
	if i := bytes.IndexByte(f.Raw, ':'); i >= 0 {
		return f.Raw[i+1:]
	}
	return nil
}

// Lines is the number of lines the field is folded over.
func (f Field) Lines() int {
	return bytes.Count(f.Raw, []byte("\n")) + 1 - boolInt(bytes.HasSuffix(f.Raw, []byte("\n")))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// End is the offset of the empty line that ends the header of msg: where
// the body starts, its CRLF (or LF) included. It is len(msg) when the
// header never ends.
func End(msg []byte) int {
	pos := 0
	for pos < len(msg) {
		if msg[pos] == '\n' || msg[pos] == '\r' && pos+1 < len(msg) && msg[pos+1] == '\n' {
			return pos
		}
		n := bytes.IndexByte(msg[pos:], '\n')
		if n < 0 {
			return len(msg)
		}
		pos += n + 1
	}
	return len(msg)
}

// Fields returns the fields of the header of msg in order. A line before
// the first field that is a continuation, or a line without a colon, is
// kept as a field without a name (the caller decides what that means).
func Fields(msg []byte) []Field { return AppendFields(nil, msg) }

// AppendFields is Fields appended to dst.
func AppendFields(dst []Field, msg []byte) []Field {
	end := End(msg)
	out := dst
	for pos := 0; pos < end; {
		n := fieldEnd(msg[:end], pos)
		raw := msg[pos:n]
		name := ""
		if i := bytes.IndexByte(raw, ':'); i > 0 {
			if nl := bytes.IndexByte(raw[:i], '\n'); nl < 0 {
				name = fieldName(bytes.TrimSpace(raw[:i]))
			}
		}
		out = append(out, Field{Name: name, Raw: raw})
		pos = n
	}
	return out
}

// fieldName is b as a string. The names most messages carry, as they are
// usually spelled, are constants rather than copies of their bytes (a list
// post's header is read again for every member's copy).
func fieldName(b []byte) string {
	switch string(b) {
	case "From":
		return "From"
	case "To":
		return "To"
	case "Cc":
		return "Cc"
	case "Subject":
		return "Subject"
	case "Date":
		return "Date"
	case "Message-ID":
		return "Message-ID"
	case "Message-Id":
		return "Message-Id"
	case "Reply-To":
		return "Reply-To"
	case "Sender":
		return "Sender"
	case "In-Reply-To":
		return "In-Reply-To"
	case "References":
		return "References"
	case "MIME-Version":
		return "MIME-Version"
	case "Content-Type":
		return "Content-Type"
	case "Content-Transfer-Encoding":
		return "Content-Transfer-Encoding"
	case "Content-Disposition":
		return "Content-Disposition"
	case "Content-Language":
		return "Content-Language"
	case "List-Id":
		return "List-Id"
	case "List-Help":
		return "List-Help"
	case "List-Post":
		return "List-Post"
	case "List-Subscribe":
		return "List-Subscribe"
	case "List-Unsubscribe":
		return "List-Unsubscribe"
	case "List-Unsubscribe-Post":
		return "List-Unsubscribe-Post"
	case "List-Owner":
		return "List-Owner"
	case "List-Archive":
		return "List-Archive"
	case "Precedence":
		return "Precedence"
	case "X-Loop":
		return "X-Loop"
	case "Auto-Submitted":
		return "Auto-Submitted"
	case "Received":
		return "Received"
	case "Return-Path":
		return "Return-Path"
	case "Delivered-To":
		return "Delivered-To"
	case "DKIM-Signature":
		return "DKIM-Signature"
	case "Authentication-Results":
		return "Authentication-Results"
	case "User-Agent":
		return "User-Agent"
	case "X-Mailer":
		return "X-Mailer"
	}
	return string(b)
}

// fieldEnd is the offset after the field starting at pos in h, its
// continuation lines included.
func fieldEnd(h []byte, pos int) int {
	for {
		n := bytes.IndexByte(h[pos:], '\n')
		if n < 0 {
			return len(h)
		}
		pos += n + 1
		if pos >= len(h) || (h[pos] != ' ' && h[pos] != '\t') {
			return pos
		}
	}
}

// Unfold returns raw on one line (RFC 5322 §2.2.3: every line break
// followed by a space or a tab removed), ended by CRLF.
func Unfold(raw []byte) []byte {
	out := make([]byte, 0, len(raw)+2)
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\n')
		if i < 0 {
			out = append(out, raw...)
			break
		}
		line := raw[:i]
		line = bytes.TrimSuffix(line, []byte("\r"))
		out = append(out, line...)
		raw = raw[i+1:]
	}
	return append(out, '\r', '\n')
}

// Reader reads the header of msg, its empty line included, for a header
// parser (textproto.ReadHeader), with a buffer no larger than it: the
// default 4 KB buffer and a reader over the whole message, made for each
// look at a header, cost more than the reading.
func Reader(msg []byte) *bufio.Reader {
	end := End(msg)
	switch {
	case end < len(msg) && msg[end] == '\r':
		end = min(end+2, len(msg))
	case end < len(msg):
		end++
	}
	return bufio.NewReaderSize(bytes.NewReader(msg[:end]), min(max(end, 16), 4096))
}
