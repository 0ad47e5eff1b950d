package dkim

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	gdkim "github.com/emersion/go-msgauth/dkim"

	"codeberg.org/relais/relais/internal/dkimcheck"
)

// msgauthBodyHash is go-msgauth's bh= for body, the reference BodyHash
// must agree with.
func msgauthBodyHash(t testing.TB, body []byte) string {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(nil)
	var out bytes.Buffer
	msg := append([]byte("From: a@hub.example\r\n\r\n"), body...)
	err := gdkim.Sign(&out, bytes.NewReader(msg), &gdkim.SignOptions{Domain: "hub.example", Selector: "s", Signer: priv,
		HeaderCanonicalization: gdkim.CanonicalizationRelaxed, BodyCanonicalization: gdkim.CanonicalizationRelaxed})
	if err != nil {
		t.Fatal(err)
	}
	sig := strings.Join(strings.Fields(out.String()[:bytes.Index(out.Bytes(), []byte("From: a@"))]), "")
	_, bh, _ := strings.Cut(sig, "bh=")
	bh, _, _ = strings.Cut(bh, ";")
	return bh
}

func ourBodyHash(body []byte, split ...int) string {
	b := NewBodyHash()
	last := 0
	for _, at := range split {
		if at > last && at <= len(body) {
			b.Write(body[last:at])
			b = b.Clone() // the shared prefix, then each copy's own end
			last = at
		}
	}
	b.Write(body[last:])
	return base64.StdEncoding.EncodeToString(b.Sum())
}

var bodies = []string{
	"",
	"\r\n",
	"\r\n\r\n\r\n",
	"a",
	"a\r\n",
	"a\r\n\r\n\r\n",
	"  a  b\t\tc \t \r\n  \r\n\td\r\n",
	"line\nbare LF\n\nand CR\r alone\r",
	"trailing spaces   \r\n\t\r\n \r\n",
	"Bonjour à toutes et tous,\r\nréunion samedi.\r\n-- \r\nVous recevez ce message\r\n",
	".dot\r\n..two\r\n.\r\n",
	"x\r\r\n y\n\r z",
}

// The body hash is go-msgauth's, written in one piece or in several (the
// shared beginning of a post, then a member's footer).
func TestBodyHashAsGoMsgauth(t *testing.T) {
	for _, body := range bodies {
		want := msgauthBodyHash(t, []byte(body))
		for split := 0; split <= len(body); split++ {
			if got := ourBodyHash([]byte(body), split); got != want {
				t.Errorf("%q split at %d: %s, go-msgauth %s", body, split, got, want)
			}
		}
	}
}

func FuzzBodyHash(f *testing.F) {
	for _, b := range bodies {
		f.Add([]byte(b), 3, 7)
	}
	f.Fuzz(func(t *testing.T, body []byte, s1, s2 int) {
		if s1 < 0 || s2 < 0 {
			return
		}
		if got, want := ourBodyHash(body, s1, s1+s2), msgauthBodyHash(t, body); got != want {
			t.Fatalf("%q: %s, go-msgauth %s", body, got, want)
		}
	})
}

// Every engine's signatures verify with go-msgauth and dkimpy, on the
// sample, on folded fields, oversigned ones and odd line ends.
func TestSignEngines(t *testing.T) {
	dir := t.TempDir()
	if _, err := Generate(dir, "hub.example", time.Now()); err != nil {
		t.Fatal(err)
	}
	recs := records(t, dir)
	msgs := []string{
		sample,
		"From: Liste\r\n <4405.nantes-sud@hub.example>\r\nTo: a@exemple.fr,\r\n\tb@exemple.fr\r\nCc: x\r\nCc:  y \r\n" +
			"Subject:  une ligne\r\n \tpliée   deux fois\r\nX-Other: not signed\r\n\r\n  Bonjour.  \r\n\r\n\r\n",
		"From: a@exemple.fr\nSubject: LF only\n\nbody\nwith LF\n",
		"From: a@hub.example\r\nSubject: no body\r\n\r\n",
	}
	for _, engine := range []string{EngineGo, EngineAuto} {
		s, err := NewSignerWith(dir, "hub.example", nil, engine)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %s", engine, s.Engine())
		if engine == EngineAuto && !strings.HasPrefix(s.Engine(), "OpenSSL") {
			t.Logf("libcrypto not used here (%s): the auto path signs as the go one", s.Engine())
		}
		for _, m := range msgs {
			signed, err := s.Sign([]byte(m))
			if err != nil {
				t.Fatal(err)
			}
			vs, err := gdkim.VerifyWithOptions(bytes.NewReader(signed), &gdkim.VerifyOptions{
				LookupTXT: func(name string) ([]string, error) { return []string{recs[name]}, nil },
			})
			if err != nil || len(vs) != 2 {
				t.Fatalf("%s: verify: %v %d", engine, err, len(vs))
			}
			for _, v := range vs {
				if v.Err != nil {
					t.Errorf("%s: go-msgauth: %v\n%s", engine, v.Err, signed)
				}
			}
			if strings.Contains(m, "\n\n") && !strings.Contains(m, "\r\n\r\n") {
				continue // dkimpy reads bare LF otherwise than go-msgauth
			}
			dkimcheck.Require(t, signed, recs, "hub.example", "rsa-sha256", "ed25519-sha256")
		}
	}
}

// BenchmarkBodyHash: a 25 KB digest's body, the part of signing each
// personal copy pays for its own bytes.
func BenchmarkBodyHash(b *testing.B) {
	body := []byte(strings.Repeat("* Samedi 28 novembre à 14 h 30 : Réunion publique, Salle des fêtes  \r\n", 350))
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		h := NewBodyHash()
		h.Write(body)
		h.Sum()
	}
}
