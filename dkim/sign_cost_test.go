package dkim

import (
	"bytes"
	"strings"
	"testing"
	"time"

	gdkim "github.com/emersion/go-msgauth/dkim"

	"codeberg.org/relais/relais/internal/dkimcheck"
)

// TestSignManyFields: the signer named in h= each occurrence of a signed
// field, and go-msgauth finds each name's next occurrence by scanning the
// header from its end: a header of n signed fields (100 KB hold 17,000
// "Cc:x") cost n² at each signature, once per member of a list (the copies
// are personal); 8,000 fields took 0.8 s a signature, 64 times 1,000.
// Only the last fields of each name are signed, and the signatures hold.
func TestSignManyFields(t *testing.T) {
	dir := t.TempDir()
	if _, err := Generate(dir, "hub.example", time.Now()); err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(dir, "hub.example", nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := "From: nadia@exemple.fr\r\n" + strings.Repeat("Cc:x\r\n", 17000) + "Cc: last@exemple.fr\r\nSubject: s\r\n\r\nbody\r\n"
	signed, err := s.Sign([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	sigs := string(signed[:len(signed)-len(msg)])
	if n := strings.Count(strings.ToLower(sigs), "cc:"); n > 2*maxSignedEach {
		t.Errorf("h= names Cc %d times in two signatures", n)
	}
	recs := records(t, dir)
	verify := func(m []byte) []*gdkim.Verification {
		vs, err := gdkim.VerifyWithOptions(bytes.NewReader(m), &gdkim.VerifyOptions{
			LookupTXT: func(name string) ([]string, error) { return []string{recs[name]}, nil },
		})
		if err != nil || len(vs) != 2 {
			t.Fatalf("verify: %v %d", err, len(vs))
		}
		return vs
	}
	for _, v := range verify(signed) {
		if v.Err != nil {
			t.Errorf("go-msgauth: %v", v.Err)
		}
	}
	dkimcheck.Require(t, signed, recs, "hub.example", "rsa-sha256", "ed25519-sha256") // dkimpy agrees
	// The last Cc, the one readers show, is signed.
	for _, v := range verify(bytes.Replace(signed, []byte("last@"), []byte("lost@"), 1)) {
		if v.Err == nil {
			t.Error("the last Cc altered, a signature still holds")
		}
	}
}
