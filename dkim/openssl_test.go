//go:build cgo && unix

package dkim

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"strings"
	"sync"
	"testing"
)

// A libcrypto signature is the one crypto/rsa makes (PKCS #1 v1.5 is
// deterministic), from any number of goroutines at once.
func TestOpenSSLMatchesGo(t *testing.T) {
	if _, err := openSSL(); err != nil {
		t.Skipf("no libcrypto here: %v", err)
	}
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	o, made, err := rsaSigner(priv, EngineOpenSSL)
	if err != nil || !strings.HasPrefix(made, "OpenSSL 3") {
		t.Fatalf("%v %q", err, made)
	}
	if _, ok := o.(*osslSigner); !ok {
		t.Fatalf("signer %T", o)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				d := sha256.Sum256([]byte{byte(g), byte(i)})
				a, err := o.Sign(rand.Reader, d[:], crypto.SHA256)
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := priv.Sign(rand.Reader, d[:], crypto.SHA256)
				if !bytes.Equal(a, b) {
					t.Errorf("libcrypto and crypto/rsa differ on digest %x", d)
				}
			}
		}()
	}
	wg.Wait()
	d := sha256.Sum256(nil)
	if _, err := o.Sign(rand.Reader, d[:], &rsa.PSSOptions{Hash: crypto.SHA256}); err == nil {
		t.Error("PSS accepted")
	}
	if _, err := o.Sign(rand.Reader, d[:20], crypto.SHA1); err == nil {
		t.Error("SHA-1 accepted")
	}
	if g, made, _ := rsaSigner(priv, EngineGo); g != crypto.Signer(priv) || made != goRSA {
		t.Errorf("engine go: %T %q", g, made)
	}
}
