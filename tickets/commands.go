package tickets

import (
	"strings"
)

// Command is one line such as "#fermer" or "#assigner camille@" at the top
// of an operator's message.
type Command struct {
	Name string // close, solve, pending, open, assign, note; "" when not understood
	Arg  string
	Line string
}

// commandNames maps what operators write, in French and English, to a
// command.
var commandNames = map[string]string{
	"fermer": "close", "close": "close", "clore": "close", "clôturer": "close", "cloturer": "close",
	"résolu": "solve", "resolu": "solve", "solved": "solve", "solve": "solve", "resolve": "solve",
	"attente": "pending", "pending": "pending", "en-attente": "pending",
	"ouvrir": "open", "open": "open", "rouvrir": "open", "réouvrir": "open", "reopen": "open",
	"assigner": "assign", "assign": "assign", "attribuer": "assign",
	"note": "note", "interne": "note", "internal": "note",
}

// Commands takes the command lines off the top of text: the lines that
// start with '#' before the first other line. It returns them and the
// rest of the text.
func Commands(text string) ([]Command, string) {
	lines := strings.Split(text, "\n")
	var cmds []Command
	i := 0
	for ; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if l == "" {
			continue
		}
		word, ok := strings.CutPrefix(l, "#")
		if !ok || word == "" || len(l) > 200 {
			break
		}
		name, arg, _ := strings.Cut(word, " ")
		if n := strings.IndexAny(name, ":\t"); n >= 0 {
			arg = strings.TrimSpace(name[n+1:] + " " + arg)
			name = name[:n]
		}
		if strings.HasPrefix(name, "#") || strings.TrimLeft(name, "0123456789") == "" {
			break // "##" or "#12": text, not a command
		}
		cmds = append(cmds, Command{Name: commandNames[strings.ToLower(name)], Arg: strings.TrimSpace(arg), Line: l})
	}
	return cmds, strings.TrimSpace(strings.Join(lines[i:], "\n"))
}
