// Package privacy is in charge of what the hub holds about a person, as
// the GDPR asks of data that reveals political opinions (Art. 9): a
// member's export (Art. 15 and 20) and erasure (Art. 17) in one command
// each, the retention limit of each kind of record (Art. 5(1)(e)), and
// addresses pseudonymised in log lines. deploy/PRIVACY.md is the policy
// this package implements, for the movement's data-protection officer.
//
// What must be kept to honour an erasure, or a withdrawal whose consent
// record has expired, is kept as a keyed hash of the address (HMAC-SHA256
// under the hub's secret "erasure", store.PersonMAC), never the address.
package privacy

import (
	"strings"
	"time"
)

// normal is an address as the hub stores it.
func normal(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// at turns Unix seconds into a time for JSON, nil for 0 (never).
func at(t int64) *time.Time {
	if t == 0 {
		return nil
	}
	u := time.Unix(t, 0).UTC()
	return &u
}
