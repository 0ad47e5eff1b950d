// Package mailbox is in charge of reading the From field of a message the
// way the hub trusts it: exactly one mailbox (RFC 5322 §3.6.2), written so
// that every reader sees the same address. Lax readers (a mail client, a
// filter, Python's getaddresses) make an address of fields that are not
// one, and a forger uses the difference: "support@hub.example." or
// "<support@hub.example" look like the hub's own address to some of them
// and like nothing, or someone else, to a strict one.
package mailbox

import (
	"errors"
	"net/mail"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Errors of Parse; each wraps ErrMalformed.
var (
	ErrMalformed = errors.New("mailbox: not one well-formed mailbox")
	errControl   = errors.New("control character")
	errGroup     = errors.New("group or route syntax")
	errDomain    = errors.New("domain is not a host name")
	err8bit      = errors.New("non-ASCII address without SMTPUTF8")
)

// maxField bounds the From field read: an address is at most 254 octets
// (RFC 5321 §4.5.3.1), a display name a few dozen; 2,000 leave room for
// encoded words and comments.
const maxField = 2000

// Parse reads the value of a From field (unfolded or not) as exactly one
// mailbox: an addr-spec or a display name and an angle-addr, comments
// allowed; no group, no obsolete route, no second address, no control
// character but folding whitespace, a domain that is a host name (LDH
// labels, or U-labels when utf8), and a non-ASCII address only when utf8
// (the message came with SMTPUTF8, RFC 6531). Encoded words in the display
// name are decoded (RFC 2047); anywhere else they are not words but
// characters.
func Parse(value string, utf8 bool) (*mail.Address, error) {
	if len(value) > maxField {
		return nil, wrap(errors.New("field too long"))
	}
	value = unfold.Replace(value)
	if !validUTF8(value) {
		return nil, wrap(errors.New("invalid UTF-8"))
	}
	for _, r := range value {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return nil, wrap(errControl)
		}
	}
	if outside(value, ":;") {
		return nil, wrap(errGroup)
	}
	a, err := mail.ParseAddress(value)
	if err != nil {
		return nil, wrap(err)
	}
	local, domain, ok := cut(a.Address)
	if !ok || local == "" {
		return nil, wrap(errors.New("no local part"))
	}
	if !utf8 && !ascii(a.Address) {
		return nil, wrap(err8bit)
	}
	if !HostName(domain) {
		return nil, wrap(errDomain)
	}
	return a, nil
}

// unfold joins the lines of a folded field (RFC 5322 §2.2.3).
var unfold = strings.NewReplacer("\r\n", "", "\n", "")

func wrap(err error) error { return errors.Join(ErrMalformed, err) }

func validUTF8(s string) bool { return utf8.ValidString(s) }

// cut splits an address at its last @ (a quoted local part may hold one).
func cut(addr string) (local, domain string, ok bool) {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return "", "", false
	}
	return addr[:i], addr[i+1:], true
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// HostName says whether d is a host name mail can be addressed to: two
// labels or more, of letters, digits and hyphens (RFC 5321 §4.1.2 Domain,
// RFC 1123 §2.1), no trailing dot, or the same in Unicode (U-labels that
// IDNA 2008 maps to such A-labels). A domain literal ([192.0.2.1]) is not
// one: no sender writes from it, and DMARC cannot judge it.
func HostName(d string) bool {
	if !ascii(d) {
		a, err := idna.Lookup.ToASCII(d)
		if err != nil {
			return false
		}
		d = a
	}
	if len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	for _, l := range strings.Split(d, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i] | 0x20
			if !(c >= 'a' && c <= 'z' || l[i] >= '0' && l[i] <= '9' || l[i] == '-') {
				return false
			}
		}
	}
	return true
}

// outside says whether one of chars appears in v outside quoted strings,
// comments and angle brackets' quoted parts: where RFC 5322 gives it
// meaning (":" starts a group or a route, ";" ends a group).
func outside(v, chars string) bool {
	depth, quoted := 0, false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' && (quoted || depth > 0):
			i++
		case quoted:
			quoted = c != '"'
		case c == '"' && depth == 0:
			quoted = true
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth == 0 && strings.IndexByte(chars, c) >= 0:
			return true
		}
	}
	return false
}
