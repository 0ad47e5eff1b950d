package tickets

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"strings"
	"time"
)

// Role is what a reply key lets its holder do in a ticket.
type Role byte

const (
	// Requester: the person who asked; what they send is a reply.
	Requester Role = 'r'
	// Operator: what an operator sends through this key is a public
	// answer, after its commands are run.
	Operator Role = 'o'
	// Note: what an operator sends through this key is an internal note,
	// never shown to the requester.
	Note Role = 'n'
)

func (r Role) String() string {
	switch r {
	case Requester:
		return "requester"
	case Operator:
		return "operator"
	case Note:
		return "note"
	}
	return "none"
}

// ReplyKey is what the +KEY of QUEUE+KEY@domain stands for: one ticket, one
// person (a ticket_people row, whose address is in the MAC) and one role,
// until an expiry day.
type ReplyKey struct {
	Ticket  int64
	Person  int64
	Role    Role
	Expires time.Time // a day, UTC midnight
}

// keyMACLen is the length of the MAC in a key: 80 bits, out of reach of
// guessing over SMTP.
const keyMACLen = 10

// keyEpoch is day zero of key expiry days, which fit in two bytes.
var keyEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Local parts are lowered by address.Parse: the alphabet is lower case.
var keyEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Seal writes k as the text of a +KEY, binding it to email (lower case)
// with an HMAC-SHA256 under secret.
func (k ReplyKey) Seal(secret []byte, email string) string {
	day := int(k.Expires.Sub(keyEpoch).Hours() / 24)
	day = max(0, min(day, 0xffff))
	b := binary.AppendUvarint(nil, uint64(k.Ticket))
	b = binary.AppendUvarint(b, uint64(k.Person))
	b = append(b, byte(k.Role), byte(day>>8), byte(day))
	b = append(b, keyMAC(secret, b, email)...)
	return keyEncoding.EncodeToString(b)
}

func keyMAC(secret, payload []byte, email string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(payload)
	m.Write([]byte{0})
	m.Write([]byte(strings.ToLower(email)))
	return m.Sum(nil)[:keyMACLen]
}

// OpenKey reads the text of a +KEY without checking its MAC: the caller
// looks up the person it names, then calls Check with their address. It
// reports false for anything that is not a key's shape.
func OpenKey(s string) (ReplyKey, []byte, bool) {
	if len(s) < 20 || len(s) > 48 {
		return ReplyKey{}, nil, false
	}
	b, err := keyEncoding.DecodeString(s)
	if err != nil || len(b) < keyMACLen+5 || keyEncoding.EncodeToString(b) != s {
		// The last character carries unused bits: one spelling per key.
		return ReplyKey{}, nil, false
	}
	payload := b[:len(b)-keyMACLen]
	t, n := binary.Uvarint(payload)
	if n <= 0 || t == 0 || t > 1<<53 {
		return ReplyKey{}, nil, false
	}
	p, m := binary.Uvarint(payload[n:])
	if m <= 0 || p == 0 || p > 1<<53 || len(payload) != n+m+3 {
		return ReplyKey{}, nil, false
	}
	rest := payload[n+m:]
	k := ReplyKey{Ticket: int64(t), Person: int64(p), Role: Role(rest[0])}
	switch k.Role {
	case Requester, Operator, Note:
	default:
		return ReplyKey{}, nil, false
	}
	k.Expires = keyEpoch.AddDate(0, 0, int(rest[1])<<8|int(rest[2]))
	return k, b, true
}

// Check says whether raw (from OpenKey) was sealed for email under secret.
func Check(secret, raw []byte, email string) bool {
	if len(raw) < keyMACLen {
		return false
	}
	payload, mac := raw[:len(raw)-keyMACLen], raw[len(raw)-keyMACLen:]
	return hmac.Equal(mac, keyMAC(secret, payload, email))
}
