package events

import (
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// Form is an event written as a short text, for those who do not send
// invitations. One field per line, French or English names, then a blank
// line and the description:
//
//	Titre : Réunion publique sur le logement
//	Date : samedi 12 décembre 2026 à 14h30
//	Fin : 16h30                      (or Durée : 2h)
//	Lieu : Salle des fêtes, 12 rue de la Paix, 44000 Nantes
//	Thèmes : logement, climat
//	Public : oui                     (non: members only)
//
//	Venez nombreux !
//
// To change an event made this way, send the form again with the line
// "Id : UID" the hub's answer gave; "Statut : annulé" cancels it.
type Form struct {
	Event
	HasUID bool // the form named an existing event
}

var formFields = map[string]string{
	"titre": "title", "title": "title", "sujet": "title", "objet": "title",
	"date": "date", "debut": "date", "start": "date", "quand": "date", "when": "date",
	"fin": "end", "end": "end", "jusqu'a": "end", "until": "end",
	"duree": "duration", "duration": "duration",
	"lieu": "place", "adresse": "place", "place": "place", "location": "place", "where": "place", "ou": "place",
	"themes": "themes", "theme": "themes", "tags": "themes", "themes/tags": "themes",
	"public": "public",
	"id":     "uid", "uid": "uid",
	"statut": "status", "status": "status", "etat": "status",
	"description": "details", "details": "details",
}

// ParseForm reads the form in text; now is when it was received (a date
// without a year is the next one), zone where its times are.
func ParseForm(text string, now time.Time, zone string) (Form, error) {
	var f Form
	f.Public, f.Status, f.Zone = true, Confirmed, zone
	if f.Zone == "" {
		f.Zone = DefaultZone
	}
	loc, err := time.LoadLocation(f.Zone)
	if err != nil {
		return f, problem(ProblemZoneUnknown, f.Zone, err)
	}
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	var date, end, duration string
	found := 0
	i := 0
	for ; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if line == "" {
			if found > 0 {
				break
			}
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		key := formFields[fold(strings.TrimSpace(name))]
		if !ok || key == "" {
			if found > 0 {
				break // the description starts without a blank line
			}
			continue
		}
		found++
		value = strings.TrimSpace(value)
		switch key {
		case "title":
			f.Title = value
		case "date":
			date = value
		case "end":
			end = value
		case "duration":
			duration = value
		case "place":
			f.Place = value
		case "themes":
			for _, t := range strings.FieldsFunc(value, func(r rune) bool { return r == ',' || r == ';' }) {
				f.Themes = append(f.Themes, strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(t), "#")))
			}
		case "public":
			v := fold(value)
			for _, no := range []string{"non", "no", "membre", "member", "prive", "private"} {
				if v == no || strings.HasPrefix(v, no+" ") || strings.HasPrefix(v, no+"s") || strings.HasPrefix(v, no+"(") {
					f.Public = false
				}
			}
		case "uid":
			f.UID, f.HasUID = value, value != ""
		case "status":
			switch fold(value) {
			case "annule", "annulee", "cancelled", "canceled":
				f.Status = Cancelled
			}
		case "details":
			f.Details = value
		}
	}
	if found == 0 {
		return f, ErrNoEvent
	}
	f.PostCode = PostCode(f.Place)
	if rest := strings.TrimSpace(strings.Join(lines[i:], "\n")); rest != "" {
		if f.Details != "" {
			f.Details += "\n"
		}
		f.Details += rest
	}
	if date == "" {
		if f.HasUID && f.Status == Cancelled {
			return f, nil // "Id : …, Statut : annulé" is enough
		}
		return f, ErrNoStart
	}
	start, hasTime, err := parseDate(date, now.In(loc), loc)
	if err != nil {
		return f, err
	}
	f.Start, f.AllDay = start, !hasTime
	switch {
	case end != "":
		e, endHasTime, err := parseDate(end, start, loc)
		if err != nil {
			// "Fin : 16h30": a time on the start's day.
			h, m, ok := clock(end)
			if !ok {
				return f, problem(ProblemEndUnreadable, end, err)
			}
			e, endHasTime = time.Date(start.Year(), start.Month(), start.Day(), h, m, 0, 0, loc), true
		}
		if f.AllDay && !endHasTime {
			e = e.AddDate(0, 0, 1) // an all-day event ends the next midnight
		}
		f.End = e
	case duration != "":
		d, err := parseDuration(duration)
		if err != nil {
			return f, err
		}
		f.End = start.Add(d)
	}
	if err := f.Check(); err != nil {
		return f, err
	}
	return f, nil
}

var months = map[string]time.Month{
	"janvier": 1, "fevrier": 2, "mars": 3, "avril": 4, "mai": 5, "juin": 6, "juillet": 7, "aout": 8,
	"septembre": 9, "octobre": 10, "novembre": 11, "decembre": 12,
	"january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
	"september": 9, "october": 10, "november": 11, "december": 12,
	"janv": 1, "fevr": 2, "avr": 4, "juil": 7, "sept": 9, "oct": 10, "nov": 11, "dec": 12,
	"jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
}

var (
	numericDate = regexp.MustCompile(`\b(\d{1,2})[/.-](\d{1,2})(?:[/.-](\d{2,4}))?\b`)
	isoDate     = regexp.MustCompile(`\b(\d{4})-(\d{2})-(\d{2})\b`)
	wordDate    = regexp.MustCompile(`\b(\d{1,2})(?:er)?\s+([a-z]+)\.?(?:\s+(\d{4}))?\b`)
	clockRE     = regexp.MustCompile(`\b(\d{1,2})\s*(?:h|:)\s*(\d{2})?\b`)
)

// parseDate reads "12/10/2026 14h30", "2026-10-12 14:30", "samedi 12
// octobre 2026 à 14h30", "12 octobre 14h" (the next 12 October after
// ref). It reports whether a time of day was given.
func parseDate(s string, ref time.Time, loc *time.Location) (time.Time, bool, error) {
	f := fold(s)
	var y, d int
	var mo time.Month
	rest := f
	if m := isoDate.FindStringSubmatch(f); m != nil {
		y, _ = strconv.Atoi(m[1])
		n, _ := strconv.Atoi(m[2])
		mo = time.Month(n)
		d, _ = strconv.Atoi(m[3])
		rest = strings.Replace(f, m[0], " ", 1)
	} else if m := numericDate.FindStringSubmatch(f); m != nil {
		d, _ = strconv.Atoi(m[1])
		n, _ := strconv.Atoi(m[2])
		mo = time.Month(n)
		if m[3] != "" {
			y, _ = strconv.Atoi(m[3])
			if y < 100 {
				y += 2000
			}
		}
		rest = strings.Replace(f, m[0], " ", 1)
	} else if m := wordDate.FindStringSubmatch(f); m != nil && months[m[2]] != 0 {
		d, _ = strconv.Atoi(m[1])
		mo = months[m[2]]
		if m[3] != "" {
			y, _ = strconv.Atoi(m[3])
		}
		rest = strings.Replace(f, m[0], " ", 1)
	} else {
		return time.Time{}, false, problem(ProblemDateUnreadable, s, nil)
	}
	if mo < 1 || mo > 12 || d < 1 || d > 31 {
		return time.Time{}, false, problem(ProblemDateUnreadable, s, nil)
	}
	h, mi, hasTime := clock(rest)
	if y == 0 {
		y = ref.Year()
		if time.Date(y, mo, d, 23, 59, 0, 0, loc).Before(ref) {
			y++
		}
	}
	t := time.Date(y, mo, d, h, mi, 0, 0, loc)
	if t.Day() != d {
		return time.Time{}, false, problem(ProblemDateNonexistent, s, nil)
	}
	return t, hasTime, nil
}

// clock finds a time of day: "14h30", "14h", "14:30".
func clock(s string) (h, m int, ok bool) {
	c := clockRE.FindStringSubmatch(fold(s))
	if c == nil {
		return 0, 0, false
	}
	h, _ = strconv.Atoi(c[1])
	if c[2] != "" {
		m, _ = strconv.Atoi(c[2])
	}
	if h > 23 || m > 59 {
		return 0, 0, false
	}
	return h, m, true
}

// parseDuration reads "2h", "1h30", "90 min", "2 heures".
func parseDuration(s string) (time.Duration, error) {
	f := strings.ReplaceAll(fold(s), " ", "")
	if h, m, ok := clock(f); ok && strings.Contains(f, "h") {
		return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
	}
	if n, err := strconv.Atoi(strings.TrimRight(f, "minutes")); err == nil && n > 0 {
		return time.Duration(n) * time.Minute, nil
	}
	for _, unit := range []string{"heures", "heure", "hours", "hour"} {
		if n, err := strconv.Atoi(strings.TrimSuffix(f, unit)); err == nil && n > 0 {
			return time.Duration(n) * time.Hour, nil
		}
	}
	return 0, problem(ProblemDurationUnreadable, s, nil)
}

// fold lowers s and removes accents: "Thèmes" → "themes".
func fold(s string) string {
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(t, strings.ToLower(strings.TrimSpace(s)))
	if err != nil {
		return strings.ToLower(strings.TrimSpace(s))
	}
	return out
}
