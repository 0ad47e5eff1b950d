package lists

import (
	"strings"
	"testing"

	"github.com/emersion/go-message/textproto"
)

// An answer's Message-ID is recognised in In-Reply-To and References,
// whatever its host part and case; one with a MAC made under another
// secret, or altered, is not.
func TestAnswerIDs(t *testing.T) {
	s := &Service{secret: []byte("secret of this hub"), cfg: Config{Hostname: "mx.hub.example", Domains: []string{"hub.example"}}}
	other := &Service{secret: []byte("secret of another"), cfg: Config{Hostname: "mx.hub.example"}}
	id := s.answerID()
	head := func(fields ...string) textproto.Header {
		var h textproto.Header
		for i := 0; i+1 < len(fields); i += 2 {
			h.Add(fields[i], fields[i+1])
		}
		return h
	}
	altered := []byte(id)
	altered[5] ^= 1
	filler := strings.Repeat("<x@example.org> ", 2*maxReferences)
	cases := []struct {
		name string
		h    textproto.Header
		want bool
	}{
		{"in-reply-to", head("In-Reply-To", id), true},
		{"last reference", head("References", "<a@example.org> "+id), true},
		{"upper case, other host", head("References", strings.ToUpper(strings.Replace(id, "mx.hub.example", "elsewhere.example", 1))), true},
		{"folded", head("References", "<a@example.org>\r\n "+id+"\r\n <b@example.org>"), true},
		{"another hub's", head("In-Reply-To", other.answerID()), false},
		{"altered", head("In-Reply-To", string(altered)), false},
		{"plain", head("In-Reply-To", "<48692c0923059d1bdde2f1dc@mx.hub.example>"), false},
		{"none", head("Subject", "Re: x"), false},
		{"last of a long thread", head("References", filler+id), true},
		{"buried under a long thread", head("References", id+" "+filler), false},
	}
	for _, c := range cases {
		if got := s.repliesToUs(c.h); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	for v, want := range map[string]bool{
		"4405.discussion@hub.example":   true,
		"<4405.discussion@HUB.example>": true,
		"liste@lists.example.org":       false,
		"hub.example":                   false,
	} {
		if got := s.looped(head(LoopHeader, v)); got != want {
			t.Errorf("X-Loop %q: %v, want %v", v, got, want)
		}
	}
}

// Changes waiting in a token come back as they were asked.
func TestChangesRoundTrip(t *testing.T) {
	cs := []change{{Action: actLeave}, {Action: actPause + " 1798675200", Line: "pause"}, {Action: actMode + " weekly", Line: "resume\thebdo"}}
	got := decodeChanges(encodeChanges(cs))
	if len(got) != len(cs) {
		t.Fatalf("%d changes, want %d", len(got), len(cs))
	}
	for i := range cs {
		if got[i] != cs[i] {
			t.Errorf("change %d: %+v, want %+v", i, got[i], cs[i])
		}
	}
}
