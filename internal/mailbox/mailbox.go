// Package mailbox is in charge of reading the From field of a message the
// way the hub trusts it: exactly one mailbox (RFC 5322 §3.6.2), written so
// that every reader sees the same address. Lax readers (a mail client, a
// filter, Python's getaddresses) make an address of fields that are not
// one, and a forger uses the difference: "support@hub.example." or
// "<support@hub.example" look like the hub's own address to some of them
// and like nothing, or someone else, to a strict one.
package mailbox

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
	"golang.org/x/net/idna"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/unicode/norm"
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
// labels, or U-labels when utf8, written as IDNA writes them), and a
// non-ASCII address only when utf8 (the message came with SMTPUTF8, RFC
// 6531). Encoded words in the display name are decoded (RFC 2047), in any
// charset mail clients use (Outlook's windows-1252, iso-8859-15); anywhere
// else they are not words but characters. A field that is not UTF-8 is
// read as windows-1252, as mail clients show the 8-bit display names of
// old ones; its address must then be ASCII.
func Parse(value string, utf8 bool) (*mail.Address, error) {
	if len(value) > maxField {
		return nil, wrap(errors.New("field too long"))
	}
	value = unfold.Replace(value)
	eightBit := false
	if !validUTF8(value) {
		v, err := charmap.Windows1252.NewDecoder().String(value)
		if err != nil {
			return nil, wrap(errors.New("invalid UTF-8"))
		}
		value, eightBit = v, true
	}
	for _, r := range value {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return nil, wrap(errControl)
		}
	}
	if outside(value, ":;") {
		return nil, wrap(errGroup)
	}
	a, err := parser.Parse(value)
	if err != nil {
		return nil, wrap(err)
	}
	local, domain, ok := cut(a.Address)
	if !ok || local == "" {
		return nil, wrap(errors.New("no local part"))
	}
	if (!utf8 || eightBit) && !ascii(a.Address) {
		return nil, wrap(err8bit)
	}
	if !HostName(domain) || !ascii(domain) && !canonical(domain) {
		return nil, wrap(errDomain)
	}
	return a, nil
}

// parser decodes encoded words in every charset go-message knows; net/mail
// alone knows UTF-8, ISO-8859-1 and US-ASCII, and refused the display
// names of Outlook (windows-1252) and of French Windows (iso-8859-15).
var parser = &mail.AddressParser{WordDecoder: &mime.WordDecoder{CharsetReader: charset.Reader}}

// canonical says whether a domain in Unicode is written as IDNA writes it
// back from its A-labels (RFC 5891 §5: U-labels, case and normalization
// aside). IDNA's mapping (UTS #46) turns fullwidth letters, a soft hyphen,
// a zero-width space or an ideographic full stop into the ASCII a reader
// sees: "support@ｈｕｂ.example" or "support@hu\u00adb.example" is the hub's
// own address to a mail client or a DMARC verifier that maps it, and a
// stranger's to one that compares bytes.
func canonical(d string) bool {
	a, err := idna.Lookup.ToASCII(d)
	if err != nil {
		return false
	}
	u, err := idna.Lookup.ToUnicode(a)
	return err == nil && u == norm.NFC.String(strings.ToLower(d))
}

// ASCIIDomain is the domain of addr in A-labels and lower case (RFC 5890
// §2.3.2.1), what DNS lookups and DMARC alignment compare; "" when it has
// none.
func ASCIIDomain(addr string) string {
	_, d, ok := cut(addr)
	if !ok {
		return ""
	}
	if !ascii(d) {
		a, err := idna.Lookup.ToASCII(d)
		if err != nil {
			return ""
		}
		d = a
	}
	return strings.ToLower(d)
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

// Shown is value as people may read it, for looking in it for what they
// would take for an address: every encoded word decoded, wherever it is
// (in a quoted string or a comment as well, as Thunderbird, Gmail and
// Python do), whatever its charset (one that is not known is read as
// ASCII-compatible bytes) and with base64 padding or without; then
// compatibility forms folded (NFKC: a fullwidth "＠" is "@"), invisible
// characters dropped (format characters such as a soft hyphen or a
// zero-width space), the ideographic full stops IDNA reads as dots made
// dots, and lower case; with a bidirectional override, backwards too.
// The decoded text follows value, so that both may be searched.
func Shown(value string) string {
	dec := encodedWord.ReplaceAllStringFunc(value, decodeWord)
	s := strings.ToValidUTF8(value+" "+dec, "")
	if strings.ContainsFunc(s, bidiControl) {
		// Text between a right-to-left override and its end is shown
		// backwards: "\u202eelpmaxe.buh@troppus" reads support@hub.example.
		s += " " + reversed(s)
	}
	s = norm.NFKC.String(s)
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\u3002' || r == '\uff61': // UTS #46 maps them to "."
			return '.'
		case r == 0 || unicode.Is(unicode.Cf, r):
			return -1
		}
		return r
	}, s)
	return strings.ToLower(s)
}

// bidiControl: the characters that change the direction text is shown in
// (Unicode's bidirectional formatting characters).
func bidiControl(r rune) bool {
	return r >= '\u202a' && r <= '\u202e' || r >= '\u2066' && r <= '\u2069' || r == '\u200e' || r == '\u200f' || r == '\u061c'
}

// reversed is s with its characters in the opposite order.
func reversed(s string) string {
	r := []rune(s)
	slices.Reverse(r)
	return string(r)
}

// encodedWord is an RFC 2047 encoded word, loosely: a charset (with an RFC
// 2231 language or not), B or Q, text without spaces.
var encodedWord = regexp.MustCompile(`=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=`)

// decodeWord decodes one encoded word as a lax reader would, or leaves it.
func decodeWord(w string) string {
	m := encodedWord.FindStringSubmatch(w)
	var b []byte
	switch m[2] {
	case "b", "B":
		var err error
		b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(m[3], "="))
		if err != nil {
			return w
		}
	default:
		b = qDecode(m[3])
	}
	cs, _, _ := strings.Cut(m[1], "*")
	if r, err := charset.Reader(cs, bytes.NewReader(b)); err == nil {
		if u, err := io.ReadAll(r); err == nil {
			return string(u)
		}
	}
	return string(b)
}

// qDecode is RFC 2047 §4.2's Q encoding, forgiving: a bad escape is kept.
func qDecode(s string) []byte {
	var out []byte
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '_':
			out = append(out, ' ')
		case c == '=' && i+2 < len(s):
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				out = append(out, byte(v))
				i += 2
				continue
			}
			out = append(out, c)
		default:
			out = append(out, c)
		}
	}
	return out
}
