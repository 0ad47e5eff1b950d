package dkim

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"codeberg.org/relais/relais/internal/rawheader"
)

// digestSigner "signs" by hashing what it is given: a signature that
// depends on every byte of the digest, the same on every run, at no cost.
type digestSigner struct{ size int }

func (d digestSigner) Public() crypto.PublicKey { return ed25519.PublicKey(make([]byte, 32)) }

func (d digestSigner) Sign(_ io.Reader, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	var out []byte
	for i := byte(0); len(out) < d.size; i++ {
		s := sha256.Sum256(append([]byte{i}, digest...))
		out = append(out, s[:]...)
	}
	return out[:d.size], nil
}

// fakeSigner signs for hub.example (an RSA-sized and an Ed25519-sized
// signature) and lists.example, whatever the clock says, at no cost.
func fakeSigner() *Signer {
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	k := func(domain, sel, algo string, size int) Key {
		return Key{Domain: domain, Selector: sel, Algo: algo, Active: true, signer: digestSigner{size}}
	}
	return &Signer{fallback: "hub.example", now: func() time.Time { return at }, checked: at, keys: map[string][]Key{
		"hub.example":   {k("hub.example", "r2026", RSA, 256), k("hub.example", "e2026", Ed25519, 64)},
		"lists.example": {k("lists.example", "l1", Ed25519, 64)},
	}}
}

// goldenMessages vary what the header signer reads: From domains (ours,
// another's with our fallback, none, unparsable, folded, several From),
// repeated, folded and missing signed fields, bare LF, odd names.
func goldenMessages() []string {
	body := "\r\nBonjour à toutes et tous,\r\nréunion samedi.\r\n"
	heads := []string{
		sample[:strings.Index(sample, "\r\n\r\n")+2],
		"From: Liste <4405.nantes-sud@hub.example>\r\nTo: nadia@exemple.fr\r\nSubject: s\r\n",
		"From: Nadia <nadia@Lists.Example>\r\nTo: a@b.example\r\nCc: c@d.example\r\nCc: e@f.example\r\n",
		"From: nadia@lists.example.\r\nSubject: unparsable From\r\n",
		"From: Liste\r\n <4405.nantes-sud@LISTS.example>\r\nTo: a@exemple.fr,\r\n\tb@exemple.fr\r\nSubject: une ligne\r\n \tpliée   deux fois\r\n",
		"From: a@lists.example\r\nFrom: b@hub.example\r\nSubject: two From\r\n",
		"Subject: no From\r\nTo: x@y.example\r\n",
		"from:   NADIA   <nadia@lists.example>  \r\nSUBJECT:x\r\ncc : y@z.example\nReply-To: r@s.example\r\nX-Other: z\r\n",
		"From: =?utf-8?q?Ren=C3=A9e?= <renee@lists.example>\r\nMessage-ID: <m@x>\r\nReferences: <a@b>\r\n <c@d>\r\nIn-Reply-To: <a@b>\r\n",
		"From: a@lists.example\r\n" + strings.Repeat("Cc: x@y.example\r\n", 12) + strings.Repeat("To: t@u.example\r\n", 3),
		"From: Liste <4405.nantes-sud@hub.example>\r\nTo: nadia@exemple.fr\r\nSubject: s\r\nList-Id: <a.b>\r\nList-Post: NO\r\nList-Help: <mailto:x>\r\nList-Subscribe: <mailto:y>\r\nList-Owner: <mailto:z>\r\nList-Archive: <https://a>\r\nList-Unsubscribe: <https://b>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nPrecedence: list\r\nX-Loop: l@hub.example\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\nSender: s@hub.example\r\nDate: d\r\n",
		"Not a field\r\n continued\r\nFrom: a@lists.example\r\n",
		"",
	}
	var out []string
	for _, h := range heads {
		out = append(out, h+body)
	}
	return out
}

// signAll signs every golden message, in turns that change the From from
// one message to the next and repeat it.
func signAll(t testing.TB, s *Signer) string {
	t.Helper()
	var b strings.Builder
	msgs := goldenMessages()
	for _, order := range [][]int{{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {2, 2, 4, 4, 1, 2, 3, 3, 0, 0, 12, 5}} {
		for _, i := range order {
			msg := []byte(msgs[i])
			body := NewBodyHash()
			body.Write(msg[BodyStart(msg):])
			sigs, err := s.Signatures(msg, body)
			fmt.Fprintf(&b, "=== message %d: %v\n%s", i, err, sigs)
		}
	}
	return b.String()
}

var update = flag.Bool("update", false, "rewrite testdata/signatures.golden")

// TestSignaturesGolden: the DKIM-Signature fields of the golden messages,
// with a fixed clock and signers that hash the digest, are byte for byte
// those in testdata/signatures.golden; from workers at once too.
func TestSignaturesGolden(t *testing.T) {
	defer func(f func() time.Time) { wallClock = f }(wallClock)
	wallClock = func() time.Time { return time.Unix(1796000000, 0) }
	got := signAll(t, fakeSigner())
	if *update {
		if err := os.WriteFile("testdata/signatures.golden", []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/signatures.golden")
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	s := fakeSigner()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 20 {
				if got := signAll(t, s); got != string(want) {
					t.Error("a worker's signatures differ")
					return
				}
			}
		})
	}
	wg.Wait()
	if !bytes.Contains(want, []byte("d=lists.example")) || !bytes.Contains(want, []byte("s=r2026")) {
		t.Fatal("the golden messages do not use both domains")
	}
}

// BenchmarkSignaturesNoCrypto: what Signatures costs a personal copy
// besides the signing itself (header reading, canonicalization, hashing,
// fields), with signers that cost nothing.
func BenchmarkSignaturesNoCrypto(b *testing.B) {
	s := fakeSigner()
	msg := []byte(goldenMessages()[10] + strings.Repeat("Une ligne de texte pour faire un message de taille ordinaire.\r\n", 30))
	at := BodyStart(msg)
	b.ReportAllocs()
	for b.Loop() {
		body := NewBodyHash()
		body.Write(msg[at:])
		if _, err := s.Signatures(msg, body); err != nil {
			b.Fatal(err)
		}
	}
}

// The From kept from the last copy never answers for another: values that
// differ by one byte, by folding, by case, or do not parse, each get their
// own domain, from several workers at once.
func TestFromDomainKeepsLast(t *testing.T) {
	s := fakeSigner()
	froms := []string{"From: a@lists.example\r\n", "From: a@lists.example.\r\n", "From: a@Lists.example\r\n",
		"From: Liste\r\n <a@hub.example>\r\n", "From: a@lists.exampl\r\n", "FROM: b@other.example\r\n", "To: a@b.example\r\n"}
	want := []string{"lists.example", "", "lists.example", "hub.example", "lists.exampl", "other.example", ""}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for n := range 3000 {
				i := (n/(w+1) + w) % len(froms)
				msg := []byte(froms[i] + "Subject: s\r\n\r\nbody\r\n")
				if got := s.fromDomain(rawheader.Fields(msg)); got != want[i] {
					t.Errorf("%q: %q, want %q", froms[i], got, want[i])
					return
				}
			}
		})
	}
	wg.Wait()
}
