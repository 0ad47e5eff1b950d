//go:build cgo && unix

package dkim

// RSA signatures through OpenSSL's libcrypto, opened at run time.
//
// Go's crypto/rsa makes about 1,060 RSA-2048 signatures a second per core
// on the development machine, OpenSSL 3 about 3,000: a list sends each
// member a copy signed for them, and RSA was half of the time of a
// fan-out. libcrypto.so.3 is on every Debian (package libssl3, which
// openssh and curl depend on), but its headers are not (libssl-dev): the
// few functions needed are declared here and looked up with dlopen, so the
// build needs nothing but gcc and the C library, and a machine without the
// library signs with crypto/rsa (see engine.go).
//
// The OpenSSL 3 interfaces used (EVP_PKEY_sign(3), d2i_PrivateKey(3),
// EVP_PKEY_CTX_set_rsa_padding(3), EVP_PKEY_CTX_set_signature_md(3)) are
// declared with opaque pointer types: the program never looks inside
// OpenSSL's structures.

/*
#cgo LDFLAGS: -ldl
#ifdef __linux__
#define _GNU_SOURCE // pthread_setname_np
#endif
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/resource.h>
#ifdef __linux__
#include <sys/syscall.h>
#include <unistd.h>
#endif

typedef struct relais_pkey relais_pkey;         // EVP_PKEY
typedef struct relais_pkey_ctx relais_pkey_ctx; // EVP_PKEY_CTX
typedef struct relais_md relais_md;             // EVP_MD

static relais_pkey *(*p_d2i_AutoPrivateKey)(relais_pkey **, const unsigned char **, long);
static void (*p_EVP_PKEY_free)(relais_pkey *);
static relais_pkey_ctx *(*p_EVP_PKEY_CTX_new)(relais_pkey *, void *);
static void (*p_EVP_PKEY_CTX_free)(relais_pkey_ctx *);
static int (*p_EVP_PKEY_sign_init)(relais_pkey_ctx *);
static int (*p_EVP_PKEY_CTX_set_rsa_padding)(relais_pkey_ctx *, int);
static int (*p_EVP_PKEY_CTX_set_signature_md)(relais_pkey_ctx *, const relais_md *);
static const relais_md *(*p_EVP_sha256)(void);
static int (*p_EVP_PKEY_sign)(relais_pkey_ctx *, unsigned char *, size_t *, const unsigned char *, size_t);
static unsigned long (*p_ERR_get_error)(void);
static void (*p_ERR_error_string_n)(unsigned long, char *, size_t);
static void (*p_ERR_clear_error)(void);
static const char *(*p_OpenSSL_version)(int);

// relais_ossl_open opens libcrypto.so.3 and finds each function; it
// returns NULL, or what went wrong.
static const char *relais_ossl_open(void) {
	void *h = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		return dlerror();
	}
#define RELAIS_SYM(name) \
	if ((*(void **)(&p_##name) = dlsym(h, #name)) == NULL) { \
		return "libcrypto.so.3 has no " #name; \
	}
	RELAIS_SYM(d2i_AutoPrivateKey)
	RELAIS_SYM(EVP_PKEY_free)
	RELAIS_SYM(EVP_PKEY_CTX_new)
	RELAIS_SYM(EVP_PKEY_CTX_free)
	RELAIS_SYM(EVP_PKEY_sign_init)
	RELAIS_SYM(EVP_PKEY_CTX_set_rsa_padding)
	RELAIS_SYM(EVP_PKEY_CTX_set_signature_md)
	RELAIS_SYM(EVP_sha256)
	RELAIS_SYM(EVP_PKEY_sign)
	RELAIS_SYM(ERR_get_error)
	RELAIS_SYM(ERR_error_string_n)
	RELAIS_SYM(ERR_clear_error)
	RELAIS_SYM(OpenSSL_version)
#undef RELAIS_SYM
	return NULL;
}

static const char *relais_ossl_version(void) {
	return p_OpenSSL_version(0); // OPENSSL_VERSION
}

// relais_ossl_error takes the oldest error of this thread's queue as
// text, and empties the queue.
static void relais_ossl_error(char *buf, size_t n) {
	unsigned long e = p_ERR_get_error();
	buf[0] = 0;
	if (e != 0) {
		p_ERR_error_string_n(e, buf, n);
	}
	p_ERR_clear_error();
}

// relais_ossl_key reads a private key, DER (PKCS #1 or PKCS #8).
static relais_pkey *relais_ossl_key(const unsigned char *der, long n) {
	return p_d2i_AutoPrivateKey(NULL, &der, n);
}

static void relais_ossl_key_free(relais_pkey *k) {
	p_EVP_PKEY_free(k);
}

// relais_ossl_ctx makes a signing context: PKCS #1 v1.5, SHA-256
// (RFC 8017 §8.2, as rsa-sha256 in RFC 6376 §3.3.1).
static relais_pkey_ctx *relais_ossl_ctx(relais_pkey *k) {
	relais_pkey_ctx *c = p_EVP_PKEY_CTX_new(k, NULL);
	if (c == NULL) {
		return NULL;
	}
	if (p_EVP_PKEY_sign_init(c) != 1 ||
	    p_EVP_PKEY_CTX_set_rsa_padding(c, 1) != 1 || // RSA_PKCS1_PADDING
	    p_EVP_PKEY_CTX_set_signature_md(c, p_EVP_sha256()) != 1) {
		p_EVP_PKEY_CTX_free(c);
		return NULL;
	}
	return c;
}

static void relais_ossl_ctx_free(relais_pkey_ctx *c) {
	p_EVP_PKEY_CTX_free(c);
}

// The signing threads: RSA signatures are made by threads of their own,
// started in C (Go never schedules anything on them), at a lower priority
// than the rest of the process. See signing threads in the Go part.

// relais_job is one signature, on the stack of the thread that asks.
typedef struct relais_job {
	relais_pkey_ctx *c;
	unsigned char digest[32];
	unsigned char *sig; // buf, or the caller's buffer when it signs itself
	size_t n;
	unsigned char buf[1024]; // up to RSA-8192
	int ok, done;
	char err[256];
	pthread_cond_t cv;
	struct relais_job *next;
} relais_job;

static pthread_mutex_t relais_pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t relais_pool_cv = PTHREAD_COND_INITIALIZER;
static relais_job *relais_pool_head, *relais_pool_tail;
static int relais_pool_threads; // running; none: the caller signs
static int relais_pool_incr;    // added to each thread's nice value
static int relais_pool_ready;   // threads named and at their priority
static pthread_cond_t relais_pool_readycv = PTHREAD_COND_INITIALIZER;

// relais_sign_job makes j's signature on this thread; an error is taken
// from this thread's error queue.
static void relais_sign_job(relais_job *j) {
	j->err[0] = 0;
	j->ok = p_EVP_PKEY_sign(j->c, j->sig, &j->n, j->digest, 32);
	if (j->ok != 1) {
		relais_ossl_error(j->err, sizeof j->err);
	}
}

static void *relais_signer(void *arg) {
	(void)arg;
#ifdef __linux__
	// A nice value is a thread's own on Linux (setpriority(2) with a
	// thread id): the rest of the process keeps its priority. Raising it
	// needs no privilege; if it fails the thread signs at the process's.
	pthread_setname_np(pthread_self(), "relais-sign");
	pid_t tid = (pid_t)syscall(SYS_gettid);
	errno = 0;
	int nice = getpriority(PRIO_PROCESS, (id_t)tid);
	if (errno == 0) {
		nice += relais_pool_incr;
		setpriority(PRIO_PROCESS, (id_t)tid, nice > 19 ? 19 : nice);
	}
#endif
	pthread_mutex_lock(&relais_pool_mu);
	relais_pool_ready++;
	pthread_cond_broadcast(&relais_pool_readycv);
	pthread_mutex_unlock(&relais_pool_mu);
	for (;;) {
		pthread_mutex_lock(&relais_pool_mu);
		while (relais_pool_head == NULL) {
			pthread_cond_wait(&relais_pool_cv, &relais_pool_mu);
		}
		relais_job *j = relais_pool_head;
		relais_pool_head = j->next;
		if (relais_pool_head == NULL) {
			relais_pool_tail = NULL;
		}
		pthread_mutex_unlock(&relais_pool_mu);
		relais_sign_job(j);
		pthread_mutex_lock(&relais_pool_mu);
		j->done = 1;
		pthread_cond_signal(&j->cv);
		pthread_mutex_unlock(&relais_pool_mu);
	}
	return NULL;
}

// relais_pool_start starts n signing threads at nice + incr; it returns
// how many run. They start with every signal blocked: the process's
// signals are Go's to take, on Go's threads.
static int relais_pool_start(int n, int incr) {
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	relais_pool_incr = incr;
	int started = 0;
	for (int i = 0; i < n; i++) {
		pthread_t t;
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &a, relais_signer, NULL) == 0) {
			started++;
		}
		pthread_attr_destroy(&a);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	// Each thread has its name and priority before any signature is
	// handed to it, and before this returns.
	pthread_mutex_lock(&relais_pool_mu);
	while (relais_pool_ready < started) {
		pthread_cond_wait(&relais_pool_readycv, &relais_pool_mu);
	}
	pthread_mutex_unlock(&relais_pool_mu);
	__atomic_store_n(&relais_pool_threads, started, __ATOMIC_RELEASE);
	return started;
}

// relais_ossl_sign signs a SHA-256 digest into sig (*n bytes at most, set
// to the signature's length) on a signing thread, or on this one when
// none runs; it returns 1 on success, or 0 and what failed in err. The
// calling thread waits in C, so Go's scheduler counts it as in a system
// call and gives its processor to other goroutines.
static int relais_ossl_sign(relais_pkey_ctx *c, const unsigned char *digest, unsigned char *sig, size_t *n, char *err, size_t errn) {
	relais_job j;
	j.c = c;
	memcpy(j.digest, digest, 32);
	// Without signing threads, or for a signature larger than buf (a key
	// of more than 8192 bits), the signature is made on this thread,
	// straight into sig.
	int pooled = __atomic_load_n(&relais_pool_threads, __ATOMIC_ACQUIRE) > 0 && *n <= sizeof j.buf;
	j.sig = pooled ? j.buf : sig;
	j.n = *n;
	j.done = 0;
	j.next = NULL;
	if (!pooled) {
		relais_sign_job(&j);
	} else {
		pthread_mutex_lock(&relais_pool_mu);
		pthread_cond_init(&j.cv, NULL);
		if (relais_pool_tail != NULL) {
			relais_pool_tail->next = &j;
		} else {
			relais_pool_head = &j;
		}
		relais_pool_tail = &j;
		pthread_cond_signal(&relais_pool_cv);
		while (!j.done) {
			pthread_cond_wait(&j.cv, &relais_pool_mu);
		}
		pthread_mutex_unlock(&relais_pool_mu);
		pthread_cond_destroy(&j.cv);
	}
	if (j.ok == 1) {
		if (j.sig != sig) {
			memcpy(sig, j.sig, j.n);
		}
		*n = j.n;
	} else if (errn > 0) {
		strncpy(err, j.err, errn - 1);
		err[errn - 1] = 0;
	}
	return j.ok;
}
*/
import "C"

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"unsafe"
)

var (
	osslOnce    sync.Once
	osslVersion string
	osslErr     error
)

// openSSL opens libcrypto once; it returns OpenSSL's version, or why it
// cannot be used.
func openSSL() (string, error) {
	osslOnce.Do(func() {
		if msg := C.relais_ossl_open(); msg != nil {
			osslErr = errors.New(C.GoString(msg))
			return
		}
		osslVersion = C.GoString(C.relais_ossl_version())
	})
	return osslVersion, osslErr
}

func osslError(op string) error {
	var buf [256]C.char
	C.relais_ossl_error(&buf[0], C.size_t(len(buf)))
	if msg := C.GoString(&buf[0]); msg != "" {
		return fmt.Errorf("openssl: %s: %s", op, msg)
	}
	return fmt.Errorf("openssl: %s failed", op)
}

// osslKey is an RSA private key held by libcrypto, with signing contexts
// kept for reuse (one per signature under way; making one costs a lookup
// of the algorithm in OpenSSL's provider tables).
type osslKey struct {
	pkey *C.relais_pkey
	mu   sync.Mutex
	ctxs []*C.relais_pkey_ctx
}

func (k *osslKey) free() {
	for _, c := range k.ctxs {
		C.relais_ossl_ctx_free(c)
	}
	C.relais_ossl_key_free(k.pkey)
}

func (k *osslKey) get() (*C.relais_pkey_ctx, error) {
	k.mu.Lock()
	if n := len(k.ctxs); n > 0 {
		c := k.ctxs[n-1]
		k.ctxs = k.ctxs[:n-1]
		k.mu.Unlock()
		return c, nil
	}
	k.mu.Unlock()
	runtime.LockOSThread() // the error, if any, is in this thread's queue
	defer runtime.UnlockOSThread()
	c := C.relais_ossl_ctx(k.pkey)
	if c == nil {
		return nil, osslError("signing context")
	}
	return c, nil
}

// maxIdleCtx bounds the contexts kept: more than the signatures made at
// once is waste.
const maxIdleCtx = 64

func (k *osslKey) put(c *C.relais_pkey_ctx) {
	k.mu.Lock()
	if len(k.ctxs) < maxIdleCtx {
		k.ctxs = append(k.ctxs, c)
		c = nil
	}
	k.mu.Unlock()
	if c != nil {
		C.relais_ossl_ctx_free(c)
	}
}

// newOSSLKey hands a private key to libcrypto, DER (PKCS #1 or PKCS #8).
func newOSSLKey(der []byte) (*osslKey, error) {
	runtime.LockOSThread() // the error, if any, is in this thread's queue
	defer runtime.UnlockOSThread()
	pkey := C.relais_ossl_key((*C.uchar)(unsafe.Pointer(&der[0])), C.long(len(der)))
	if pkey == nil {
		return nil, osslError("read key")
	}
	return &osslKey{pkey: pkey}, nil
}

// osslSigner is a crypto.Signer for PKCS #1 v1.5 signatures of SHA-256
// digests made by libcrypto.
type osslSigner struct {
	pub *rsa.PublicKey
	key *osslKey
}

// newOpenSSLSigner hands priv to libcrypto. The signer checks its first
// signature with crypto/rsa before it is used.
func newOpenSSLSigner(priv *rsa.PrivateKey) (crypto.Signer, error) {
	if _, err := openSSL(); err != nil {
		return nil, err
	}
	der := x509.MarshalPKCS1PrivateKey(priv)
	k, err := newOSSLKey(der)
	clear(der)
	if err != nil {
		return nil, err
	}
	s := &osslSigner{pub: &priv.PublicKey, key: k}
	runtime.AddCleanup(s, func(k *osslKey) { k.free() }, k)
	return s, nil
}

func (s *osslSigner) Public() crypto.PublicKey { return s.pub }

// Sign signs digest, a SHA-256 hash, with PKCS #1 v1.5 padding.
func (s *osslSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts == nil || opts.HashFunc() != crypto.SHA256 || len(digest) != 32 {
		return nil, errors.New("openssl: only PKCS #1 v1.5 signatures of SHA-256 digests")
	}
	if _, pss := opts.(*rsa.PSSOptions); pss {
		return nil, errors.New("openssl: no PSS signatures")
	}
	c, err := s.key.get()
	if err != nil {
		return nil, err
	}
	// One allocation: the signature, then room for what failed.
	buf := make([]byte, s.pub.Size()+256)
	sig, msg := buf[:s.pub.Size()], buf[s.pub.Size():]
	n := C.size_t(len(sig))
	// The goroutines queued on this processor usually run first. While
	// this thread is in C (0.3 ms of RSA, longer with signing threads) the
	// processor stays with it, as in a system call, and Go's monitor takes
	// it back after 20-40 µs if goroutines are queued on it, or if no
	// processor is idle (see Processors): another thread woken, and the
	// monitor checking every 20 µs again. The yield helps the first case.
	// On a 10,000-member list: the monitor's thread switches 7,600 → 5,600
	// in 2.5 s, copies +3.8 % (ten alternated pairs, bench/README.md).
	runtime.Gosched()
	ok := C.relais_ossl_sign(c, (*C.uchar)(unsafe.Pointer(&digest[0])), (*C.uchar)(unsafe.Pointer(&sig[0])), &n, (*C.char)(unsafe.Pointer(&msg[0])), C.size_t(len(msg)))
	if ok != 1 {
		err := errors.New("openssl: sign failed")
		if m, _, _ := bytes.Cut(msg, []byte{0}); len(m) > 0 {
			err = fmt.Errorf("openssl: sign: %s", m)
		}
		C.relais_ossl_ctx_free(c)
		return nil, err
	}
	s.key.put(c)
	runtime.KeepAlive(s)
	return sig[:n], nil
}

// SigningThreads moves libcrypto's RSA signatures, from now on, to
// threads of their own started in C, one per core, which on Linux run at
// the process's nice value + nice (at most 19; setpriority(2) on each
// thread's id, so the rest of the process keeps its priority). It returns
// how many threads run: none without libcrypto, or when they could not
// start, and then each signature is made on the thread that asks, as
// without this call. Only the first call does anything.
//
// What it is for (dkim.signing_nice): a signature is 0.3 ms of C, the
// larger part of what a copy costs. At nice 10, when SMTP sessions and a
// fan-out want the cores at once, Linux's fair scheduler gives the
// signatures a tenth of the weight of the sessions, and all the cores when
// the sessions are quiet: mail is taken in first and its copies are never
// starved. The threads show as "relais-sign" in top -H and
// /proc/PID/task/*/comm. bench/README.md has what it changes.
func SigningThreads(nice int) int {
	signingOnce.Do(func() {
		if _, err := openSSL(); err != nil || nice < 0 {
			return
		}
		signingRunning = int(C.relais_pool_start(C.int(runtime.NumCPU()), C.int(nice)))
	})
	return signingRunning
}

var (
	signingOnce    sync.Once
	signingRunning int
)
