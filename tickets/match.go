package tickets

import (
	"regexp"
	"strconv"
	"strings"
)

// Reply and forward prefixes of French, English, German and Nordic
// clients; Outlook in French writes "RE :" and "TR :" with a space.
var prefixRE = regexp.MustCompile(`(?i)^\s*((re|tr|fw|fwd|aw|sv|vs|wg|réf|ref|rép|rep)\s*(\[\d+\])?\s*:\s*)+`)

// numberRE finds the ticket number the desk writes in subjects: [#123].
var numberRE = regexp.MustCompile(`\[#(\d{1,12})\]`)

// CleanSubject removes reply and forward prefixes and the ticket number.
func CleanSubject(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	for {
		t := prefixRE.ReplaceAllString(s, "")
		t = strings.TrimSpace(numberRE.ReplaceAllString(t, ""))
		if t == s {
			return s
		}
		s = t
	}
}

// IsReply says whether a subject starts with a reply or forward prefix.
func IsReply(s string) bool { return prefixRE.MatchString(s) }

// SubjectNumber returns the ticket number written in a subject as [#123].
func SubjectNumber(s string) (int64, bool) {
	m := numberRE.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	return n, err == nil && n > 0
}

// MessageIDKey returns the key the desk wrote in one of its Message-IDs,
// "<KEY.RANDOM@host>", when host is ours.
func MessageIDKey(id, host string) (string, bool) {
	id = strings.TrimSpace(id)
	id = strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">")
	left, right, ok := strings.Cut(id, "@")
	if !ok || !strings.EqualFold(right, host) {
		return "", false
	}
	key, _, ok := strings.Cut(left, ".")
	if !ok {
		return "", false
	}
	return strings.ToLower(key), true
}

// msgIDs splits an In-Reply-To or References field into its Message-IDs.
func msgIDs(field string) []string {
	var out []string
	for {
		i := strings.IndexByte(field, '<')
		if i < 0 {
			return out
		}
		j := strings.IndexByte(field[i:], '>')
		if j < 0 {
			return out
		}
		out = append(out, field[i:i+j+1])
		field = field[i+j+1:]
	}
}

// KeyOfAddress returns the KEY of queue+KEY@domain, if addr is one.
func KeyOfAddress(addr, queue, domain string) (string, bool) {
	addr = strings.ToLower(strings.TrimSpace(addr))
	local, dom, ok := strings.Cut(addr, "@")
	if !ok || dom != strings.ToLower(domain) {
		return "", false
	}
	base, key, ok := strings.Cut(local, "+")
	if !ok || base != queue || key == "" {
		return "", false
	}
	return key, true
}
