package digest

import (
	"encoding/json"
	"strconv"
)

// parseDigest reads a digest's selection as json.Marshal writes it
// ({"own":[{"ID":1,"Km":2.5}],…}) without encoding/json's reflection: a
// week's copies read one each (2 % of what a copy costs). Anything it does
// not expect, it leaves to json.Unmarshal; what it reads is what
// json.Unmarshal would (FuzzParseDigest).
func parseDigest(s string) (Digest, error) {
	if d, ok := parseSelection(s); ok {
		return d, nil
	}
	var d Digest
	err := json.Unmarshal([]byte(s), &d)
	return d, err
}

func parseSelection(s string) (Digest, bool) {
	var d Digest
	p := selParser{s: s}
	if !p.byte('{') {
		return d, false
	}
	if p.byte('}') {
		return d, p.end()
	}
	seen := 0
	for {
		var list *[]Item
		var bit int
		switch {
		case p.take(`"own":[`):
			list, bit = &d.Own, 1
		case p.take(`"near":[`):
			list, bit = &d.Near, 2
		case p.take(`"themes":[`):
			list, bit = &d.Themes, 4
		case p.take(`"cancelled":[`):
			list, bit = &d.Cancelled, 8
		default:
			return d, false // null, keys in another case…
		}
		if seen&bit != 0 {
			return d, false // a list named twice
		}
		seen |= bit
		if p.byte(']') {
			*list = []Item{} // as json.Unmarshal makes it
		} else {
			for {
				var it Item
				var ok bool
				if !p.take(`{"ID":`) {
					return d, false
				}
				if it.ID, ok = p.int(); !ok || !p.take(`,"Km":`) {
					return d, false
				}
				if it.Km, ok = p.float(); !ok || !p.byte('}') {
					return d, false
				}
				*list = append(*list, it)
				if p.byte(']') {
					break
				}
				if !p.byte(',') {
					return d, false
				}
			}
		}
		if p.byte('}') {
			return d, p.end()
		}
		if !p.byte(',') {
			return d, false
		}
	}
}

// selParser reads s from i, without whitespace (json.Marshal writes none).
type selParser struct {
	s string
	i int
}

func (p *selParser) byte(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *selParser) take(w string) bool {
	if len(p.s)-p.i >= len(w) && p.s[p.i:p.i+len(w)] == w {
		p.i += len(w)
		return true
	}
	return false
}

func (p *selParser) end() bool { return p.i == len(p.s) }

// digits moves past the digits at i and says how many there were.
func (p *selParser) digits() int {
	j := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	return p.i - j
}

// number moves past a JSON number (RFC 8259 §6) and returns it, or "" if
// there is none; frac says whether it has a fraction or an exponent.
func (p *selParser) number() (n string, frac bool) {
	start := p.i
	p.byte('-')
	switch {
	case p.byte('0'):
	case p.digits() == 0:
		return "", false
	}
	if p.byte('.') {
		frac = true
		if p.digits() == 0 {
			return "", false
		}
	}
	if p.byte('e') || p.byte('E') {
		frac = true
		if !p.byte('+') {
			p.byte('-')
		}
		if p.digits() == 0 {
			return "", false
		}
	}
	return p.s[start:p.i], frac
}

func (p *selParser) int() (int64, bool) {
	n, frac := p.number()
	if n == "" || frac {
		return 0, false
	}
	v, err := strconv.ParseInt(n, 10, 64)
	return v, err == nil
}

func (p *selParser) float() (float64, bool) {
	n, _ := p.number()
	if n == "" {
		return 0, false
	}
	v, err := strconv.ParseFloat(n, 64)
	return v, err == nil
}
