// Package dkim is in charge of the hub's DKIM keys and of signing what it
// sends (RFC 6376, relaxed/relaxed, SHA-256; Ed25519 keys per RFC 8463).
// The signatures are assembled here (sign.go), in one pass: the body
// hashed once for every key, and its shared beginning once for every copy
// of a post; RSA signatures are made by OpenSSL's libcrypto, opened at run
// time, when the machine has it, by Go's crypto/rsa otherwise (engine.go).
//
// Keys live under one directory, one folder per domain:
//
//	DIR/DOMAIN/SELECTOR.pem   a PKCS #8 private key, mode 0600
//	DIR/DOMAIN/active         the selectors that sign, one per line
//
// Each generation is a pair of selectors, one RSA-2048 and one Ed25519,
// and a message gets both signatures: receivers that know Ed25519 use it,
// the others the RSA one. Rotation uses two generations at once: the new
// pair is generated beside the active one, published in the DNS (relais
// dns prints every key present), then made active; the old one is removed
// once no message in flight carries it.
package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Algorithms of a key, as DNS records name them (k=).
const (
	RSA     = "rsa"
	Ed25519 = "ed25519"
)

// rsaBits is the size of RSA keys: 2048, what the large mailbox providers
// require (1024-bit keys are refused by some).
const rsaBits = 2048

// Key is one private key and what it is to the hub.
type Key struct {
	Domain   string
	Selector string
	Algo     string // RSA or Ed25519
	Active   bool   // signs outgoing mail
	Created  time.Time
	signer   crypto.Signer
}

// Record is the DNS TXT record that publishes the key's public half at
// SELECTOR._domainkey.DOMAIN (RFC 6376 §3.6.1).
func (k Key) Record() string {
	var pub []byte
	switch p := k.signer.Public().(type) {
	case *rsa.PublicKey:
		pub, _ = x509.MarshalPKIXPublicKey(p)
	case ed25519.PublicKey:
		pub = p // RFC 8463 §4.2: the raw 32 octets
	}
	return fmt.Sprintf("v=DKIM1; k=%s; p=%s", k.Algo, base64.StdEncoding.EncodeToString(pub))
}

// Name is the DNS name of the key's record.
func (k Key) Name() string { return k.Selector + "._domainkey." + k.Domain }

// ErrNoKeys is returned when a domain has no key.
var ErrNoKeys = errors.New("dkim: no key")

// Generate makes a new generation of keys for domain in dir: an RSA and an
// Ed25519 key whose selectors carry the date (rsa-20261121,
// ed-20261121, with a letter added if that name is taken). When the
// domain has no active key yet, the new ones become active at once;
// otherwise they wait for Activate, once their records are published.
func Generate(dir, domain string, now time.Time) ([]Key, error) {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	if domain == "" || strings.ContainsAny(domain, "/\\ ") {
		return nil, fmt.Errorf("dkim: bad domain %q", domain)
	}
	ddir := filepath.Join(dir, domain)
	if err := os.MkdirAll(ddir, 0o700); err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	existing, err := readDomain(dir, domain)
	if err != nil {
		return nil, err
	}
	stamp := now.UTC().Format("20060102")
	suffix := ""
	for i := 0; ; i++ {
		if i > 0 {
			suffix = string(rune('a' + i))
		}
		if !hasSelector(existing, "rsa-"+stamp+suffix) && !hasSelector(existing, "ed-"+stamp+suffix) {
			break
		}
		if i > 24 {
			return nil, errors.New("dkim: too many keys generated today")
		}
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, rsaBits)
	if err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	keys := []Key{
		{Domain: domain, Selector: "rsa-" + stamp + suffix, Algo: RSA, Created: now, signer: rsaKey},
		{Domain: domain, Selector: "ed-" + stamp + suffix, Algo: Ed25519, Created: now, signer: edKey},
	}
	for _, k := range keys {
		if err := writeKey(ddir, k); err != nil {
			return nil, err
		}
	}
	if !slices.ContainsFunc(existing, func(k Key) bool { return k.Active }) {
		if err := Activate(dir, domain, keys[0].Selector, keys[1].Selector); err != nil {
			return nil, err
		}
		keys[0].Active, keys[1].Active = true, true
	}
	return keys, nil
}

func hasSelector(keys []Key, sel string) bool {
	return slices.ContainsFunc(keys, func(k Key) bool { return k.Selector == sel })
}

func writeKey(ddir string, k Key) error {
	der, err := x509.MarshalPKCS8PrivateKey(k.signer)
	if err != nil {
		return fmt.Errorf("dkim: %w", err)
	}
	name := filepath.Join(ddir, k.Selector+".pem")
	// O_EXCL: a key is never overwritten (its record may be published).
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("dkim: %w", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return fmt.Errorf("dkim: write %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("dkim: write %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("dkim: write %s: %w", name, err)
	}
	return nil
}

// Activate makes selectors the ones that sign domain's mail; the others
// stay published until their files are removed.
func Activate(dir, domain string, selectors ...string) error {
	domain = strings.ToLower(domain)
	keys, err := readDomain(dir, domain)
	if err != nil {
		return err
	}
	for _, s := range selectors {
		if !hasSelector(keys, s) {
			return fmt.Errorf("dkim: %s has no key %q", domain, s)
		}
	}
	if len(selectors) == 0 {
		return errors.New("dkim: no selector to activate")
	}
	name := filepath.Join(dir, domain, "active")
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(selectors, "\n")+"\n"), 0o600); err != nil {
		return fmt.Errorf("dkim: %w", err)
	}
	if err := os.Rename(tmp, name); err != nil {
		return fmt.Errorf("dkim: %w", err)
	}
	return nil
}

// Keys reads every key in dir, sorted by domain, then newest first.
func Keys(dir string) ([]Key, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	var all []Key
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		keys, err := readDomain(dir, e.Name())
		if err != nil {
			return nil, err
		}
		all = append(all, keys...)
	}
	return all, nil
}

func readDomain(dir, domain string) ([]Key, error) {
	ddir := filepath.Join(dir, domain)
	entries, err := os.ReadDir(ddir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	active := map[string]bool{}
	if b, err := os.ReadFile(filepath.Join(ddir, "active")); err == nil {
		for _, l := range strings.Fields(string(b)) {
			active[l] = true
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	var keys []Key
	for _, e := range entries {
		sel, ok := strings.CutSuffix(e.Name(), ".pem")
		if !ok || e.IsDir() {
			continue
		}
		k, err := readKey(filepath.Join(ddir, e.Name()))
		if err != nil {
			return nil, err
		}
		k.Domain, k.Selector, k.Active = domain, sel, active[sel]
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		// A generation's two files are written a moment apart.
		ci, cj := keys[i].Created.Truncate(time.Minute), keys[j].Created.Truncate(time.Minute)
		if !ci.Equal(cj) {
			return ci.After(cj)
		}
		if keys[i].Algo != keys[j].Algo {
			return keys[i].Algo == RSA // RSA on top: the one every verifier knows
		}
		return keys[i].Selector < keys[j].Selector
	})
	return keys, nil
}

func readKey(name string) (Key, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return Key{}, fmt.Errorf("dkim: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return Key{}, fmt.Errorf("dkim: %s is readable by others (mode %v): chmod 600 it", name, fi.Mode().Perm())
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return Key{}, fmt.Errorf("dkim: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return Key{}, fmt.Errorf("dkim: %s: not a PEM file", name)
	}
	var priv any
	switch block.Type {
	case "PRIVATE KEY":
		priv, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY": // opendkim-genkey writes PKCS #1
		priv, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return Key{}, fmt.Errorf("dkim: %s: unexpected PEM block %q", name, block.Type)
	}
	if err != nil {
		return Key{}, fmt.Errorf("dkim: %s: %w", name, err)
	}
	k := Key{Created: fi.ModTime()}
	switch p := priv.(type) {
	case *rsa.PrivateKey:
		if p.N.BitLen() < 1024 {
			return Key{}, fmt.Errorf("dkim: %s: RSA key of %d bits is too short", name, p.N.BitLen())
		}
		k.Algo, k.signer = RSA, p
	case ed25519.PrivateKey:
		k.Algo, k.signer = Ed25519, p
	default:
		return Key{}, fmt.Errorf("dkim: %s: unsupported key type %T", name, priv)
	}
	return k, nil
}

// signedFields are the header fields a signature covers when present.
// Each is also oversigned (RFC 6376 §8.15): named once more than it occurs,
// so that no one can add another From, Subject or List-Unsubscribe after
// us without breaking the signature.
var signedFields = []string{
	"From", "Sender", "Reply-To", "To", "Cc", "Subject", "Date", "Message-ID",
	"In-Reply-To", "References",
	"List-Id", "List-Help", "List-Unsubscribe", "List-Unsubscribe-Post",
	"List-Subscribe", "List-Post", "List-Owner", "List-Archive",
	"MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Content-Language",
	"Auto-Submitted", "Precedence",
}

// Signer signs messages with the active keys of the hub's domains.
type Signer struct {
	dir      string
	fallback string // domain whose keys sign mail From elsewhere
	now      func() time.Time
	engine   string // what makes RSA signatures: EngineAuto, EngineOpenSSL, EngineGo

	mu      sync.Mutex
	keys    map[string][]Key // active keys by domain
	checked time.Time
	stamp   string // what the keys were read from, to notice changes
	made    string // what makes the RSA signatures of the active keys

	lastFrom atomic.Pointer[fromRead] // the From last signed (fromDomain)
}

// NewSigner reads the keys in dir. Mail whose From domain has no active key
// is signed with fallback's (a group forward keeps its writer's From; the
// hub still vouches for having sent it). It is an error for fallback to
// have none. RSA signatures are made by OpenSSL's libcrypto when it loads,
// by Go's crypto/rsa otherwise (EngineAuto).
func NewSigner(dir, fallback string, now func() time.Time) (*Signer, error) {
	return NewSignerWith(dir, fallback, now, EngineAuto)
}

// NewSignerWith is NewSigner with the RSA engine chosen (EngineAuto,
// EngineOpenSSL, EngineGo).
func NewSignerWith(dir, fallback string, now func() time.Time, engine string) (*Signer, error) {
	if now == nil {
		now = time.Now
	}
	if engine == "" {
		engine = EngineAuto
	}
	if !ValidEngine(engine) {
		return nil, fmt.Errorf("dkim: unknown RSA engine %q (auto, openssl, go)", engine)
	}
	s := &Signer{dir: dir, fallback: strings.ToLower(fallback), now: now, engine: engine}
	if err := s.reload(); err != nil {
		return nil, err
	}
	if len(s.keys[s.fallback]) == 0 {
		return nil, fmt.Errorf("%w for %s in %s: run relais dkim keygen", ErrNoKeys, fallback, dir)
	}
	return s, nil
}

// Engine says what makes the RSA signatures: "OpenSSL 3.0.19 27 Jan
// 2026 (libcrypto.so.3)", or "Go crypto/rsa" with the reason libcrypto is
// not used.
func (s *Signer) Engine() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.made == "" {
		return "no RSA key"
	}
	return s.made
}

// reloadEvery: how often the key directory is looked at for an activation.
const reloadEvery = 10 * time.Second

func (s *Signer) reload() error {
	stamp := s.dirStamp()
	if stamp == s.stamp && s.keys != nil {
		return nil
	}
	all, err := Keys(s.dir)
	if err != nil {
		return err
	}
	keys := make(map[string][]Key)
	made := ""
	for _, k := range all {
		if !k.Active {
			continue
		}
		if priv, ok := k.signer.(*rsa.PrivateKey); ok {
			if k.signer, made, err = rsaSigner(priv, s.engine); err != nil {
				return err
			}
		}
		keys[k.Domain] = append(keys[k.Domain], k)
	}
	s.keys, s.stamp, s.made = keys, stamp, made
	return nil
}

// dirStamp sums up the modification times of the active files.
func (s *Signer) dirStamp() string {
	var b strings.Builder
	matches, _ := filepath.Glob(filepath.Join(s.dir, "*", "active"))
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil {
			fmt.Fprintf(&b, "%s %d;", m, fi.ModTime().UnixNano())
		}
	}
	return b.String()
}

// keysFor returns the active keys that sign mail From domain: its own, or
// the fallback domain's.
func (s *Signer) keysFor(domain string) ([]Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now := s.now(); now.Sub(s.checked) >= reloadEvery {
		s.checked = now
		if err := s.reload(); err != nil {
			return nil, err
		}
	}
	keys := s.keys[domain]
	if len(keys) == 0 {
		keys = s.keys[s.fallback]
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w for %s", ErrNoKeys, s.fallback)
	}
	return keys, nil
}

// maxSignedEach bounds the occurrences of one field a signature covers:
// the last ones, those readers show. Verifiers such as go-msgauth find
// each name of h= by scanning the header from its end, so that signing
// every one of n fields of a name (17,000 "Cc:" fit in a 100 KB header)
// costs n² at each verification (and cost it at each signature when
// go-msgauth signed). RFC 5322 §3.6 allows one of each of these fields; a
// few more are tolerated as written.
const maxSignedEach = 8

// signedIndex is the index of name in signedFields, or -1.
func signedIndex(name string) int {
	if len(name) > 32 {
		return -1
	}
	var low [32]byte
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		low[i] = c
	}
	j, ok := signedSet[string(low[:len(name)])]
	if !ok {
		return -1
	}
	return j
}

// signedSet is signedFields in lower case, to look names up.
var signedSet = func() map[string]int {
	m := make(map[string]int, len(signedFields))
	for i, f := range signedFields {
		m[strings.ToLower(f)] = i
	}
	return m
}()
