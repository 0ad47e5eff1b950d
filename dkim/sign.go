package dkim

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"

	"codeberg.org/relais/relais/internal/mailbox"
	"codeberg.org/relais/relais/internal/rawheader"
)

// The signer is written here rather than taken from go-msgauth, whose
// verifier the tests still use (with dkimpy's) on every path: go-msgauth
// hashes the body once per signature and reads the whole message through
// a pipe and a goroutine each time, where a list sends ten thousand copies
// of one post that differ only in a few header fields and a footer, each
// signed with two keys. Here the body is hashed once for both keys, and
// the part of it every copy shares once per post (BodyHash.Clone), and the
// header is canonicalized once for both keys.

// BodyHash computes the hash of a message body under the relaxed body
// canonicalization of RFC 6376 §3.4.4, SHA-256 (§3.7 step 1), as it is
// written, so that the hash of a shared beginning can be kept (Clone) and
// each copy's own end added to it.
//
// Line ends are read as go-msgauth's verifier reads them: a LF not
// preceded by CR counts as CRLF.
type BodyHash struct {
	h       hash.Hash
	pending []byte // line ends not yet hashed: empty lines at the end are not
	wsp     bool   // whitespace not yet hashed: at the end of a line it is not
	cr      bool   // the last byte was CR
	written bool   // something was hashed: the body ends with one CRLF
}

// NewBodyHash returns an empty body hash.
func NewBodyHash() *BodyHash { return &BodyHash{h: sha256.New()} }

var space = []byte{' '}

// special marks the bytes relaxed body canonicalization looks at; the
// others are hashed as they are.
var special = [256]bool{' ': true, '\t': true, '\r': true, '\n': true}

// Write adds p to the body.
func (b *BodyHash) Write(p []byte) (int, error) {
	n := len(p)
	for i := 0; i < n; {
		switch c := p[i]; {
		case c == ' ' || c == '\t':
			// A run of WSP is one SP, and none at a line end.
			b.wsp, b.cr = true, false
			i++
			continue
		case c == '\r':
			b.pending = append(b.pending, '\r')
			b.wsp, b.cr = false, true
			i++
			continue
		case c == '\n':
			if !b.cr {
				b.pending = append(b.pending, '\r')
			}
			b.pending = append(b.pending, '\n')
			b.wsp, b.cr = false, false
			i++
			continue
		}
		// Text: what was held back is followed by it, so it stays.
		if len(b.pending) > 0 {
			b.h.Write(b.pending)
			b.pending = b.pending[:0]
		}
		if b.wsp {
			b.h.Write(space)
			b.wsp = false
		}
		b.cr, b.written = false, true
		// Then the longest stretch that is its own canonical form: text,
		// single spaces between text, CRLF between text; hashed whole.
		j := i + 1
	stretch:
		for j < n {
			c := p[j]
			switch {
			case !special[c]:
				j++
			case c == ' ' && j+1 < n && !special[p[j+1]]:
				j += 2
			case c == '\r' && j+2 < n && p[j+1] == '\n' && !special[p[j+2]]:
				j += 3
			default:
				break stretch
			}
		}
		b.h.Write(p[i:j])
		i = j
	}
	return n, nil
}

// Clone returns a copy that goes on independently.
func (b *BodyHash) Clone() *BodyHash {
	c := *b
	c.pending = append([]byte(nil), b.pending...)
	h, err := b.h.(hash.Cloner).Clone()
	if err != nil {
		panic("dkim: sha256 cannot be cloned: " + err.Error())
	}
	c.h = h
	return &c
}

// Sum ends the body (§3.4.4 c: empty lines at its end removed, one CRLF
// after a non-empty body) and returns its hash. Nothing may be written
// after.
func (b *BodyHash) Sum() []byte { return b.appendSum(nil) }

// appendSum is Sum appended to dst.
func (b *BodyHash) appendSum(dst []byte) []byte {
	if b.written {
		b.h.Write([]byte("\r\n"))
	}
	return b.h.Sum(dst)
}

// BodyStart is the offset in msg where its body starts, after the empty
// line that ends the header; len(msg) when there is none.
func BodyStart(msg []byte) int {
	end := rawheader.End(msg)
	switch {
	case end+1 < len(msg) && msg[end] == '\r' && msg[end+1] == '\n':
		return end + 2
	case end < len(msg) && msg[end] == '\n':
		return end + 1
	}
	return len(msg)
}

// Sign returns msg with DKIM-Signature fields prepended, one per active key
// of the From domain (or of the fallback domain), relaxed/relaxed, SHA-256.
func (s *Signer) Sign(msg []byte) ([]byte, error) {
	body := NewBodyHash()
	body.Write(msg[BodyStart(msg):])
	sigs, err := s.Signatures(msg, body)
	if err != nil {
		return nil, err
	}
	return append(sigs, msg...), nil
}

// Signatures returns the DKIM-Signature fields to put on top of msg, one
// per active key of its From domain (or of the fallback domain), given the
// hash of its body, which it ends: body must hold exactly
// msg[BodyStart(msg):].
func (s *Signer) Signatures(msg []byte, body *BodyHash) ([]byte, error) {
	w := scratches.Get().(*scratch)
	defer w.put()
	w.fields = rawheader.AppendFields(w.fields[:0], msg)
	keys, err := s.keysFor(s.fromDomain(w.fields))
	if err != nil {
		return nil, err
	}
	w.names, w.canon = signedHeader(w.fields, w.names[:0], w.canon[:0])
	base64.StdEncoding.Encode(w.bh[:], body.appendSum(w.digest[:0]))
	// The header hash of the signed fields, the same for every key: its
	// state is kept, and each key's hash starts from it.
	w.hashed.Reset()
	w.hashed.Write(w.canon)
	if w.state, err = w.hashed.(encoding.BinaryAppender).AppendBinary(w.state[:0]); err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	// t= is the wall clock's, not the injected one's (s.now, which says
	// when keys are looked at again): verifiers refuse a t= in their
	// future, as go-msgauth's signer, which took time.Now, never wrote.
	t := strconv.AppendInt(w.t[:0], wallClock().Unix(), 10)
	out := make([]byte, 0, 1024*len(keys))
	for _, k := range keys {
		// §3.7 step 2: the header hash covers the signed fields, then this
		// signature's own field with b= empty, without its final CRLF.
		w.head = appendSigField(w.head[:0], k, t, w.names, w.bh[:])
		w.c = canonField(w.c[:0], w.head)
		if err := w.hk.(encoding.BinaryUnmarshaler).UnmarshalBinary(w.state); err != nil {
			return nil, fmt.Errorf("dkim: %w", err)
		}
		w.hk.Write(w.c[:len(w.c)-2])
		digest := w.hk.Sum(w.digest[:0])
		var sig []byte
		switch k.Algo {
		case RSA:
			sig, err = k.signer.Sign(rand.Reader, digest, crypto.SHA256)
		case Ed25519:
			// RFC 8463 §3: Ed25519 (pure) over the SHA-256 hash.
			sig, err = k.signer.Sign(rand.Reader, digest, crypto.Hash(0))
		default:
			err = errors.New("unknown algorithm " + k.Algo)
		}
		if err != nil {
			return nil, fmt.Errorf("dkim: sign with %s: %w", k.Name(), err)
		}
		out = append(out, w.head...)
		w.b64 = base64.StdEncoding.AppendEncode(w.b64[:0], sig)
		out = appendFolded(out, w.b64, 72)
		out = append(out, "\r\n"...)
	}
	return out, nil
}

// scratch is what Signatures works in: made for one copy, kept for the
// next (scratches), where each copy of a list post allocated as much again
// as its own size.
type scratch struct {
	fields     []rawheader.Field
	names      []string
	canon      []byte // the signed fields, canonicalized
	head       []byte // a DKIM-Signature field, up to b=
	c          []byte // head, canonicalized
	b64        []byte // a signature in base64
	state      []byte // hashed's state after canon
	hashed, hk hash.Hash
	digest     [sha256.Size]byte
	bh         [44]byte // base64 of a SHA-256 hash
	t          [20]byte
}

var scratches = sync.Pool{New: func() any { return &scratch{hashed: sha256.New(), hk: sha256.New()} }}

// put gives w back to scratches, without the message its fields point
// into, unless it grew too large to keep (a message of 17,000 fields).
func (w *scratch) put() {
	if cap(w.fields) > 256 || cap(w.canon) > 64<<10 {
		return
	}
	clear(w.fields)
	scratches.Put(w)
}

// wallClock is the time written in t= (RFC 6376 §3.5).
var wallClock = time.Now

// appendSigField appends a DKIM-Signature field (RFC 6376 §3.5) for k, up
// to an empty b= tag, folded under 78 characters a line.
func appendSigField(b []byte, k Key, t []byte, names []string, bh []byte) []byte {
	b = append(b, "DKIM-Signature: v=1; a="...)
	b = append(b, k.Algo...)
	b = append(b, "-sha256; c=relaxed/relaxed; d="...)
	b = append(b, k.Domain...)
	b = append(b, ";\r\n s="...)
	b = append(b, k.Selector...)
	b = append(b, "; t="...)
	b = append(b, t...)
	b = append(b, ";\r\n h="...)
	line := 3
	for i, n := range names {
		if i > 0 {
			b = append(b, ':')
			line++
			if line+len(n) > 76 { // FWS is allowed around the colons
				b = append(b, "\r\n "...)
				line = 1
			}
		}
		b = append(b, n...)
		line += len(n)
	}
	b = append(b, ";\r\n bh="...)
	b = append(b, bh...)
	return append(b, ";\r\n b="...)
}

// appendFolded appends s in lines of at most n characters, continued by
// folding (FWS is allowed anywhere in a base64 value, §2.4).
func appendFolded(dst, s []byte, n int) []byte {
	for len(s) > n {
		dst = append(dst, s[:n]...)
		dst = append(dst, "\r\n "...)
		s = s[n:]
	}
	return append(dst, s...)
}

// maxSigned is len(signedFields), checked at start.
const maxSigned = 24

func init() {
	if len(signedFields) != maxSigned {
		panic("dkim: maxSigned is not len(signedFields)")
	}
}

// signedHeader returns the h= list and the canonicalized fields it covers,
// in one pass over the header: each signed field named as many times as
// it occurs, plus once (so that none can be added), up to its last
// maxSignedEach occurrences (then none is added: an added one would not be
// among the last). The fields are picked as §5.4.2 says, the last
// occurrence of a name first, and canonicalized as §3.4.2 says.
//
// The list and the fields are appended to names and canon.
func signedHeader(fields []rawheader.Field, names []string, canon []byte) ([]string, []byte) {
	// The occurrences of each signed name, in order; most headers have at
	// most one of each.
	var first [maxSigned]int
	var more [maxSigned][]int
	count := [maxSigned]int{}
	for i, f := range fields {
		j := signedIndex(f.Name)
		if j < 0 {
			continue
		}
		if count[j] == 0 {
			first[j] = i
		} else {
			if more[j] == nil {
				more[j] = []int{first[j]}
			}
			more[j] = append(more[j], i)
		}
		count[j]++
	}
	at := func(j, k int) int { // the k-th occurrence of name j
		if more[j] == nil {
			return first[j]
		}
		return more[j][k]
	}
	for j, name := range signedFields {
		n := min(count[j]+1, maxSignedEach)
		for k := 0; k < n; k++ {
			names = append(names, name)
			if i := count[j] - 1 - k; i >= 0 {
				canon = canonField(canon, fields[at(j, i)].Raw)
			}
		}
	}
	return names, canon
}

// canonField appends raw, a whole header field, under the relaxed header
// canonicalization (§3.4.2): its name in lower case, the colon with no
// space around it, its value unfolded, every run of whitespace one space,
// none at either end, and CRLF.
func canonField(dst, raw []byte) []byte {
	colon := -1
	for i, c := range raw {
		if c == ':' {
			colon = i
			break
		}
	}
	if colon < 0 {
		colon = len(raw)
	}
	name := raw[:colon]
	for len(name) > 0 && isFWS(name[len(name)-1]) {
		name = name[:len(name)-1]
	}
	for len(name) > 0 && isFWS(name[0]) {
		name = name[1:]
	}
	for _, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	dst = append(dst, ':')
	if colon < len(raw) {
		gap := false
		started := false
		for _, c := range raw[colon+1:] {
			if isFWS(c) {
				gap = true
				continue
			}
			if gap && started {
				dst = append(dst, ' ')
			}
			gap, started = false, true
			dst = append(dst, c)
		}
	}
	return append(dst, '\r', '\n')
}

func isFWS(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// fromDomain is the domain of the message's first From field, in lower
// case. The copies of a list post share their From: the last value read
// and its domain are kept, and a copy whose From is that value byte for
// byte gets the domain without parsing it again.
func (s *Signer) fromDomain(fields []rawheader.Field) string {
	for _, f := range fields {
		if !strings.EqualFold(f.Name, "From") {
			continue
		}
		v := f.Value()
		if last := s.lastFrom.Load(); last != nil && last.value == string(v) {
			return last.domain
		}
		d := valueDomain(v)
		s.lastFrom.Store(&fromRead{value: string(v), domain: d})
		return d
	}
	return ""
}

// fromRead is the value of a From field as written, and its domain.
type fromRead struct{ value, domain string }

// valueDomain is the domain of v, the value of a From field, folded or
// not, in lower case; "" when it is not one mailbox.
func valueDomain(v []byte) string {
	a, err := mailbox.Parse(strings.TrimSpace(string(rawheader.Unfold(v))), true)
	if err != nil {
		return ""
	}
	_, d, _ := strings.Cut(a.Address, "@")
	return strings.ToLower(d)
}
