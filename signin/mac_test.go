package signin

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
)

// The pooled HMAC gives the footer links the hub always gave: links in
// copies already sent must still sign in.
func TestMacStable(t *testing.T) {
	s := &Service{secret: []byte("secret of this hub")}
	other := &Service{secret: []byte("secret of another")}
	for range 3 {
		for _, c := range [][4]string{{KindList, "123456", "t5x2k0", "Marie@Example.ORG"}, {"", "", "", ""},
			{KindAgenda, strings.Repeat("x", 100), "1", strings.Repeat("é", 100) + "@x.example"}} {
			m := hmac.New(sha256.New, s.secret)
			fmt.Fprintf(m, "manage\x00%s\x00%s\x00%s\x00%s", c[0], c[1], c[2], strings.ToLower(c[3]))
			want := b32.EncodeToString(m.Sum(nil)[:16])
			if got := s.mac(c[0], c[1], c[2], c[3]); got != want {
				t.Errorf("%q: %s, want %s", c, got, want)
			}
			if other.mac(c[0], c[1], c[2], c[3]) == want {
				t.Errorf("%q: the same mac under another secret", c)
			}
		}
	}
}

// BenchmarkFooterMac: the footer link's HMAC each list copy makes, as it
// was (hmac.New, fmt) and is.
func BenchmarkFooterMac(b *testing.B) {
	s := &Service{secret: []byte("secret of this hub")}
	b.Run("fmt", func(b *testing.B) {
		for b.Loop() {
			m := hmac.New(sha256.New, s.secret)
			fmt.Fprintf(m, "manage\x00%s\x00%s\x00%s\x00%s", KindList, "123456", "t5x2k0", strings.ToLower("m01234@members.example"))
			b32.EncodeToString(m.Sum(nil)[:16])
		}
	})
	b.Run("pooled", func(b *testing.B) {
		for b.Loop() {
			s.mac(KindList, "123456", "t5x2k0", "m01234@members.example")
		}
	})
}
