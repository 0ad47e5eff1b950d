// Package icalcheck parses iCalendar feeds in tests with an independent
// parser, Python's icalendar (Debian's python3-icalendar), as a calendar
// client would.
package icalcheck

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"testing"
)

// Event is what the parser read of one VEVENT.
type Event struct {
	UID      string   `json:"uid"`
	Summary  string   `json:"summary"`
	Start    string   `json:"start"` // ISO 8601, as Python prints it
	End      string   `json:"end"`
	Location string   `json:"location"`
	Status   string   `json:"status"`
	Sequence int      `json:"sequence"`
	Themes   []string `json:"categories"`
	Geo      []float64
}

const script = `
import json, sys
from icalendar import Calendar
cal = Calendar.from_ical(sys.stdin.buffer.read())
out = []
for ev in cal.walk("VEVENT"):
    cats = []
    c = ev.get("categories")
    if c is not None:
        for v in (c if isinstance(c, list) else [c]):
            cats += [str(x) for x in v.cats]
    geo = ev.get("geo")
    out.append({"uid": str(ev.get("uid")), "summary": str(ev.get("summary")),
        "start": ev.decoded("dtstart").isoformat(), "end": ev.decoded("dtend").isoformat(),
        "location": str(ev.get("location", "")), "status": str(ev.get("status", "")),
        "sequence": int(ev.get("sequence", 0)), "categories": cats,
        "Geo": [geo.latitude, geo.longitude] if geo is not None else []})
json.dump({"name": str(cal.get("x-wr-calname", "")), "events": out}, sys.stdout)
`

// Parse reads feed with python3-icalendar; the test is skipped, saying
// why, when it is not installed.
func Parse(t testing.TB, feed []byte) (name string, events []Event) {
	t.Helper()
	if exec.Command("/usr/bin/python3", "-c", "import icalendar").Run() != nil {
		t.Skip("python3-icalendar not installed (apt-get install python3-icalendar)")
	}
	cmd := exec.Command("/usr/bin/python3", "-c", script)
	cmd.Stdin = bytes.NewReader(feed)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3-icalendar refused the feed: %v\n%s\n%s", err, stderr.Bytes(), feed)
	}
	var res struct {
		Name   string  `json:"name"`
		Events []Event `json:"events"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	return res.Name, res.Events
}
