package address

import "testing"

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"support+abcdefghijklmnopqrstuvwxyz234567@hub.example":     "support+…@hub.example",
		"bounces+12-abcdefgh@hub.example":                          "bounces+…@hub.example",
		"4405.discussion+confirm-abcdefghijklmnopqrst@hub.example": "4405.discussion+confirm-…@hub.example",
		"4405.discussion+Approve-XYZ@hub.example":                  "4405.discussion+approve-…@hub.example",
		"4405.discussion+reject-xyz@hub.example":                   "4405.discussion+reject-…@hub.example",
		"4405.discussion+subscribe@hub.example":                    "4405.discussion+subscribe@hub.example",
		"4405.discussion+Désinscription@hub.example":               "4405.discussion+Désinscription@hub.example",
		"4405.nantes-sud+agenda@hub.example":                       "4405.nantes-sud+agenda@hub.example",
		"marie+relais@example.org":                                 "marie+…@example.org",
		"marie@example.org":                                        "marie@example.org",
		"support+key":                                              "support+…",
		"":                                                         "",
		"#12":                                                      "#12",
		"a+b+c@x":                                                  "a+…@x",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	got := RedactAll([]string{"support+k@hub.example", "support@hub.example"})
	if len(got) != 2 || got[0] != "support+…@hub.example" || got[1] != "support@hub.example" {
		t.Errorf("RedactAll: %q", got)
	}
}
