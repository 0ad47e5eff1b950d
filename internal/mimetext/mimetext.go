// Package mimetext finds the words people wrote in a mail message: its
// first text/plain part, decoded (transfer encoding and charset), with LF
// line ends; what command handlers read.
package mimetext

import (
	"bytes"
	"io"
	"strings"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // charsets other than UTF-8
)

// maxDepth bounds the nesting of multipart parts looked into.
const maxDepth = 10

// First returns the first text/plain part of raw (or its body when it is
// not multipart), at most limit bytes of it; "" if there is none.
func First(raw []byte, limit int64) string {
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return ""
	}
	var find func(e *message.Entity, depth int) string
	find = func(e *message.Entity, depth int) string {
		if depth > maxDepth {
			return ""
		}
		if mr := e.MultipartReader(); mr != nil {
			for {
				p, err := mr.NextPart()
				if err != nil {
					return ""
				}
				if t := find(p, depth+1); t != "" {
					return t
				}
			}
		}
		if t, _, _ := e.Header.ContentType(); t != "" && t != "text/plain" {
			return ""
		}
		b, _ := io.ReadAll(io.LimitReader(e.Body, limit))
		return strings.ReplaceAll(string(b), "\r\n", "\n")
	}
	return find(e, 0)
}
