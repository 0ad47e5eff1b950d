package lists

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// Copies of several posts made at once, by several workers: each gets its
// own post's ref, never the one read last for another.
func TestReadRefKeepsLast(t *testing.T) {
	s := &Service{}
	raws := []string{`{"l":1,"i":[{"a":10},{"a":20,"h":true}]}`, `{"l":2,"i":[{"a":5,"q":true,"b":"xyz"}]}`, `{"l":1}`, `{"l":3,"i":[{"a":10}]}`}
	wants := make([]ref, len(raws))
	for i, raw := range raws {
		if err := json.Unmarshal([]byte(raw), &wants[i]); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for n := range 2000 {
				i := (n/(w+1) + w) % len(raws) // runs of one ref, each worker its own rhythm
				got, err := s.readRef(raws[i])
				if err != nil || !reflect.DeepEqual(got, wants[i]) {
					t.Errorf("%s: %+v %v", raws[i], got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if _, err := s.readRef(`{"l":`); err == nil {
		t.Fatal("a bad ref read")
	}
	if got, err := s.readRef(raws[1]); err != nil || !reflect.DeepEqual(got, wants[1]) {
		t.Fatalf("after a bad ref: %+v %v", got, err)
	}
}

// The pooled HMAC gives the tokens the hub always gave: links already
// sent must still work.
func TestUnsubscribeTokenStable(t *testing.T) {
	s := &Service{secret: []byte("secret of this hub")}
	other := &Service{secret: []byte("secret of another")}
	for range 3 {
		for _, c := range []struct {
			list, member int64
			email        string
		}{{1, 1, "a@b.example"}, {4405, 123456789, "Marie.Curie@Example.ORG"}, {-1, 0, ""}, {7, 8, strings.Repeat("é", 200) + "@x.example"}} {
			m := hmac.New(sha256.New, s.secret)
			fmt.Fprintf(m, "unsubscribe:%d:%d:%s", c.list, c.member, strings.ToLower(c.email))
			want := fmt.Sprint(c.member) + "-" + b32.EncodeToString(m.Sum(nil)[:10])
			if got := s.UnsubscribeToken(c.list, c.member, c.email); got != want {
				t.Errorf("%+v: %s, want %s", c, got, want)
			}
			if other.UnsubscribeToken(c.list, c.member, c.email) == want {
				t.Errorf("%+v: the same token under another secret", c)
			}
		}
	}
}

// BenchmarkCopyRefAndToken: what each copy of a post paid to read its ref
// and make its unsubscribe token (json.Unmarshal, hmac.New, fmt) and pays
// now.
func BenchmarkCopyRefAndToken(b *testing.B) {
	s := &Service{secret: []byte("secret of this hub")}
	raw := `{"l":4405,"i":[{"a":4012},{"a":9120,"h":true,"q":true}]}`
	b.Run("unmarshal", func(b *testing.B) {
		for b.Loop() {
			var r ref
			json.Unmarshal([]byte(raw), &r)
		}
	})
	b.Run("readRef", func(b *testing.B) {
		for b.Loop() {
			s.readRef(raw)
		}
	})
	b.Run("token-fmt", func(b *testing.B) {
		for b.Loop() {
			m := hmac.New(sha256.New, s.secret)
			fmt.Fprintf(m, "unsubscribe:%d:%d:%s", 4405, 123456, strings.ToLower("m01234@members.example"))
			_ = fmt.Sprint(123456) + "-" + b32.EncodeToString(m.Sum(nil)[:10])
		}
	})
	b.Run("token", func(b *testing.B) {
		for b.Loop() {
			s.UnsubscribeToken(4405, 123456, "m01234@members.example")
		}
	})
}
