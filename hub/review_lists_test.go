package hub

import (
	"fmt"
	"testing"
)

// A used confirmation token is a reflector: mail to LIST+confirm-TOKEN
// whose token was used gets the "expired" notice at its From, whoever that
// is and whatever SPF says of it. The attacker subscribes once, confirms,
// and from then on makes the hub mail anyone (answers_per_hour per victim,
// no cap per client, SPF -all ignored).
func TestReviewUsedTokenReflects(t *testing.T) {
	e := newEnv(t)
	e.createList("4405.discussion", "members", []string{"anim@exemple.fr"})
	e.dns.Set("evil.example", "v=spf1 ip4:127.0.0.1 -all")
	e.dns.Set("victime.example", "v=spf1 -all") // forging it fails SPF
	const attacker = "attacker@evil.example"
	e.mustSend(attacker, "4405.discussion+subscribe@hub.example", post(attacker, "4405.discussion+subscribe@hub.example", "inscription", ""))
	ms := e.waitFor("the confirmation", countTo(attacker, 1))
	confirm := replyAddress(t, to(ms, attacker)[0])
	if !confirmRE.MatchString(confirm) {
		t.Fatalf("confirm address %q", confirm)
	}
	e.mustSend(attacker, confirm, post(attacker, confirm, "Re: confirmer", "oui"))
	e.waitFor("the welcome", countTo(attacker, 2))
	e.settle()
	before := len(e.box.Mails())
	victims := []string{"alice@victime.example", "bob@sansdns.example", "carol@victime.example"}
	for i := 0; i < 3; i++ {
		for _, v := range victims {
			e.mustSend(attacker, confirm, post(v, confirm, fmt.Sprintf("Re: confirmer %d", i), "oui"))
		}
	}
	e.settle()
	for _, m := range e.box.Mails()[before:] {
		t.Errorf("the hub wrote to %s (%s) for a used token named by a stranger", m.To, subject(m))
	}
}
