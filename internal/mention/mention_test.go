package mention

import (
	"encoding/base32"
	"encoding/base64"
	"testing"
)

func TestIn(t *testing.T) {
	const a = "alice@example.org"
	// The agenda's old stop link carried this.
	if !In([]byte("https://h/agenda/stop/MFWGSY3FIBSXQYLNOBWGKLTPOJTQ.abc"), a) {
		t.Error("base32 of the old links not found")
	}
	for k := 0; k < 6; k++ {
		pre := string(make([]byte, k)) + "x"
		for _, s := range []string{
			base64.StdEncoding.EncodeToString([]byte(pre + a + "!")),
			base64.RawURLEncoding.EncodeToString([]byte(pre + "Alice@example.org")),
			base32.StdEncoding.EncodeToString([]byte(pre + a)),
			base32.HexEncoding.EncodeToString([]byte(pre + a + "??")),
		} {
			if !In([]byte("… "+s+" …"), a) {
				t.Errorf("offset %d: %s not found", k, s)
			}
		}
	}
	if !In([]byte("From: ALICE@Example.ORG"), a) || In([]byte("bob@example.org"), a) {
		t.Error("literal")
	}
	if got := string(Replace([]byte("To: Alice@Example.org, alice@example.org."), a, "effacé-1")); got != "To: effacé-1, effacé-1." {
		t.Errorf("Replace: %q", got)
	}
}

// An address inside another is someone else's: found and replaced only
// whole.
func TestWholeAddress(t *testing.T) {
	const a = "a@outside.test"
	for _, c := range []struct {
		in   string
		want bool
	}{
		{"nadia@outside.test", false},
		{"x.a@outside.test", false},
		{"a@outside.test.org", false},
		{"a@outside.testing", false},
		{"A@Outside.Test", true},
		{"<a@outside.test>", true},
		{"mailto:a@outside.test?subject=x", true},
		{"/u/?email=a@outside.test&x=1", true},
		{"«a@outside.test»", true},
		{"écrire à a@outside.test.", true},
		{"\"a@outside.test\"", true},
	} {
		if got := In([]byte(c.in), a); got != c.want {
			t.Errorf("In(%q) = %v, want %v", c.in, got, c.want)
		}
	}
	got := string(Replace([]byte("nadia@outside.test, A@outside.test; a@outside.test.org"), a, "effacé-1"))
	if got != "nadia@outside.test, effacé-1; a@outside.test.org" {
		t.Errorf("Replace: %q", got)
	}
}
