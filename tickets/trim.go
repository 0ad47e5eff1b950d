package tickets

import (
	"regexp"
	"strings"
	"unicode"
)

// Trim returns what the author of a reply newly wrote in text, for
// display and notifications: the raw message is kept whole elsewhere.
//
// It removes, in this order:
//   - an unmarked quote and everything after it: Outlook's
//     "De : / Envoyé : / À : / Objet :" block (or its English form),
//     "-----Message d'origine-----", "-----Original Message-----", the
//     "____" separator, an attribution line followed by unmarked text;
//   - attribution lines ("Le … a écrit :", "On … wrote:", also wrapped over
//     two or three lines, with a non-breaking space before the colon);
//   - the signature: from a "-- " line, or from a mobile or webmail line
//     ("Envoyé de mon iPhone", "Sent from my …", "Obtenir Outlook pour iOS");
//   - quoted lines ("> "): a reply written above or below the quote keeps
//     its one block of new text; answers written inside the quote (two
//     blocks of new text or more) keep the quoted lines between them, from
//     the quote the first answer follows to the last answer.
func Trim(text string) string {
	lines := splitLines(text)
	lines = lines[:unmarkedQuote(lines)]
	lines = dropAttributions(lines)
	lines = lines[:signature(lines)]
	return tidy(answers(lines))
}

// splitLines splits text into lines without their ends, non-breaking and
// other odd spaces made plain.
func splitLines(text string) []string {
	text = strings.NewReplacer("\r\n", "\n", "\r", "\n", "\u00a0", " ", "\u202f", " ", "\u2007", " ", "\ufeff", "").Replace(text)
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRightFunc(l, unicode.IsSpace)
	}
	return lines
}

func quoted(l string) bool { return strings.HasPrefix(strings.TrimLeft(l, " "), ">") }

func blank(l string) bool { return strings.TrimSpace(l) == "" }

var (
	// Separators above a quoted message (Outlook, Thunderbird's forward,
	// ProtonMail).
	separatorRE = regexp.MustCompile(`(?i)^\s*-{2,}\s*(original message|message d'origine|message d’origine|messaggio originale|ursprüngliche nachricht|forwarded message|message transféré|mensaje original)\s*-{2,}\s*$`)
	underlineRE = regexp.MustCompile(`^\s*_{10,}\s*$`)
	// Outlook's header block, first line and the ones that follow; Gmail
	// renders the bold labels with stars.
	headerFromRE = regexp.MustCompile(`(?i)^\s*\*?(de|from|von|da)\s*:\*?\s*\S`)
	headerNextRE = regexp.MustCompile(`(?i)^\s*\*?(envoyé|envoye|sent|date|gesendet|inviato|à|a|to|an|objet|subject|betreff|oggetto|cc)\s*:`)
	// Attribution lines, joined with the next ones when a client wrapped
	// them.
	attribStartRE = regexp.MustCompile(`(?i)^\s*(le|on|am|el|il)\s`)
	attribEndRE   = regexp.MustCompile(`(?i)(a écrit|a ecrit|wrote|schrieb|escribió|ha scritto)\s*:\s*$`)
	// Mobile and webmail signatures.
	mobileRE = regexp.MustCompile(`(?i)^\s*(envoyé|envoye|sent|expédié)\s+(de|depuis|from|with|avec)\s+(mon|ma|my|l'|un|une|yahoo|outlook|mail|gmail|proton|la messagerie)|^\s*(get|obtenir|télécharger|telecharger)\s+outlook\s+(for|pour)\b|^\s*(envoyé|sent)\s+(avec|with)\s+.*proton\s*mail`)
)

// unmarkedQuote returns where a quote whose lines carry no "> " starts, or
// len(lines).
func unmarkedQuote(lines []string) int {
	for i, l := range lines {
		if quoted(l) {
			continue
		}
		if separatorRE.MatchString(l) {
			return i
		}
		if underlineRE.MatchString(l) && headerBlockAt(lines, nextText(lines, i+1)) {
			return i
		}
		if headerBlockAt(lines, i) {
			return i
		}
		if n := attribution(lines, i); n > 0 {
			// An attribution followed by unmarked text: the quote is not
			// marked (HTML rendered to text, some webmails).
			if j := nextText(lines, i+n); j < len(lines) && !quoted(lines[j]) {
				return i
			}
		}
	}
	return len(lines)
}

// headerBlockAt says whether lines[i] starts Outlook's "De : … Objet :"
// block: a From line followed closely by at least two other fields.
func headerBlockAt(lines []string, i int) bool {
	if i >= len(lines) || !headerFromRE.MatchString(lines[i]) {
		return false
	}
	n := 0
	for j := i + 1; j < len(lines) && j <= i+6; j++ {
		if headerNextRE.MatchString(lines[j]) {
			n++
		}
	}
	return n >= 2
}

func nextText(lines []string, i int) int {
	for i < len(lines) && blank(lines[i]) {
		i++
	}
	return i
}

// attribution returns how many lines starting at lines[i] make an
// attribution ("Le … a écrit :"), 0 if none.
func attribution(lines []string, i int) int {
	if !attribStartRE.MatchString(lines[i]) {
		return 0
	}
	joined := ""
	for n := 1; n <= 3 && i+n <= len(lines); n++ {
		l := lines[i+n-1]
		if n > 1 && (quoted(l) || blank(l)) {
			return 0
		}
		joined += " " + strings.TrimSpace(l)
		if len(joined) > 400 {
			return 0
		}
		if attribEndRE.MatchString(joined) {
			return n
		}
	}
	return 0
}

// dropAttributions removes the attribution lines before quotes.
func dropAttributions(lines []string) []string {
	out := lines[:0:0]
	for i := 0; i < len(lines); i++ {
		if !quoted(lines[i]) {
			if n := attribution(lines, i); n > 0 {
				i += n - 1
				continue
			}
		}
		out = append(out, lines[i])
	}
	return out
}

// signature returns where the author's signature starts, or len(lines).
func signature(lines []string) int {
	for i, l := range lines {
		if quoted(l) {
			continue
		}
		if l == "--" || l == "-- " || strings.TrimSpace(l) == "--" {
			return i
		}
		if len(l) < 100 && mobileRE.MatchString(l) {
			return i
		}
	}
	return len(lines)
}

// answers keeps the new text among quoted lines (see Trim).
func answers(lines []string) []string {
	type block struct{ start, end int } // [start, end) of unquoted text
	var blocks []block
	in := false
	for i, l := range lines {
		switch {
		case quoted(l):
			in = false
		case blank(l):
		case in:
			blocks[len(blocks)-1].end = i + 1
		default:
			blocks = append(blocks, block{i, i + 1})
			in = true
		}
	}
	switch len(blocks) {
	case 0:
		return nil
	case 1:
		return lines[blocks[0].start:blocks[0].end]
	}
	start := blocks[0].start
	for start > 0 && (quoted(lines[start-1]) || blank(lines[start-1])) {
		start--
	}
	return lines[start:blocks[len(blocks)-1].end]
}

// tidy drops leading and trailing blank lines and runs of blank lines.
func tidy(lines []string) string {
	var b strings.Builder
	blanks := 0
	for _, l := range lines {
		if blank(l) {
			blanks++
			continue
		}
		if b.Len() > 0 && blanks > 0 {
			b.WriteString("\n")
		}
		blanks = 0
		b.WriteString(l)
		b.WriteString("\n")
	}
	return strings.TrimRight(b.String(), "\n")
}
