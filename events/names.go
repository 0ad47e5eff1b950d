package events

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// NewUID returns the UID of an event the hub makes (RFC 5545 §3.8.4.7):
// 128 random bits and the hub's host name. Nobody can name an event they
// were not told of: a UID is what joins another group to an event, and
// what its "add to my calendar" link names.
func NewUID(host string) string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24)
	return hex.EncodeToString(b[:]) + "@" + host
}

// MaxUIDLen is the longest UID the hub keeps: more than any calendar
// program writes (Outlook's are about 120 characters).
const MaxUIDLen = 255

// ValidUID reports whether uid can be an event's UID here: 1 to MaxUIDLen
// bytes of UTF-8 without control characters.
func ValidUID(uid string) bool {
	if uid == "" || len(uid) > MaxUIDLen || !utf8.ValidString(uid) {
		return false
	}
	return strings.IndexFunc(uid, unicode.IsControl) < 0
}

// MaxThemeLen is the longest theme, in characters.
const MaxThemeLen = 40

// ErrBadTheme: not a theme's name.
var ErrBadTheme = errors.New("events: not a theme")

// ParseTheme reads a theme as a person writes it ("Climat", "#logement",
// "énergie solaire") and returns it as the hub keeps it and names its
// feed: lower case, NFC, no '#'. A theme has 1 to MaxThemeLen letters,
// digits, spaces and - _ ' ’ . & +; anything else is ErrBadTheme.
func ParseTheme(s string) (string, error) {
	if len(s) > 4*MaxThemeLen+8 || !utf8.ValidString(s) {
		return "", ErrBadTheme // before any work on it
	}
	t := norm.NFC.String(strings.ToLower(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "#"))))
	if t == "" || utf8.RuneCountInString(t) > MaxThemeLen {
		return "", ErrBadTheme
	}
	for _, r := range t {
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r), unicode.Is(unicode.Mn, r):
		case r == ' ', r == '-', r == '_', r == '\'', r == '’', r == '.', r == '&', r == '+':
		default:
			return "", ErrBadTheme
		}
	}
	return t, nil
}
