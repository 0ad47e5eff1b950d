package tickets

import "testing"

// A Message-ID of the desk carries a reply key: a log line shows it
// without; anyone else's is shown as it is.
func TestLoggedID(t *testing.T) {
	s := &Service{cfg: Config{Hostname: "mx.hub.example"}}
	for in, want := range map[string]string{
		"<aeaxebg62vezeozkgvov77l7.2a3a2e96344b@mx.hub.example>": "<….2a3a2e96344b@mx.hub.example>",
		"<AEAXEBG62VEZEOZKGVOV77L7.2a3a2e96344b@MX.hub.example>": "<….2a3a2e96344b@MX.hub.example>",
		"<req1@exemple.fr>": "<req1@exemple.fr>",
		"":                  "",
	} {
		if got := s.loggedID(in); got != want {
			t.Errorf("loggedID(%q) = %q, want %q", in, got, want)
		}
	}
}
