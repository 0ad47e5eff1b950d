package templates

import (
	"fmt"
	"time"
)

var (
	frDays   = []string{"dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"}
	frMonths = []string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"}
)

// Day formats a day for a person, in t's zone: "jeudi 24 décembre 2026" or
// "Thursday 24 December 2026".
func Day(lang string, t time.Time) string {
	if lang == "en" {
		return t.Format("Monday 2 January 2006")
	}
	return fmt.Sprintf("%s %d %s %d", frDays[t.Weekday()], t.Day(), frMonths[t.Month()-1], t.Year())
}

// When formats the start of an event for a person, in t's zone, without
// the year: "samedi 12 octobre à 14h30", "samedi 12 octobre" for a whole
// day; "Saturday 12 October at 2:30 pm".
func When(lang string, t time.Time, allDay bool) string {
	if lang == "en" {
		if allDay {
			return t.Format("Monday 2 January")
		}
		return t.Format("Monday 2 January at 3:04 pm")
	}
	day := fmt.Sprintf("%s %d %s", frDays[t.Weekday()], t.Day(), frMonths[t.Month()-1])
	if t.Day() == 1 {
		day = fmt.Sprintf("%s 1er %s", frDays[t.Weekday()], frMonths[t.Month()-1])
	}
	if allDay {
		return day
	}
	if t.Minute() == 0 {
		return fmt.Sprintf("%s à %dh", day, t.Hour())
	}
	return fmt.Sprintf("%s à %dh%02d", day, t.Hour(), t.Minute())
}
