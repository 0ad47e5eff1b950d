package events

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// expected is what testdata/invitations/expected.json says of each message
// (written with the corpus, from the clients' formats, not from this
// parser).
type expected struct {
	UID      string  `json:"uid"`
	Summary  string  `json:"summary"`
	Method   string  `json:"method"`
	Sequence *int    `json:"sequence"`
	Start    *string `json:"start"`
	End      string  `json:"end"`
	IANA     *string `json:"iana"`
	Location string  `json:"location"`
	PostCode string  `json:"postal_code"`
	Status   *string `json:"status"`
	AllDay   bool    `json:"all_day"`
}

// The corpus: real-looking invitations as Thunderbird, Outlook (Exchange
// and desktop, Windows zone names, overseas territories), Google Calendar
// (UTC, all-day, recurring with an exception), Apple Calendar, Nextcloud
// and a website export send them, an update and a cancellation, and a
// broken one.
func TestInvitationCorpus(t *testing.T) {
	b, err := os.ReadFile("testdata/invitations/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]expected
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) < 14 {
		t.Fatalf("%d messages in the corpus", len(names))
	}
	now := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	for _, name := range names {
		w := want[name]
		msg, err := os.ReadFile(filepath.Join("testdata/invitations", name))
		if err != nil {
			t.Fatal(err)
		}
		inv, err := FromMessage(msg, now)
		if w.Start == nil {
			if !errors.Is(err, ErrNoStart) {
				t.Errorf("%s: %v, want the no-start error", name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(inv.Events) != 1 {
			t.Errorf("%s: %d events, want 1 (the same invitation twice, or a series with an exception, is one)", name, len(inv.Events))
			continue
		}
		e := inv.Events[0]
		start, _ := time.Parse(time.RFC3339, *w.Start)
		end, _ := time.Parse(time.RFC3339, w.End)
		zone := DefaultZone
		if w.IANA != nil {
			zone = *w.IANA
		}
		status := Confirmed
		if w.Status != nil && *w.Status == "CANCELLED" {
			status = Cancelled
		}
		seq := 0
		if w.Sequence != nil {
			seq = *w.Sequence
		}
		if inv.Method != w.Method || e.UID != w.UID || e.Title != w.Summary || e.Sequence != seq ||
			!e.Start.Equal(start) || !e.End.Equal(end) || e.Zone != zone || e.Place != w.Location ||
			e.PostCode != w.PostCode || e.Status != status || e.AllDay != w.AllDay {
			t.Errorf("%s:\n got  %s %q %q seq %d %v – %v %s %q %s %s all-day %v\n want %s %q %q seq %d %v – %v %s %q %s %s all-day %v", name,
				inv.Method, e.UID, e.Title, e.Sequence, e.Start, e.End, e.Zone, e.Place, e.PostCode, e.Status, e.AllDay,
				w.Method, w.UID, w.Summary, seq, start, end, zone, w.Location, w.PostCode, status, w.AllDay)
		}
	}
}
