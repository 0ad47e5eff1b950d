package address

import "strings"

// Redacted stands in a log line for the part of an address that is a
// secret (a reply key, a token) or nobody else's business (a private tag).
const Redacted = "…"

// commandWords are the +details that say what an address does rather than
// who may use it: a log line keeps them. Every other detail is redacted, so
// a command word added elsewhere and missing here costs only a less
// readable log line, never a leaked secret.
var commandWords = map[string]bool{
	// Lists (lists.Detail) and their French spellings.
	"subscribe": true, "inscription": true, "join": true,
	"unsubscribe": true, "desinscription": true, "désinscription": true, "leave": true,
	"help": true, "aide": true, "request": true, "commande": true, "owner": true,
	// Groups.
	"agenda": true,
}

// tokenKinds prefix a token in a +detail (LIST+confirm-TOKEN): the kind is
// kept, the token is not.
var tokenKinds = []string{"confirm-", "approve-", "reject-"}

// Redact returns addr as a log line may show it: a +detail that is a
// command word stays (4405.discussion+subscribe@hub.example), the kind of
// a token stays and the token goes (4405.discussion+confirm-…@hub.example),
// any other detail goes: a reply key (support+…@hub.example), a VERP token
// (bounces+…@hub.example), someone's own tag (marie+…@example.org). What
// holds such a detail lets its holder act (answer a ticket as an operator,
// confirm a subscription, report a bounce): a log must not hand it on.
// The rest of addr is kept as it is; an address without '+' comes back
// unchanged.
func Redact(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	local, domain := addr, ""
	if at >= 0 {
		local, domain = addr[:at], addr[at:]
	}
	base, detail, ok := strings.Cut(local, "+")
	if !ok {
		return addr
	}
	d := strings.ToLower(detail)
	if commandWords[d] {
		return addr
	}
	for _, k := range tokenKinds {
		if strings.HasPrefix(d, k) {
			return base + "+" + k + Redacted + domain
		}
	}
	return base + "+" + Redacted + domain
}

// RedactAll redacts each address of addrs (see Redact).
func RedactAll(addrs []string) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = Redact(a)
	}
	return out
}
