package dkim

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
)

// Engines that make the RSA signatures (configuration dkim.rsa).
const (
	// EngineAuto signs with OpenSSL's libcrypto (libcrypto.so.3, opened
	// at run time) when it loads and passes a check, with Go's crypto/rsa
	// otherwise. The default.
	EngineAuto = "auto"
	// EngineOpenSSL signs with libcrypto, or refuses to start.
	EngineOpenSSL = "openssl"
	// EngineGo signs with Go's crypto/rsa, about a third as fast.
	EngineGo = "go"
)

// goRSA names the fallback in what Engine and RSAEngine say.
const goRSA = "Go crypto/rsa"

// RSAEngine says what signs RSA under EngineAuto on this machine:
// "OpenSSL 3.0.19 27 Jan 2026 (libcrypto.so.3)", or "Go crypto/rsa
// (libcrypto.so.3: …)" with the reason libcrypto is not used.
func RSAEngine() string {
	v, err := openSSL()
	if err != nil {
		return goRSA + " (libcrypto.so.3: " + err.Error() + ")"
	}
	return v + " (libcrypto.so.3)"
}

// ValidEngine says whether e names an engine.
func ValidEngine(e string) bool {
	return e == EngineAuto || e == EngineOpenSSL || e == EngineGo || e == ""
}

// rsaSigner returns what signs with priv under engine, and says what it
// is. A libcrypto signer is used only once a signature it made verifies
// with crypto/rsa.
func rsaSigner(priv *rsa.PrivateKey, engine string) (crypto.Signer, string, error) {
	if engine == EngineGo {
		return priv, goRSA, nil
	}
	s, err := newOpenSSLSigner(priv)
	if err == nil {
		err = selfTest(s, &priv.PublicKey)
	}
	if err != nil {
		if engine == EngineOpenSSL {
			return nil, "", fmt.Errorf("dkim: dkim.rsa = openssl: %w", err)
		}
		return priv, goRSA + " (libcrypto.so.3: " + err.Error() + ")", nil
	}
	v, _ := openSSL()
	return s, v + " (libcrypto.so.3)", nil
}

func selfTest(s crypto.Signer, pub *rsa.PublicKey) error {
	d := sha256.Sum256([]byte("relais: a signature made by libcrypto, checked by crypto/rsa"))
	sig, err := s.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		return err
	}
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig); err != nil {
		return fmt.Errorf("its signature does not verify: %w", err)
	}
	return nil
}

// SignsInC says whether RSA signatures under engine are made by libcrypto
// here (sign: the hub signs at all).
func SignsInC(sign bool, engine string) bool {
	switch engine {
	case EngineOpenSSL:
		return sign
	case EngineAuto, "":
		return sign && strings.HasPrefix(RSAEngine(), "OpenSSL")
	}
	return false
}

// Processors gives Go more processors (GOMAXPROCS) than the cores when
// libcrypto signs, unless GOMAXPROCS is set: twice the cores and one, of
// which the cores and one sign at once (Signers, the queue's bound on
// copies made and signed at once). It returns the cores, and whether it
// did.
//
// A goroutine waiting for a libcrypto signature (0.3 ms of RSA in C)
// keeps its processor, as in a system call, and Go's monitor takes it
// back when no other processor is idle (or goroutines are queued on it,
// which the yield in osslSigner.Sign mostly avoids), each time a switch of
// threads. With one per core, every core signing held every processor
// and the sessions waited; with one more, the cores' and one signing
// still held them all, and the monitor took one back several times a
// copy. With as many more as sign at once, a processor is left for the
// sessions and the relay client whatever signs: on a 10,000-member list
// on 2 cores, 3 → 5 processors, +2 to +3 % copies, intake no slower
// (bench/README.md). relais serve and the benchmarks that stand for it
// call it.
func Processors(sign bool, engine string) (cores int, done bool) {
	if n := signers.Load(); n > 0 { // called before: it is done
		return int(n) - 1, true
	}
	cores = runtime.GOMAXPROCS(0)
	if !SignsInC(sign, engine) || os.Getenv("GOMAXPROCS") != "" {
		return cores, false
	}
	signers.Store(int32(cores + 1))
	runtime.GOMAXPROCS(2*cores + 1)
	return cores, true
}

var signers atomic.Int32

// Signers is how many copies are made and signed at once, as Processors
// set it; 0 when it did not (then the queue takes one per processor).
func Signers() int { return int(signers.Load()) }
