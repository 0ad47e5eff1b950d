package address

import "testing"

func TestValidDomain(t *testing.T) {
	for d, want := range map[string]bool{
		"hub.example": true, "xn--bcher-kva.example": true, "localhost": true, "a-b.c": true,
		"": false, "..": false, "a..b": false, "-a.b": false, "a-.b": false, "Hub.example": false,
		"hub.example; curl x": false, "a\nb": false, "a_b.c": false,
	} {
		if ValidDomain(d) != want {
			t.Errorf("ValidDomain(%q) = %v, want %v", d, !want, want)
		}
	}
}
