//go:build cgo && unix

package dkim

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/x509"
	"strings"
	"sync"
	"testing"
)

// A signing context libcrypto cannot make (an X25519 key does not sign)
// is reported with libcrypto's reason, taken from the queue of the thread
// that failed, from any number of goroutines at once.
func TestOpenSSLContextError(t *testing.T) {
	if _, err := openSSL(); err != nil {
		t.Skipf("no libcrypto here: %v", err)
	}
	x, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(x)
	if err != nil {
		t.Fatal(err)
	}
	k, err := newOSSLKey(der)
	if err != nil {
		t.Fatal(err)
	}
	defer k.free()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				if _, err := k.get(); err == nil || !strings.HasPrefix(err.Error(), "openssl: signing context: error:") {
					t.Errorf("get: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
