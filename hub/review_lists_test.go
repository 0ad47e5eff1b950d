package hub

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"codeberg.org/relais/relais/lists"
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

// Every secret the lists hand out (confirmation, moderation, VERP and
// one-click tokens) stays out of the logs, along a subscription, a held
// post approved, a bounce and a one-click unsubscribe.
func TestReviewListSecretsNotLogged(t *testing.T) {
	e := newEnv(t)
	e.createList("4405.discussion", "members", []string{"anim@exemple.fr"}, "alice@example.org")
	const list = "4405.discussion@hub.example"
	e.mustSend("bob@example.org", "4405.discussion+subscribe@hub.example", post("bob@example.org", "4405.discussion+subscribe@hub.example", "inscription", ""))
	ms := e.waitFor("confirmation", countTo("bob@example.org", 1))
	confirm := replyAddress(t, to(ms, "bob@example.org")[0])
	e.mustSend("bob@example.org", confirm, post("bob@example.org", confirm, "Re: confirmer", "oui"))
	e.waitFor("welcome", countTo("bob@example.org", 2))
	e.mustSend("zoe@example.net", list, post("zoe@example.net", list, "Bonjour", "Je voudrais participer."))
	ms = e.waitFor("held notice", countTo("anim@exemple.fr", 1))
	approve := regexp.MustCompile(`4405\.discussion\+approve-[a-z2-7]{20}@hub\.example`).FindString(text(to(ms, "anim@exemple.fr")[0]))
	e.mustSend("anim@exemple.fr", approve, post("anim@exemple.fr", approve, "ok", ""))
	ms = e.waitFor("approved post", countTo("alice@example.org", 1))
	copy := to(ms, "alice@example.org")[0]
	if err := e.send("", []string{copy.From}, dsn("alice@example.org", "failed", "5.1.1", "550 5.1.1 no such user")); err != nil {
		t.Fatal(err)
	}
	unsub := regexp.MustCompile(`<(http://[^>]+/u/[^>]+)>`).FindStringSubmatch(copy.Header().Get("List-Unsubscribe"))
	if unsub == nil {
		t.Fatalf("List-Unsubscribe %q", copy.Header().Get("List-Unsubscribe"))
	}
	resp, err := http.Post(unsub[1], "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	e.settle()
	secret := regexp.MustCompile(`(?:confirm|approve|reject)-([a-z2-7]{20})|bounces\+([0-9]+-[a-z2-7]{8})|/u/([^>\s]+)`)
	var found []string
	for _, m := range e.box.Mails() {
		for _, s := range secret.FindAllStringSubmatch(string(m.Data)+" "+m.From, -1) {
			for _, g := range s[1:] {
				if g != "" {
					found = append(found, g)
				}
			}
		}
	}
	if len(found) < 4 {
		t.Fatalf("only %d secrets found in the mail: %v", len(found), found)
	}
	logs := e.logs.String()
	for _, s := range found {
		if strings.Contains(logs, s) {
			t.Errorf("secret %q in the logs", s)
		}
	}
}

// A list post of many tiny text parts in a multipart/alternative got a
// footer in each: every member's copy was 27 times the post (200 KB
// posted, 5.4 MB sent to each member, built in memory at send time; a
// 25 MB post, 670 MB a copy). A copy is now at most the post and a few
// footers.
func TestReviewListFootersDoNotMultiply(t *testing.T) {
	e := newEnv(t)
	e.createList("4405.discussion", lists.Members, []string{"anim@exemple.fr"}, "alice@example.org", "bob@example.org")
	const list = "4405.discussion@hub.example"
	msg := crlf("From: alice@example.org\nTo: " + list + "\nSubject: x\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=b\n\n" +
		strings.Repeat("--b\n\nx\n", 20000) + "--b--\n")
	if err := e.send("alice@example.org", []string{list}, msg); err != nil {
		t.Fatal(err)
	}
	copy := to(e.waitFor("copies", countTo("bob@example.org", 1)), "bob@example.org")[0]
	if len(copy.Data) > len(msg)+16<<10 {
		t.Fatalf("posted %d bytes, each member's copy %d bytes (×%.1f)", len(msg), len(copy.Data), float64(len(copy.Data))/float64(len(msg)))
	}
	// The post wrapped whole, the footer in a part of its own.
	if tail := string(copy.Data[max(0, len(copy.Data)-4096):]); !strings.Contains(tail, "Content-Disposition: inline") {
		t.Errorf("the copy has no footer part:\n%s", tail)
	}
}
