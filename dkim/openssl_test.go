//go:build cgo && unix

package dkim

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
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

// With SigningThreads(10), libcrypto's signatures are made by threads of
// their own, one per core, named relais-sign, at the process's nice + 10:
// the goroutines that ask, and every other thread, keep theirs. Many
// goroutines with two keys at once each get their own signature back.
func TestSigningThreads(t *testing.T) {
	if _, err := openSSL(); err != nil {
		t.Skipf("no libcrypto here: %v", err)
	}
	if n := SigningThreads(10); n != runtime.NumCPU() {
		t.Fatalf("%d signing threads, want %d", n, runtime.NumCPU())
	}
	if n := SigningThreads(3); n != runtime.NumCPU() { // the first call decides
		t.Fatalf("a second call: %d", n)
	}
	keys := make([]*rsa.PrivateKey, 2)
	signers := make([]crypto.Signer, 2)
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		s, _, err := rsaSigner(k, EngineOpenSSL)
		if err != nil {
			t.Fatal(err)
		}
		keys[i], signers[i] = k, s
	}
	before := signingTicks(t) // the threads run: rsaSigner signed once
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				k := (g + i) % 2
				d := sha256.Sum256([]byte{byte(g), byte(i), byte(k)})
				sig, err := signers[k].Sign(rand.Reader, d[:], crypto.SHA256)
				if err != nil {
					t.Error(err)
					return
				}
				if err := rsa.VerifyPKCS1v15(&keys[k].PublicKey, crypto.SHA256, d[:], sig); err != nil {
					t.Errorf("goroutine %d, signature %d, key %d: %v", g, i, k, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if runtime.GOOS != "linux" {
		return
	}
	// 400 signatures are 0.1 s of CPU or more: they were made by the
	// signing threads, not by the threads that asked.
	if ticks := signingTicks(t) - before; ticks < 2 {
		t.Errorf("the signing threads ran %d clock ticks for 400 signatures", ticks)
	}
	own := niceOf(t, "self")
	want := min(own+10, 19)
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	var signing, others int
	for _, task := range tasks {
		comm, err := os.ReadFile("/proc/self/task/" + task.Name() + "/comm")
		if err != nil {
			continue // the thread ended
		}
		f := statOf(t, "self/task/"+task.Name())
		if f == nil {
			continue // the thread ended
		}
		n := atoi(t, f[16])
		if strings.TrimSpace(string(comm)) == "relais-sign" {
			signing++
			if n != want {
				t.Errorf("signing thread %s at nice %d, want %d", task.Name(), n, want)
			}
		} else if others++; n != own {
			t.Errorf("thread %s (%s) at nice %d, want the process's %d", task.Name(), strings.TrimSpace(string(comm)), n, own)
		}
	}
	if signing != runtime.NumCPU() || others == 0 {
		t.Errorf("%d signing threads (want %d), %d others", signing, runtime.NumCPU(), others)
	}
}

// niceOf reads the nice value of /proc/P/stat (field 19).
func niceOf(t *testing.T, p string) int {
	t.Helper()
	f := statOf(t, p)
	if f == nil {
		t.Fatalf("/proc/%s/stat: gone", p)
	}
	return atoi(t, f[16])
}

// signingTicks adds the CPU time, in clock ticks, of the relais-sign
// threads (fields 14 and 15 of their stat); 0 off Linux.
func signingTicks(t *testing.T) int {
	t.Helper()
	if runtime.GOOS != "linux" {
		return 0
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	ticks := 0
	for _, task := range tasks {
		comm, err := os.ReadFile("/proc/self/task/" + task.Name() + "/comm")
		if err != nil || strings.TrimSpace(string(comm)) != "relais-sign" {
			continue
		}
		if f := statOf(t, "self/task/"+task.Name()); f != nil {
			ticks += atoi(t, f[11]) + atoi(t, f[12])
		}
	}
	return ticks
}

// statOf returns the fields of /proc/P/stat from the third on (f[0] is
// field 3), or nil when P has ended.
func statOf(t *testing.T, p string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + p + "/stat")
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
		return nil
	} else if err != nil {
		t.Fatal(err)
	}
	rest := b[bytes.LastIndexByte(b, ')')+1:] // after the command's name
	return strings.Fields(string(rest))
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A key of more than 8192 bits (a signature of more than 1,024 bytes)
// signs with libcrypto as a smaller one does. testdata/rsa8200.pem was
// made once with openssl genpkey (rsa_keygen_bits:8200): generating one
// here would take seconds.
func TestOpenSSLLargeKey(t *testing.T) {
	if _, err := openSSL(); err != nil {
		t.Skipf("no libcrypto here: %v", err)
	}
	b, err := os.ReadFile("testdata/rsa8200.pem")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatal("testdata/rsa8200.pem: not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	priv := k.(*rsa.PrivateKey)
	if priv.Size() <= 1024 {
		t.Fatalf("key of %d bytes", priv.Size())
	}
	s, made, err := rsaSigner(priv, EngineOpenSSL)
	if err != nil {
		t.Fatalf("%v %q", err, made)
	}
	d := sha256.Sum256([]byte("large"))
	sig, err := s.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPKCS1v15(&priv.PublicKey, crypto.SHA256, d[:], sig); err != nil {
		t.Error(err)
	}
}

// Processors gives Go 2×cores+1 processors, cores+1 signing at once, and
// only once: called again, it keeps what it set.
func TestProcessorsOnce(t *testing.T) {
	if !SignsInC(true, EngineAuto) {
		t.Skipf("SKIP: libcrypto does not sign here (%s)", RSAEngine())
	}
	if v := os.Getenv("GOMAXPROCS"); v != "" {
		t.Skipf("SKIP: GOMAXPROCS=%s is set", v)
	}
	before := runtime.GOMAXPROCS(0)
	t.Cleanup(func() {
		runtime.GOMAXPROCS(before)
		signers.Store(0)
	})
	for range 2 {
		cores, ok := Processors(true, EngineAuto)
		if !ok || cores != before || runtime.GOMAXPROCS(0) != 2*before+1 || Signers() != before+1 {
			t.Fatalf("cores %d %v, GOMAXPROCS %d, signing %d; want %d, %d, %d", cores, ok, runtime.GOMAXPROCS(0), Signers(), before, 2*before+1, before+1)
		}
	}
}
