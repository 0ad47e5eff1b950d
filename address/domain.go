package address

import "strings"

// ValidDomain says whether d is a domain name in lower-case LDH labels
// separated by dots (RFC 1123 §2.1), at most 253 bytes: what may go
// unquoted in an Authentication-Results field, what SPF and DMARC can
// judge, and what may be printed in a command line to copy.
func ValidDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for _, l := range strings.Split(d, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
