// Package address is in charge of deciding what an address on the hub's
// domains is: a territory code (département, circonscription or national),
// a group or list address CODE.NAME with an optional +detail, a VERP bounce
// address, or one of the role addresses RFC 5321 §4.5.1 and RFC 2142 require.
//
// It is the one place in relais that reads a local part. It knows the
// grammar and the territory table; whether a given group exists is the
// store's business, asked by the router in package hub. It also says how an
// address shows in a log line (Redact): without the secrets its +detail
// may carry.
package address

import (
	"bufio"
	_ "embed"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// circonscriptionsTSV is the table of départements and collectivities with
// their number of circonscriptions législatives (577 in all). Source and
// licence are in the file's header lines.
//
//go:embed circonscriptions.tsv
var circonscriptionsTSV string

// Departement is a département or collectivity that elects deputies, or 99
// for the French residents abroad.
type Departement struct {
	Code             string // "44", "2A", "974", "99"
	Name             string // "Loire-Atlantique"
	Region           string // INSEE région code, empty for 99
	Circonscriptions int    // how many circonscriptions it has, fixed by law
}

var departements = loadDepartements()

func loadDepartements() map[string]Departement {
	m := make(map[string]Departement)
	sc := bufio.NewScanner(strings.NewReader(circonscriptionsTSV))
	header := true
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if header { // column names
			header = false
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			panic("address: bad line in circonscriptions.tsv: " + line)
		}
		n, err := strconv.Atoi(f[3])
		if err != nil || n < 1 || n > 99 {
			panic("address: bad circonscription count in circonscriptions.tsv: " + line)
		}
		m[f[0]] = Departement{Code: f[0], Name: f[1], Region: f[2], Circonscriptions: n}
	}
	return m
}

// Departements returns every département and collectivity, sorted by code.
func Departements() []Departement {
	out := make([]Departement, 0, len(departements))
	for _, d := range departements {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}

// LookupDepartement returns the département with the given code ("44",
// "2a", "974"), case-insensitively.
func LookupDepartement(code string) (Departement, bool) {
	d, ok := departements[strings.ToUpper(code)]
	return d, ok
}

// Level says how much territory a code covers.
type Level int

const (
	National        Level = iota // fr
	DepartementLvl               // DD or DDD
	Circonscription              // DDCC or DDDCC
)

// Code is a validated territory code. Its zero value is not valid; get one
// from ParseCode.
type Code struct {
	Level           Level
	Departement     string // "44", "2A", "974"; empty for National
	Circonscription int    // 1..N for Circonscription, else 0
}

// String returns the canonical form of the code: "fr", "44", "2A", "4405",
// "97402".
func (c Code) String() string {
	switch c.Level {
	case National:
		return "fr"
	case DepartementLvl:
		return c.Departement
	default:
		return fmt.Sprintf("%s%02d", c.Departement, c.Circonscription)
	}
}

// Local returns the code as it appears in a local part: lower case.
func (c Code) Local() string { return strings.ToLower(c.String()) }

// Contains reports whether the territory c covers the territory o: fr covers
// everything, 44 covers 44 and 4401..4410, 4405 covers only itself.
func (c Code) Contains(o Code) bool {
	switch c.Level {
	case National:
		return true
	case DepartementLvl:
		return o.Level != National && o.Departement == c.Departement
	default:
		return c == o
	}
}

// CodeProblem says why a territory code was refused, as a name the
// templates put in words (the SMTP reply bad-address in
// templates/replies.tmpl), in French and in English.
type CodeProblem string

// Why a code is refused. The first four are codes that do not follow the
// grammar; the others follow it but name no territory.
const (
	CodeEmpty             CodeProblem = "empty"               // ""
	CodeSyntax            CodeProblem = "syntax"              // not fr, digits, 2A or 2B
	CodeTooShort          CodeProblem = "too-short"           // one character
	CodeTooLong           CodeProblem = "too-long"            // more than five
	CodeCorsica20         CodeProblem = "corsica-20"          // 20, 20CC: Corsica is 2A and 2B
	CodeOverseasTwoDigits CodeProblem = "overseas-two-digits" // 97, 98: overseas départements have three digits
	CodeCorsicaLetter     CodeProblem = "corsica-letter"      // 2C…2Z
	CodeNoDepartement     CodeProblem = "no-departement"      // 96, 00, 978…
	CodeNoCirconscription CodeProblem = "no-circonscription"  // 4411: Departement has Count
)

// CodeProblems lists every CodeProblem, for the templates' tests.
var CodeProblems = []CodeProblem{CodeEmpty, CodeSyntax, CodeTooShort, CodeTooLong, CodeCorsica20,
	CodeOverseasTwoDigits, CodeCorsicaLetter, CodeNoDepartement, CodeNoCirconscription}

// CodeError says why a territory code was refused: Problem and the facts
// the templates need to say it to a person (the département in question,
// and for CodeNoCirconscription its name, how many circonscriptions it has
// and the number given); Reason is the same in an English sentence, for
// operators (the command line, logs).
type CodeError struct {
	Code        string // what was given
	Problem     CodeProblem
	Departement string // "44", "2C", "97": the département code given, for the problems that name one
	Name        string // "Loire-Atlantique" (CodeNoCirconscription)
	Count       int    // its circonscriptions (CodeNoCirconscription)
	Number      string // the circonscription given: "11" (CodeNoCirconscription)
	Reason      string
}

func (e *CodeError) Error() string {
	return fmt.Sprintf("invalid territory code %q: %s", e.Code, e.Reason)
}

// Unknown reports whether the code follows the grammar of territory codes
// but names no territory (a département or circonscription that does not
// exist), rather than not being a code at all.
func (e *CodeError) Unknown() bool {
	switch e.Problem {
	case CodeEmpty, CodeSyntax, CodeTooShort, CodeTooLong:
		return false
	}
	return true
}

// ParseCode validates a territory code against the table of départements and
// their circonscriptions: "fr", "DD", "DDD", "DDCC", "DDDCC", with 2A and 2B
// for Corsica. Letters are accepted in any case.
func ParseCode(s string) (Code, error) {
	bad := func(p CodeProblem, dep string, format string, a ...any) (Code, error) {
		return Code{}, &CodeError{Code: s, Problem: p, Departement: dep, Reason: fmt.Sprintf(format, a...)}
	}
	if len(s) > 5 {
		// Longer than any code: said so before anything else is read.
		return bad(CodeTooLong, "", "too long: a territory code has at most 5 characters (97402)")
	}
	u := strings.ToUpper(s)
	if u == "FR" {
		return Code{Level: National}, nil
	}
	if u == "" {
		return bad(CodeEmpty, "", "empty code")
	}
	for i, r := range u {
		isCorsica := i == 1 && r >= 'A' && r <= 'Z' && u[0] == '2' // 2A, 2B; other letters get a reason below
		if (r < '0' || r > '9') && !isCorsica {
			return bad(CodeSyntax, "", "a territory code is fr, a département (44, 2A, 974) or a département followed by a two-digit circonscription (4405, 2A01, 97402)")
		}
	}
	switch len(u) {
	case 1:
		return bad(CodeTooShort, "", "a département has two characters (01 to 95, 2A, 2B, 99) or three (971 to 988)")
	case 2, 3:
		if _, ok := departements[u]; ok {
			return Code{Level: DepartementLvl, Departement: u}, nil
		}
		p, reason := unknownDepartement(u)
		return bad(p, u, "%s", reason)
	default: // 4, 5
		dep, cc := u[:len(u)-2], u[len(u)-2:]
		d, ok := departements[dep]
		if !ok {
			p, reason := unknownDepartement(dep)
			return bad(p, dep, "%s", reason)
		}
		n, _ := strconv.Atoi(cc) // two ASCII digits, checked above
		if n < 1 || n > d.Circonscriptions {
			return Code{}, &CodeError{Code: s, Problem: CodeNoCirconscription, Departement: d.Code, Name: d.Name,
				Count: d.Circonscriptions, Number: cc,
				Reason: fmt.Sprintf("%s (%s) has %d circonscription%s, numbered 01 to %02d; %s does not exist",
					d.Name, d.Code, d.Circonscriptions, plural(d.Circonscriptions), d.Circonscriptions, cc)}
		}
		return Code{Level: Circonscription, Departement: dep, Circonscription: n}, nil
	}
}

func unknownDepartement(dep string) (CodeProblem, string) {
	switch {
	case dep == "20":
		return CodeCorsica20, "20 is no longer a département: Corsica is 2A (Corse-du-Sud) and 2B (Haute-Corse)"
	case len(dep) == 2 && dep[0] == '9' && (dep[1] == '7' || dep[1] == '8'):
		return CodeOverseasTwoDigits, dep + " is not a département: overseas départements and collectivities have three digits (971 to 988)"
	case strings.HasPrefix(dep, "2") && len(dep) == 2 && dep[1] >= 'A':
		return CodeCorsicaLetter, dep + " is not a département: Corsica is 2A or 2B"
	default:
		return CodeNoDepartement, dep + " is not a département or collectivity that elects deputies"
	}
}

func plural(n int) string {
	if n > 1 {
		return "s"
	}
	return ""
}
