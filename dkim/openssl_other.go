//go:build !cgo || !unix

package dkim

import (
	"crypto"
	"crypto/rsa"
	"errors"
)

// Without cgo there is no libcrypto: Go's crypto/rsa signs.
var errNoCgo = errors.New("built without cgo")

func openSSL() (string, error) { return "", errNoCgo }

func newOpenSSLSigner(*rsa.PrivateKey) (crypto.Signer, error) { return nil, errNoCgo }

// SigningThreads does nothing without libcrypto: see openssl.go.
func SigningThreads(int) int { return 0 }
