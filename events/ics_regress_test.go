package events

import (
	"strings"
	"testing"
	"time"
)

// BUG 6: go-ical's decoder panics on a parameter without a value
// ("X;P=" at the end of a line); ParseICS does not guard it.
func TestRegressParseICSPanics(t *testing.T) {
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("ParseICS panicked: %v", p)
		}
	}()
	ParseICS(strings.NewReader("0;0="))
	msg := "From: a@b\r\nContent-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\nDTSTART;TZID=\r\n"
	FromMessage([]byte(msg), time.Now())
}
