package metrics

import (
	"strconv"
	"testing"
)

// The Action of a bounce is what a delivery status notification says, and
// a bounce is anything mailed to a VERP address, which every list member
// holds (their own copies' return path): one series per word they write,
// for ever, in the hub's memory and in Prometheus's. Label values must be
// a fixed set.
func TestReview2BounceActionsAreAFixedSet(t *testing.T) {
	m := New(nil)
	for i := 0; i < 1000; i++ {
		m.Bounced("x" + strconv.Itoa(i))
	}
	for _, a := range []string{"failed", "delayed", "auto-reply", "unknown"} {
		m.Bounced(a)
	}
	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == "relais_bounces_total" && len(f.GetMetric()) > 10 {
			t.Fatalf("%d series of relais_bounces_total, one per Action a sender wrote", len(f.GetMetric()))
		}
	}
}
