package address

import (
	"errors"
	"fmt"
	"strings"
)

// Kind says what an address on the hub's domains is, before anyone has
// looked in the store.
type Kind int

const (
	// Group is CODE.NAME: a group's contact address or a list address.
	Group Kind = iota + 1
	// Territory is CODE.groupes: every group under a territory.
	Territory
	// Bounce is bounces+TOKEN: the VERP return path of one delivery.
	Bounce
	// Role is postmaster or abuse (RFC 5321 §4.5.1, RFC 2142).
	Role
	// Service is any other plain local part (support, juridique, …): a
	// configured queue or nothing.
	Service
)

func (k Kind) String() string {
	switch k {
	case Group:
		return "group"
	case Territory:
		return "territory"
	case Bounce:
		return "bounce"
	case Role:
		return "role"
	case Service:
		return "service"
	}
	return "unknown"
}

// TerritoryName is the reserved NAME of the territory address CODE.groupes.
const TerritoryName = "groupes"

// BounceLocal is the local part of the VERP return path bounces+TOKEN@domain.
const BounceLocal = "bounces"

// MaxNameLen is the longest NAME in CODE.NAME.
const MaxNameLen = 40

// Sentinel errors of package address.
var (
	// ErrNotOurDomain: the domain is not one the hub serves (relaying).
	ErrNotOurDomain = errors.New("address: domain not served here")
	// ErrMalformed: the address is not one the grammar allows.
	ErrMalformed = errors.New("address: malformed")
)

// Address is an address on one of the hub's domains, read once.
type Address struct {
	Kind   Kind
	Code   Code   // Group and Territory
	Name   string // Group: NAME, lower case; Service and Role: the local part
	Detail string // what follows '+', lower case ("subscribe", "agenda", a token)
	Domain string // lower case
}

// Base returns the address without its +detail, in canonical lower case:
// "4405.nantes-sud@hub.example".
func (a Address) Base() string {
	return a.BaseLocal() + "@" + a.Domain
}

// BaseLocal returns the local part without +detail: "4405.nantes-sud".
func (a Address) BaseLocal() string {
	switch a.Kind {
	case Group:
		return a.Code.Local() + "." + a.Name
	case Territory:
		return a.Code.Local() + "." + TerritoryName
	case Bounce:
		return BounceLocal
	default:
		return a.Name
	}
}

// String returns the canonical address with its +detail.
func (a Address) String() string {
	if a.Detail == "" {
		return a.Base()
	}
	return a.BaseLocal() + "+" + a.Detail + "@" + a.Domain
}

// GroupLocal validates "CODE.NAME" as the local part of a group address and
// returns its code and canonical name. It is what `relais group add` calls.
func GroupLocal(s string) (Code, string, error) {
	code, name, ok := strings.Cut(s, ".")
	if !ok {
		return Code{}, "", fmt.Errorf("%w: %q: a group address is CODE.NAME, as in 4405.nantes-sud", ErrMalformed, s)
	}
	c, err := ParseCode(code)
	if err != nil {
		return Code{}, "", err
	}
	name = strings.ToLower(name)
	if err := checkName(name); err != nil {
		return Code{}, "", fmt.Errorf("%w: %q: %v", ErrMalformed, s, err)
	}
	return c, name, nil
}

func checkName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("the name after the dot has 1 to %d characters", MaxNameLen)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("the name after the dot uses only a-z, 0-9 and '-'")
		}
	}
	return nil
}

// FromPrefix spells a coded address with a letter first: liste-4405.discussion
// is 4405.discussion. The hub writes it in the From of the mail it makes for
// a list (digests, notices, From rewritten for DMARC): spam filters count a
// From that starts with three digits against the message (SpamAssassin's
// FROM_STARTS_WITH_NUMS, 2.8 points without network tests). Replies to it
// reach the same list.
const FromPrefix = "liste-"

// Parse reads addr (local@domain, without angle brackets) against the hub's
// domains. Three things might happen:
//   - the domain is not one of domains: ErrNotOurDomain;
//   - the local part does not follow the grammar: an error wrapping
//     ErrMalformed or a *CodeError saying why;
//   - otherwise the Address, whose Kind tells which handler may want it.
//
// Local parts are case-insensitive (design choice of the hub, allowed by
// RFC 5321 §2.4), so everything is lowered.
func Parse(addr string, domains []string) (Address, error) {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return Address{}, fmt.Errorf("%w: %q has no local part or no domain", ErrMalformed, addr)
	}
	local, domain := strings.ToLower(addr[:at]), strings.ToLower(strings.TrimSuffix(addr[at+1:], "."))
	ours := false
	for _, d := range domains {
		if strings.EqualFold(d, domain) {
			ours = true
			break
		}
	}
	if !ours {
		return Address{}, ErrNotOurDomain
	}
	a := Address{Domain: domain}
	base, detail, _ := strings.Cut(local, "+")
	a.Detail = detail
	if base == "" {
		return Address{}, fmt.Errorf("%w: empty local part", ErrMalformed)
	}
	switch base {
	case "postmaster", "abuse":
		a.Kind, a.Name = Role, base
		return a, nil
	case BounceLocal:
		if detail == "" {
			return Address{}, fmt.Errorf("%w: bounces without a token", ErrMalformed)
		}
		a.Kind = Bounce
		return a, nil
	}
	if rest, ok := strings.CutPrefix(base, FromPrefix); ok && strings.Contains(rest, ".") {
		base = rest // the letter-first spelling of CODE.NAME
	}
	if !strings.Contains(base, ".") {
		if err := checkName(base); err != nil {
			return Address{}, fmt.Errorf("%w: %q: %v", ErrMalformed, base, err)
		}
		a.Kind, a.Name = Service, base
		return a, nil
	}
	code, name, err := GroupLocal(base)
	if err != nil {
		return Address{}, err
	}
	a.Code = code
	if name == TerritoryName {
		a.Kind = Territory
		return a, nil
	}
	a.Kind, a.Name = Group, name
	return a, nil
}
