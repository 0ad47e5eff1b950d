package events

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Problem is what kept the hub from reading an event a person sent: a code
// the templates put in words in the person's language (the reasons of
// templates/*/event-refused.tmpl), the words of theirs it is about, and
// the cause, for the log. Go code holds no sentence for the person.
type Problem struct {
	Code  string // one of Problems
	Value string // the person's words in question ("31/02/2027 14h30"), bounded; "" when none
	Err   error  // the cause, if any, for the log
}

// What can be wrong with an event sent by mail.
const (
	ProblemNoEvent            = "no-event"            // neither an invitation nor a form
	ProblemNoStart            = "no-start"            // no start date
	ProblemNoTitle            = "no-title"            // no title
	ProblemEndsBeforeStart    = "ends-before-start"   // the end is before the start
	ProblemDateUnreadable     = "date-unreadable"     // Value: the date as written
	ProblemDateNonexistent    = "date-nonexistent"    // Value: 31/02/2027 14h30
	ProblemEndUnreadable      = "end-unreadable"      // Value: the end as written
	ProblemDurationUnreadable = "duration-unreadable" // Value: the duration as written
	ProblemZoneUnknown        = "zone-unknown"        // Value: the time zone named
	ProblemNoUID              = "no-uid"              // an invitation's event without UID
	ProblemBadUID             = "bad-uid"             // a UID too long or with control characters
	ProblemCalendarUnreadable = "calendar-unreadable" // the .ics does not parse
	ProblemMessageUnreadable  = "message-unreadable"  // the message does not parse (MIME)
)

// Problems lists every problem code, for the templates' tests.
var Problems = []string{ProblemNoEvent, ProblemNoStart, ProblemNoTitle, ProblemEndsBeforeStart, ProblemDateUnreadable,
	ProblemDateNonexistent, ProblemEndUnreadable, ProblemDurationUnreadable, ProblemZoneUnknown, ProblemNoUID,
	ProblemBadUID, ProblemCalendarUnreadable, ProblemMessageUnreadable}

// Error is for logs, in English; the person reads the templates' words.
func (p *Problem) Error() string {
	s := "events: " + p.Code
	if p.Value != "" {
		s += " " + strconv.Quote(p.Value)
	}
	if p.Err != nil {
		s += ": " + p.Err.Error()
	}
	return s
}

func (p *Problem) Unwrap() error { return p.Err }

// Is makes errors.Is(err, ErrNoStart) true for any Problem of that code.
func (p *Problem) Is(target error) bool {
	t, ok := target.(*Problem)
	return ok && t.Value == "" && t.Err == nil && t.Code == p.Code
}

// maxValue bounds what a refusal quotes of the person's words.
const maxValue = 80

// problem makes a Problem quoting value: control characters and invalid
// UTF-8 become a space, and more than maxValue characters are cut.
func problem(code, value string, err error) *Problem {
	return &Problem{Code: code, Value: bounded(value, maxValue), Err: err}
}

// bounded is s fit to quote to a person or in a log: valid UTF-8, no
// control characters, at most n characters.
func bounded(s string, n int) string {
	s = strings.ToValidUTF8(s, " ")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
