package lists

import (
	"encoding/json"
	"reflect"
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

// BenchmarkCopyRefAndToken: what each copy of a post paid to read its ref
// and pays now.
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
}
