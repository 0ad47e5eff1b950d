package dkim

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gdkim "github.com/emersion/go-msgauth/dkim"

	"codeberg.org/relais/relais/internal/dkimcheck"
)

const sample = "From: Liste <4405.nantes-sud@hub.example>\r\n" +
	"To: nadia@exemple.fr\r\n" +
	"Subject: =?utf-8?q?R=C3=A9union?=\r\n" +
	"Date: Sat, 21 Nov 2026 10:00:00 +0100\r\n" +
	"Message-ID: <abc@hub.example>\r\n" +
	"List-Unsubscribe: <https://hub.example/u/x>\r\n" +
	"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"Bonjour à toutes et tous,\r\n" +
	"réunion samedi.\r\n"

func records(t *testing.T, dir string) map[string]string {
	t.Helper()
	keys, err := Keys(dir)
	if err != nil {
		t.Fatal(err)
	}
	recs := map[string]string{}
	for _, k := range keys {
		recs[k.Name()] = k.Record()
	}
	return recs
}

func TestSignBothAlgorithms(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	keys, err := Generate(dir, "hub.example", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Selector != "rsa-20261121" || keys[1].Selector != "ed-20261121" || !keys[0].Active {
		t.Fatalf("keys %+v", keys)
	}
	for _, k := range keys {
		fi, err := os.Stat(filepath.Join(dir, "hub.example", k.Selector+".pem"))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v %v, want 0600", k.Selector, fi.Mode().Perm(), err)
		}
	}
	if fi, _ := os.Stat(filepath.Join(dir, "hub.example")); fi.Mode().Perm() != 0o700 {
		t.Errorf("key folder mode %v, want 0700", fi.Mode().Perm())
	}
	s, err := NewSigner(dir, "hub.example", nil)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := s.Sign([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(signed, []byte(sample)) {
		t.Fatal("the message itself changed")
	}
	recs := records(t, dir)
	// go-msgauth's own verifier, then an independent one (dkimpy).
	vs, err := gdkim.VerifyWithOptions(bytes.NewReader(signed), &gdkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) { return []string{recs[name]}, nil },
	})
	if err != nil || len(vs) != 2 {
		t.Fatalf("verify: %v %d", err, len(vs))
	}
	for _, v := range vs {
		if v.Err != nil || v.Domain != "hub.example" {
			t.Errorf("go-msgauth: %+v", v)
		}
	}
	dkimcheck.Require(t, signed, recs, "hub.example", "rsa-sha256", "ed25519-sha256")

	// Relaxed/relaxed, and the fields that matter oversigned: one more
	// From or List-Unsubscribe added below breaks both signatures.
	hdr := string(signed[:bytes.Index(signed, []byte("\r\n\r\n"))])
	for _, want := range []string{"c=relaxed/relaxed", "h=From:From:", "List-Unsubscribe:List-Unsubscribe:", "Subject:Subject:"} {
		if !strings.Contains(strings.Join(strings.Fields(hdr), ""), strings.ReplaceAll(want, " ", "")) {
			t.Errorf("signature lacks %q:\n%s", want, hdr)
		}
	}
	added := bytes.Replace(signed, []byte("MIME-Version:"), []byte("List-Unsubscribe: <https://evil.example/>\r\nMIME-Version:"), 1)
	for i, r := range dkimcheck.Verify(t, added, recs) {
		if r.OK {
			t.Errorf("signature %d still valid with a List-Unsubscribe added", i)
		}
	}
	altered := bytes.Replace(signed, []byte("samedi"), []byte("dimanche"), 1)
	for i, r := range dkimcheck.Verify(t, altered, recs) {
		if r.OK {
			t.Errorf("signature %d still valid with the body altered", i)
		}
	}
}

func TestForeignFromSignedByHub(t *testing.T) {
	dir := t.TempDir()
	if _, err := Generate(dir, "hub.example", time.Now()); err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(dir, "hub.example", nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := strings.Replace(sample, "4405.nantes-sud@hub.example", "nadia@exemple.fr", 1)
	signed, err := s.Sign([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	dkimcheck.Require(t, signed, records(t, dir), "hub.example", "rsa-sha256", "ed25519-sha256")
}

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	day1 := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	first, err := Generate(dir, "hub.example", day1)
	if err != nil {
		t.Fatal(err)
	}
	clock := day1
	s, err := NewSigner(dir, "hub.example", func() time.Time { return clock })
	if err != nil {
		t.Fatal(err)
	}
	// A second generation the same day: new names, not active yet.
	second, err := Generate(dir, "hub.example", day1)
	if err != nil {
		t.Fatal(err)
	}
	if second[0].Selector != "rsa-20261121b" || second[0].Active {
		t.Fatalf("second generation %+v", second)
	}
	selectors := func() []string {
		signed, err := s.Sign([]byte(sample))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range dkimcheck.Verify(t, signed, records(t, dir)) {
			if !r.OK {
				t.Errorf("invalid signature %+v", r)
			}
			out = append(out, r.Selector)
		}
		return out
	}
	if got := strings.Join(selectors(), " "); got != first[0].Selector+" "+first[1].Selector {
		t.Errorf("before activation signed by %s", got)
	}
	// Both generations stay published while the new one takes over.
	if n := len(records(t, dir)); n != 4 {
		t.Errorf("%d records, want 4", n)
	}
	if err := Activate(dir, "hub.example", second[0].Selector, second[1].Selector); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(reloadEvery)
	got := selectors()
	if len(got) != 2 || !strings.HasSuffix(got[0], "b") || !strings.HasSuffix(got[1], "b") {
		t.Errorf("after activation signed by %v", got)
	}
	if err := Activate(dir, "hub.example", "nope"); err == nil {
		t.Error("unknown selector activated")
	}
}

func TestRefusesLooseKeys(t *testing.T) {
	dir := t.TempDir()
	keys, err := Generate(dir, "hub.example", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "hub.example", keys[0].Selector+".pem"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewSigner(dir, "hub.example", nil); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key accepted: %v", err)
	}
	if _, err := NewSigner(t.TempDir(), "hub.example", nil); err == nil {
		t.Error("signer without keys")
	}
}

// BenchmarkSign: both signatures on a 2 KB list post, the cost each
// personalized copy pays at send time.
func BenchmarkSign(b *testing.B) {
	dir := b.TempDir()
	if _, err := Generate(dir, "hub.example", time.Now()); err != nil {
		b.Fatal(err)
	}
	s, err := NewSigner(dir, "hub.example", nil)
	if err != nil {
		b.Fatal(err)
	}
	msg := []byte(sample + strings.Repeat("Une ligne de texte pour faire un message de taille ordinaire.\r\n", 30))
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := s.Sign(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSignFoldedFields: the signer gives go-msgauth the signed fields
// unfolded and nothing else; the signatures must still hold on the message
// as sent, folding, unsigned fields and LF line ends included.
func TestSignFoldedFields(t *testing.T) {
	dir := t.TempDir()
	if _, err := Generate(dir, "hub.example", time.Now()); err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(dir, "hub.example", nil)
	if err != nil {
		t.Fatal(err)
	}
	var long strings.Builder
	long.WriteString("X-Long: start\r\n")
	for range 3000 {
		long.WriteString("\t" + strings.Repeat("x", 60) + "\r\n")
	}
	msg := "From: Liste\r\n <4405.nantes-sud@hub.example>\r\n" +
		"To: a@exemple.fr,\r\n\tb@exemple.fr,\r\n  c@exemple.fr\r\n" +
		long.String() +
		"Subject: une ligne\r\n \tpliée   deux fois\r\n\tet encore\r\n" +
		"Cc: d@exemple.fr\n" + // a bare LF, as some MUAs hand it over
		"Received: from x by y; Sat, 21 Nov 2026 10:00:00 +0100\r\n" +
		"Date: Sat, 21 Nov 2026 10:00:00 +0100\r\n" +
		"Message-ID: <folded@hub.example>\r\n" +
		"\r\n" +
		"Bonjour.\r\n"
	signed, err := s.Sign([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(signed, []byte(msg)) {
		t.Fatal("the message itself changed")
	}
	hdr := strings.Join(strings.Fields(string(signed[:bytes.Index(signed, []byte("From: Liste"))])), "")
	if !strings.Contains(hdr, "h=From:From:") || strings.Contains(hdr, "X-Long") || strings.Contains(hdr, "Received") {
		t.Errorf("signed fields:\n%s", hdr)
	}
	recs := records(t, dir)
	vs, err := gdkim.VerifyWithOptions(bytes.NewReader(signed), &gdkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) { return []string{recs[name]}, nil },
	})
	if err != nil || len(vs) != 2 {
		t.Fatalf("verify: %v %d", err, len(vs))
	}
	for _, v := range vs {
		if v.Err != nil {
			t.Errorf("go-msgauth: %v", v.Err)
		}
	}
	dkimcheck.Require(t, signed, recs, "hub.example", "rsa-sha256", "ed25519-sha256")
	altered := bytes.Replace(signed, []byte("deux fois"), []byte("trois fois"), 1)
	for i, r := range dkimcheck.Verify(t, altered, recs) {
		if r.OK {
			t.Errorf("signature %d still valid with the folded Subject altered", i)
		}
	}
}
