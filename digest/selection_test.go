package digest

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

// What the weekly run writes is read back the same, without encoding/json.
func TestParseDigestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	kms := []float64{-1, 0, 0.4, 3, 12.6, 49.99999, 1e-7, 1e21, -0.5, math.SmallestNonzeroFloat64, math.MaxFloat64}
	items := func() []Item {
		var out []Item
		for n := r.IntN(5); n > 0; n-- {
			out = append(out, Item{ID: []int64{0, 1, r.Int64(), -r.Int64N(1000), math.MaxInt64, math.MinInt64}[r.IntN(6)], Km: kms[r.IntN(len(kms))]})
		}
		return out
	}
	for range 20000 {
		d := Digest{Own: items(), Near: items(), Themes: items(), Cancelled: items()}
		raw, _ := json.Marshal(d)
		if _, ok := parseSelection(string(raw)); !ok {
			t.Fatalf("%s: left to encoding/json", raw)
		}
		got, err := parseDigest(string(raw))
		if err != nil || !reflect.DeepEqual(got, d) {
			t.Fatalf("%s: %+v %v, want %+v", raw, got, err, d)
		}
	}
}

// Whatever the text, parseDigest reads what json.Unmarshal reads, and
// fails where it fails.
func FuzzParseDigest(f *testing.F) {
	for _, s := range []string{`{}`, `{"own":[{"ID":1,"Km":2.5}]}`, `{"own":[],"near":[{"ID":-3,"Km":-1}]}`,
		`{"own":[{"ID":1,"Km":2.5}],"own":[{"ID":2,"Km":1}]}`, `{"OWN":[{"id":1,"km":2}]}`, `{"own":null}`,
		`{"own":[{"ID":01,"Km":2}]}`, `{"own":[{"ID":1.0,"Km":2}]}`, `{"own":[{"ID":1,"Km":1.e5}]}`, `{"own":[{"ID":1,"Km":-0}]}`,
		`{"own":[{"ID":9223372036854775808,"Km":1}]}`, `{"own":[{"ID":1,"Km":1e400}]}`, ` {}`, `{}x`, `{"cancelled":[{"ID":7,"Km":1E+2}]}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want Digest
		wantErr := json.Unmarshal([]byte(s), &want)
		got, err := parseDigest(s)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("%q: error %v, json.Unmarshal %v", s, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: %+v, json.Unmarshal %+v", s, got, want)
		}
	})
}

func BenchmarkParseDigest(b *testing.B) {
	var d Digest
	for i := range 30 {
		d.Near = append(d.Near, Item{ID: int64(10000 + 37*i), Km: float64(i) * 1.37})
	}
	raw, _ := json.Marshal(d)
	b.Run("parseDigest", func(b *testing.B) {
		for b.Loop() {
			parseDigest(string(raw))
		}
	})
	b.Run("json.Unmarshal", func(b *testing.B) {
		for b.Loop() {
			var d Digest
			json.Unmarshal(raw, &d)
		}
	})
}
