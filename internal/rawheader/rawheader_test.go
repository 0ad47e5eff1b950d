package rawheader

import (
	"strings"
	"testing"
)

func TestFields(t *testing.T) {
	msg := []byte("From: a@b.example\r\nSubject: one\r\n two\r\n\tthree\r\nX-Bare: lf\nNot a field\r\n Authentication-Results : x\r\n\r\nbody: not a field\r\n")
	fs := Fields(msg)
	want := []struct {
		name  string
		raw   string
		lines int
	}{
		{"From", "From: a@b.example\r\n", 1},
		{"Subject", "Subject: one\r\n two\r\n\tthree\r\n", 3},
		{"X-Bare", "X-Bare: lf\n", 1},
		{"", "Not a field\r\n Authentication-Results : x\r\n", 2},
	}
	if len(fs) != len(want) {
		t.Fatalf("%d fields: %q", len(fs), fs)
	}
	for i, w := range want {
		if fs[i].Name != w.name || string(fs[i].Raw) != w.raw || fs[i].Lines() != w.lines {
			t.Errorf("field %d: %q %q %d, want %q %q %d", i, fs[i].Name, fs[i].Raw, fs[i].Lines(), w.name, w.raw, w.lines)
		}
	}
	if got := string(msg[End(msg):]); got != "\r\nbody: not a field\r\n" {
		t.Errorf("body %q", got)
	}
	if got := string(Unfold(fs[1].Raw)); got != "Subject: one two\tthree\r\n" {
		t.Errorf("unfolded %q", got)
	}
	if got := string(fs[1].Value()); got != " one\r\n two\r\n\tthree\r\n" {
		t.Errorf("value %q", got)
	}
	// A first line that is a continuation names nothing, whatever it holds.
	if fs := Fields([]byte(" Authentication-Results: mx; dkim=pass\r\n\r\n")); len(fs) != 1 || fs[0].Name != "Authentication-Results" {
		t.Errorf("leading space: %q", fs)
	}
	// No end of header: all of it is header.
	if m := []byte("From: a@b.example\r\nSubject: x"); End(m) != len(m) || len(Fields(m)) != 2 {
		t.Errorf("unterminated header: %d %q", End(m), Fields(m))
	}
	if m := []byte("\r\nbody"); End(m) != 0 || len(Fields(m)) != 0 {
		t.Errorf("empty header")
	}
}

func FuzzFields(f *testing.F) {
	f.Add([]byte("From: a@b\r\n x\r\n\r\nbody"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		var b strings.Builder
		for _, fl := range Fields(msg) {
			b.Write(fl.Raw)
		}
		// The fields are the header, byte for byte.
		if b.String() != string(msg[:End(msg)]) {
			t.Fatalf("fields %q, header %q", b.String(), msg[:End(msg)])
		}
	})
}
