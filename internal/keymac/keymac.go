// Package keymac computes HMAC-SHA256 under one secret many times over,
// for what the hub makes for every copy it sends (VERP tokens, unsubscribe
// and sign-in links, the digests' links) and for the log pseudonyms: the
// keyed states are pooled and reset, since hmac.New hashes the key anew
// each time.
package keymac

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"sync"
)

// Pool holds keyed HMAC-SHA256 states for reuse. Its zero value is ready;
// a Pool serves one secret, which every call passes.
type Pool struct {
	p sync.Pool // of hash.Hash
}

// Sum returns the HMAC-SHA256 of msg under key.
func (p *Pool) Sum(key, msg []byte) [sha256.Size]byte {
	m, _ := p.p.Get().(hash.Hash)
	if m == nil {
		m = hmac.New(sha256.New, key)
	} else {
		m.Reset()
	}
	m.Write(msg)
	var sum [sha256.Size]byte
	m.Sum(sum[:0])
	p.p.Put(m)
	return sum
}
