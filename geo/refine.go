package geo

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"codeberg.org/relais/relais/geo/internal/fold"
)

// LineError is a line of a La Poste file that Refine could not read.
type LineError struct {
	Line int // 1-based, the header being line 1
	Err  error
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

func (e LineError) Unwrap() error { return e.Err }

// LineErrors is the error Refine returns, with its result, when some lines
// could not be read.
type LineErrors []LineError

func (e LineErrors) Error() string {
	const show = 5
	var b strings.Builder
	for i, le := range e {
		if i == show {
			fmt.Fprintf(&b, "; and %d more", len(e)-show)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(le.Error())
	}
	return b.String()
}

// Refine reads La Poste's "base officielle des codes postaux" (the
// laposte_hexasmal file, published on data.gouv.fr under Licence Ouverte)
// and returns a copy of g in which every commune the file gives a position
// for has that position, with Located set to LocatedOfficial, and how many
// communes that is. g itself does not change.
//
// The file is CSV, separated by semicolons (or commas, or tabs: the header
// line says which), with a header naming its columns, in any order and in
// either of La Poste's spellings: "#Code_commune_INSEE" or
// "code_commune_insee" for the commune, and for the position
// "coordonnees_gps" or "_geopoint" ("47.2186, -1.5541", comma-separated
// latitude and longitude) or "latitude" and "longitude" columns. A commune
// appears on several lines, one per postal code and locality; the position
// of a line without a locality (Ligne_5 empty: the commune itself, not one
// of its former communes) wins, else the first one given.
//
// Three things might happen:
//   - the file cannot be read, or its header has no INSEE code or no
//     position column: Refine returns nil, 0 and that error;
//   - some lines cannot be read (too few columns, a position that is not
//     two numbers in range, a malformed INSEE code): Refine returns the
//     refined copy from the other lines, the count, and a LineErrors error
//     listing each bad line with its number;
//   - otherwise the refined copy, the count and nil.
//
// Lines with an empty position, or naming an INSEE code the gazetteer does
// not have (the file may be newer or older than it), are skipped without
// error.
func (g *Gazetteer) Refine(r io.Reader) (*Gazetteer, int, error) {
	br := bufio.NewReader(r)
	head, err := br.ReadString('\n')
	if err != nil && err != io.EOF {
		return nil, 0, fmt.Errorf("refine: read header: %w", err)
	}
	head = strings.TrimPrefix(strings.TrimRight(head, "\r\n"), "\uFEFF")
	comma := ','
	switch {
	case strings.Contains(head, ";"):
		comma = ';'
	case strings.Contains(head, "\t"):
		comma = '\t'
	}
	hr := csv.NewReader(strings.NewReader(head))
	hr.Comma = comma
	names, err := hr.Read()
	if err != nil {
		return nil, 0, fmt.Errorf("refine: header %q: %w", head, err)
	}
	col := map[string]int{}
	for i, n := range names {
		col[fold.Key(n)] = i // "#Code_commune_INSEE" -> "codecommuneinsee"
	}
	find := func(keys ...string) int {
		for _, k := range keys {
			if i, ok := col[k]; ok {
				return i
			}
		}
		return -1
	}
	cInsee := find("codecommuneinsee", "codeinsee", "codecommune")
	cGeo := find("coordonneesgps", "geopoint", "coordonneesgeographiques")
	cLat, cLon := find("latitude", "lat"), find("longitude", "lon")
	cLigne5 := find("ligne5")
	if cInsee < 0 {
		return nil, 0, fmt.Errorf("refine: header %q has no INSEE code column (Code_commune_INSEE)", head)
	}
	if cGeo < 0 && (cLat < 0 || cLon < 0) {
		return nil, 0, fmt.Errorf("refine: header %q has no position column (coordonnees_gps, _geopoint, or latitude and longitude)", head)
	}

	type found struct {
		p       Point
		commune bool // from a line without Ligne_5
	}
	pos := map[int32]found{}
	var bad LineErrors
	cr := csv.NewReader(br)
	cr.Comma = comma
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	cr.ReuseRecord = true
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			bad = append(bad, LineError{pe.Line + 1, pe.Err})
			continue
		}
		if err != nil {
			return nil, 0, fmt.Errorf("refine: %w", err)
		}
		line, _ := cr.FieldPos(0)
		line++ // the header was read apart
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		field := func(i int) string {
			if i < 0 || i >= len(rec) {
				return ""
			}
			return strings.TrimSpace(rec[i])
		}
		if cInsee >= len(rec) || max(cGeo, cLat, cLon) >= len(rec) {
			bad = append(bad, LineError{line, fmt.Errorf("%d fields, want %d", len(rec), len(names))})
			continue
		}
		code := strings.ToUpper(field(cInsee))
		if !isCode(code) {
			bad = append(bad, LineError{line, fmt.Errorf("bad INSEE code %q", code)})
			continue
		}
		var lat, lon string
		if cGeo >= 0 {
			geo := field(cGeo)
			if geo == "" {
				continue
			}
			var ok bool
			if lat, lon, ok = strings.Cut(geo, ","); !ok {
				bad = append(bad, LineError{line, fmt.Errorf("bad position %q, want \"latitude, longitude\"", geo)})
				continue
			}
		} else {
			lat, lon = field(cLat), field(cLon)
			if lat == "" && lon == "" {
				continue
			}
		}
		p, err := parsePoint(lat, lon)
		if err != nil {
			bad = append(bad, LineError{line, err})
			continue
		}
		id, ok := g.byINSEE[code]
		if !ok {
			continue
		}
		commune := field(cLigne5) == ""
		if f, seen := pos[id]; !seen || commune && !f.commune {
			pos[id] = found{p, commune}
		}
	}

	out := *g
	out.communes = append([]Commune(nil), g.communes...)
	for id, f := range pos {
		out.communes[id].Point = f.p
		out.communes[id].Located = LocatedOfficial
	}
	if len(bad) > 0 {
		return &out, len(pos), bad
	}
	return &out, len(pos), nil
}

func parsePoint(lat, lon string) (Point, error) {
	φ, err1 := strconv.ParseFloat(strings.TrimSpace(lat), 64)
	λ, err2 := strconv.ParseFloat(strings.TrimSpace(lon), 64)
	if err1 != nil || err2 != nil || φ < -90 || φ > 90 || λ < -180 || λ > 180 {
		return Point{}, fmt.Errorf("bad position %q, %q", lat, lon)
	}
	return Point{φ, λ}, nil
}
