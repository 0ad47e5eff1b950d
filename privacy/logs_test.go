package privacy

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestPseudonymizer(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(Pseudonymizer(slog.NewTextHandler(&b, nil), []byte("secret"), []string{"hub.example"}))
	log = log.With("rcpt", "Marie@Example.org")
	log.Info("sent to marie@example.org", "from", "4405.discussion+confirm-…@hub.example", "err", errors.New("550 <bob@example.net> unknown"),
		"to", []string{"bob@example.net"}, slog.Group("g", "who", "marie@example.org"))
	out := b.String()
	p := Pseudonym([]byte("secret"), "marie@example.org")
	if strings.Contains(out, "marie@") || strings.Contains(out, "bob@") || strings.Count(out, p) != 3 ||
		!strings.Contains(out, "4405.discussion+confirm-…@hub.example") || len(p) != len("person:")+16 {
		t.Fatalf("%s", out)
	}
	if Pseudonym([]byte("other"), "marie@example.org") == p {
		t.Fatal("the pseudonym does not depend on the secret")
	}
}
