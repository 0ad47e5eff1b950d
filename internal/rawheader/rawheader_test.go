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

// A common name is the same string as a copy of its bytes would be, and
// any other name is copied: the message's bytes may change afterwards.
func TestFieldNames(t *testing.T) {
	msg := []byte("From: a\r\nSUBJECT: b\r\nX-Rare: c\r\nMessage-Id : d\r\n\r\n")
	fs := Fields(msg)
	want := []string{"From", "SUBJECT", "X-Rare", "Message-Id"}
	for i, f := range fs {
		if f.Name != want[i] {
			t.Errorf("field %d: %q, want %q", i, f.Name, want[i])
		}
	}
	copy(msg, "Xrom: a\r\nSUBJECX: b\r\nX-Rarf")
	for i, f := range fs {
		if f.Name != want[i] {
			t.Errorf("field %d after the message changed: %q, want %q", i, f.Name, want[i])
		}
	}
	for _, n := range []string{"From", "To", "Cc", "Subject", "Date", "Message-ID", "Message-Id", "Reply-To", "Sender", "In-Reply-To", "References", "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "Content-Language", "List-Id", "List-Help", "List-Post", "List-Subscribe", "List-Unsubscribe", "List-Unsubscribe-Post", "List-Owner", "List-Archive", "Precedence", "X-Loop", "Auto-Submitted", "Received", "Return-Path", "Delivered-To", "DKIM-Signature", "Authentication-Results", "User-Agent", "X-Mailer"} {
		b := []byte(n)
		if got := fieldName(b); got != n {
			t.Errorf("%q named %q", n, got)
		}
		if a := testing.AllocsPerRun(10, func() { fieldName(b) }); a != 0 {
			t.Errorf("%q: %v allocations", n, a)
		}
	}
}
