package privacy

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// The hub takes SMTPUTF8 mail (RFC 6531): senders and members may be
// "jörg@exämple.org" or "élodie@example.org". The pseudonymizer looks
// for ASCII addresses only: the first is logged whole, the second as
// "é" and the pseudonym of someone else ("lodie@example.org"), which is
// neither private nor the pseudonym her export names.
func TestReview2PseudonymizerInternationalAddresses(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(Pseudonymizer(slog.NewTextHandler(&b, nil), []byte("secret"), []string{"hub.example"}))
	log.Info("accepted", "from", "jörg@exämple.org", "rcpt", "élodie@example.org", "to", "Zoë Durand <zoë@exemple.fr>")
	out := b.String()
	for _, a := range []string{"jörg", "exämple", "élodie", "zoë@", "lodie@"} {
		if strings.Contains(out, a) {
			t.Errorf("the log names %q: %s", a, out)
		}
	}
	if p := Pseudonym([]byte("secret"), "élodie@example.org"); !strings.Contains(out, p) {
		t.Errorf("élodie is not named by her pseudonym %s: %s", p, out)
	}
}
