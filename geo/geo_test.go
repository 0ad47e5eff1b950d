package geo

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // so the time zone test does not depend on the machine's zoneinfo
)

func mustINSEE(t *testing.T, g *Gazetteer, code string) Commune {
	t.Helper()
	c, ok := g.ByINSEE(code)
	if !ok {
		t.Fatalf("ByINSEE(%q): not found", code)
	}
	return c
}

func TestPostCodes(t *testing.T) {
	g := Default()
	for _, tc := range []struct {
		cp, insee, name, dept, zone string
		near                        Point   // where the commune is
		km                          float64 // how close its position must be
	}{
		{"44000", "44109", "Nantes", "44", "Europe/Paris", Point{47.218, -1.554}, 2},
		// Paris 11e: GeoNames' cities500 has no Paris arrondissements, so it
		// takes the position of Paris (Hôtel de Ville), 2.4 km from the
		// arrondissement's centre.
		{"75011", "75111", "Paris 11e Arrondissement", "75", "Europe/Paris", Point{48.86, 2.38}, 4},
		{"13016", "13216", "Marseille 16e Arrondissement", "13", "Europe/Paris", Point{43.36, 5.33}, 2},
		{"20000", "2A004", "Ajaccio", "2A", "Europe/Paris", Point{41.92, 8.74}, 2},
		{"97400", "97411", "Saint-Denis", "974", "Indian/Reunion", Point{-20.88, 55.45}, 2},
	} {
		cs := g.ByPostCode(tc.cp)
		if len(cs) == 0 {
			t.Errorf("ByPostCode(%s): nothing", tc.cp)
			continue
		}
		c := cs[0]
		if c.INSEE != tc.insee || c.Name != tc.name || c.Dept != tc.dept {
			t.Errorf("ByPostCode(%s)[0] = %s %s (%s), want %s %s (%s)", tc.cp, c.INSEE, c.Name, c.Dept, tc.insee, tc.name, tc.dept)
		}
		if z := c.TimeZone(); z != tc.zone {
			t.Errorf("%s: time zone %q, want %q", tc.name, z, tc.zone)
		}
		if d := Distance(c.Point, tc.near); d > tc.km {
			t.Errorf("%s at %v (%s): %.1f km from %v, want at most %g", tc.name, c.Point, c.Located, d, tc.near, tc.km)
		}
		if !slices.Contains(c.PostCodes, tc.cp) {
			t.Errorf("%s: postal codes %v lack %s", tc.name, c.PostCodes, tc.cp)
		}
	}
	paris11 := g.ByPostCode("75011")
	if len(paris11) != 1 || paris11[0].Parent != "75056" {
		t.Errorf("ByPostCode(75011) = %+v, want only Paris 11e, arrondissement of 75056", paris11)
	}
	if got := g.ByPostCode("00000"); got != nil {
		t.Errorf("ByPostCode(00000) = %v, want nil", got)
	}
}

// 44270 is shared by four communes of the Pays de Retz.
func TestSharedPostCode(t *testing.T) {
	var got []string
	for _, c := range Default().ByPostCode("44270") {
		got = append(got, c.INSEE+" "+c.Name)
	}
	want := []string{ // most populous first
		"44087 Machecoul-Saint-Même",
		"44119 Paulx",
		"44157 Saint-Étienne-de-Mer-Morte",
		"44090 La Marne",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ByPostCode(44270) = %q, want %q", got, want)
	}
}

// Saint-Aignan-Grandlieu (44150, 4,000 inhabitants, by Nantes' airport) is
// not in GeoNames' cities500. It shares 44860 with Pont-Saint-Martin, and
// its town hall is at about 47.125 N, 1.632 W, 4–5 km from the centres of
// Bouaye and Bouguenais, its neighbours to the west and north, which
// GeoNames places and which have other postal codes.
func TestFallbackPosition(t *testing.T) {
	g := Default()
	c := mustINSEE(t, g, "44150")
	if c.Located != LocatedPostCode {
		t.Fatalf("Saint-Aignan-Grandlieu located by %q, want %q", c.Located, LocatedPostCode)
	}
	psm := mustINSEE(t, g, "44130")
	if psm.Located != LocatedGeoNames || c.Point != psm.Point {
		t.Errorf("Saint-Aignan-Grandlieu at %v, want Pont-Saint-Martin's GeoNames position %v (%s), the only located commune of 44860", c.Point, psm.Point, psm.Located)
	}
	if d := Distance(c.Point, Point{47.125, -1.632}); d > 15 {
		t.Errorf("Saint-Aignan-Grandlieu placed %.1f km from its town hall", d)
	}
	for _, n := range []string{"44018", "44020"} { // Bouaye, Bouguenais
		o := mustINSEE(t, g, n)
		if o.Located != LocatedGeoNames {
			t.Errorf("%s located by %q, want geonames", o.Name, o.Located)
		}
		if d := Distance(c.Point, o.Point); d > 15 {
			t.Errorf("Saint-Aignan-Grandlieu placed %.1f km from its neighbour %s", d, o.Name)
		}
	}
}

func TestDistance(t *testing.T) {
	g := Default()
	km := func(a, b string) float64 { return Distance(mustINSEE(t, g, a).Point, mustINSEE(t, g, b).Point) }
	for _, tc := range []struct {
		a, b     string
		min, max float64
	}{
		{"44109", "44184", 50, 60},   // Nantes – Saint-Nazaire, 55 km
		{"75056", "13055", 650, 670}, // Paris – Marseille, 660 km
	} {
		if d := km(tc.a, tc.b); d < tc.min || d > tc.max {
			t.Errorf("Distance(%s, %s) = %.1f km, want %g–%g", tc.a, tc.b, d, tc.min, tc.max)
		}
	}
	// Exact cases on the sphere.
	quarter := math.Pi * EarthRadiusKm / 2
	for _, tc := range []struct {
		a, b Point
		want float64
	}{
		{Point{0, 0}, Point{0, 0}, 0},
		{Point{0, 0}, Point{90, 0}, quarter},
		{Point{0, 0}, Point{0, 90}, quarter},
		{Point{0, 179}, Point{0, -179}, 2 * math.Pi * EarthRadiusKm / 180}, // across the antimeridian
		{Point{0, 0}, Point{0, 180}, 2 * quarter},                          // antipodes
		{Point{47.2, -1.55}, Point{47.2, -1.55}, 0},
	} {
		if d := Distance(tc.a, tc.b); math.Abs(d-tc.want) > 1e-6 {
			t.Errorf("Distance(%v, %v) = %.9f, want %.9f", tc.a, tc.b, d, tc.want)
		}
		if d1, d2 := Distance(tc.a, tc.b), Distance(tc.b, tc.a); d1 != d2 {
			t.Errorf("Distance not symmetric: %v, %v", d1, d2)
		}
	}
}

// randomPoints mixes points spread over the sphere, dense points over
// metropolitan France, and points around overseas France, the poles and
// the antimeridian.
func randomPoints(r *rand.Rand, n int) []Point {
	centres := []Point{{46.5, 2.5}, {-21.1, 55.5}, {-17.6, -149.5}, {-14.3, -178.1}, {-22.3, 166.4}, {89.9, 0}, {-89.9, 40}, {0, 180}}
	ps := make([]Point, n)
	for i := range ps {
		switch i % 3 {
		case 0:
			ps[i] = Point{math.Asin(2*r.Float64()-1) * 180 / math.Pi, r.Float64()*360 - 180}
		case 1:
			ps[i] = Point{42 + 9*r.Float64(), -5 + 13*r.Float64()}
		default:
			c := centres[r.IntN(len(centres))]
			lon := c.Lon + (r.Float64()-0.5)*6
			if lon >= 180 {
				lon -= 360
			}
			ps[i] = Point{math.Max(-90, math.Min(90, c.Lat+(r.Float64()-0.5)*3)), lon}
		}
	}
	return ps
}

func TestWithinMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	ps := randomPoints(r, 3000)
	var ix Index
	for i, p := range ps {
		ix.Add(int32(i), p)
	}
	if ix.Len() != len(ps) {
		t.Fatalf("Len = %d, want %d", ix.Len(), len(ps))
	}
	type query struct {
		p      Point
		radius float64
	}
	var queries []query
	radii := []float64{0, 0.5, 5, 25, 80, 300, 2500, 15000, 25000}
	for i, q := range randomPoints(r, 400) {
		radius := radii[i%len(radii)]
		if i%4 == 3 {
			radius = r.Float64() * 200
		}
		queries = append(queries, query{q, radius})
	}
	for _, p := range ps[:50] { // on points, so radius 0 finds them
		queries = append(queries, query{p, 0})
	}
	// Where a grid goes wrong: across the antimeridian, by the poles, at
	// the edges of cells.
	for _, p := range []Point{{0, 179.95}, {0, -179.95}, {-14.3, -178.1}, {-14.3, 180}, {89.95, 10}, {-89.8, -170}, {46.25, 2.25}, {46.5, -0.0001}} {
		for _, radius := range []float64{10, 50, 120, 300, 1000} {
			queries = append(queries, query{p, radius})
		}
	}
	var total int
	for _, qr := range queries {
		q, radius := qr.p, qr.radius
		want := map[int32]float64{}
		for i, p := range ps {
			if d := Distance(q, p); d <= radius {
				want[int32(i)] = d
			}
		}
		got := map[int32]float64{}
		ix.Within(q, radius, func(id int32, km float64) {
			if _, dup := got[id]; dup {
				t.Errorf("Within(%v, %g): id %d twice", q, radius, id)
			}
			got[id] = km
		})
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Within(%v, %g) found %d points, brute force %d", q, radius, len(got), len(want))
		}
		total += len(want)
		hits := ix.Near(q, radius)
		if len(hits) != len(want) || !sort.SliceIsSorted(hits, func(i, j int) bool { return hits[i].Km < hits[j].Km }) {
			t.Fatalf("Near(%v, %g): %d hits, sorted %v", q, radius, len(hits), sort.SliceIsSorted(hits, func(i, j int) bool { return hits[i].Km < hits[j].Km }))
		}
	}
	if total == 0 {
		t.Fatal("no query found anything: the test tests nothing")
	}
	// A point exactly on the circle is in.
	var one Index
	a, b := Point{47.2, -1.55}, Point{47.3, -1.4}
	one.Add(7, b)
	if hits := one.Near(a, Distance(a, b)); len(hits) != 1 || hits[0].ID != 7 {
		t.Errorf("point on the circle: %v", hits)
	}
	if hits := one.Near(a, -1); hits != nil {
		t.Errorf("negative radius: %v", hits)
	}
}

func TestRefine(t *testing.T) {
	g := Default()
	f, err := os.Open("testdata/laposte_hexasmal.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, n, err := g.Refine(f)
	if r == nil {
		t.Fatalf("Refine: %v", err)
	}
	if n != 5 {
		t.Errorf("refined %d communes, want 5 (Nantes, Machecoul-Saint-Même, Saint-Aignan-Grandlieu, Paris 11e, Saint-Denis)", n)
	}
	var lerrs LineErrors
	if !errors.As(err, &lerrs) {
		t.Fatalf("err = %v, want LineErrors", err)
	}
	var lines []int
	for _, le := range lerrs {
		lines = append(lines, le.Line)
	}
	if !reflect.DeepEqual(lines, []int{11, 12, 13}) {
		t.Errorf("bad lines %v (%v), want 11 (Ajaccio, semicolon in the position), 12 (too short), 13 (Bouguenais, words)", lines, err)
	}
	for _, tc := range []struct {
		insee string
		want  Point
	}{
		{"44109", Point{47.2316356767, -1.54831008605}},
		{"44087", Point{46.9926393498, -1.81630853285}}, // the line without Ligne_5 wins
		{"75111", Point{48.8590592213, 2.38004504398}},
	} {
		c := mustINSEE(t, r, tc.insee)
		if c.Point != tc.want || c.Located != LocatedOfficial {
			t.Errorf("refined %s at %v (%s), want %v (official)", c.Name, c.Point, c.Located, tc.want)
		}
	}
	for _, insee := range []string{"98735", "2A004", "44184", "44020"} { // empty position, bad lines
		if c := mustINSEE(t, r, insee); c.Located == LocatedOfficial {
			t.Errorf("%s refined, want untouched", c.Name)
		}
	}
	if c := mustINSEE(t, g, "44109"); c.Located != LocatedGeoNames {
		t.Errorf("Refine changed the gazetteer it was called on: Nantes %s", c.Located)
	}
	if cs := r.ByPostCode("75011"); len(cs) != 1 || cs[0].Located != LocatedOfficial {
		t.Errorf("refined ByPostCode(75011) = %+v", cs)
	}

	// The newer spelling: lower-case header, _geopoint with a space, CRLF.
	f2, err := os.Open("testdata/laposte_hexasmal_geopoint.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	r2, n, err := g.Refine(f2)
	if err != nil || n != 3 {
		t.Fatalf("Refine(geopoint file) = %d, %v; want 3, nil", n, err)
	}
	if c := mustINSEE(t, r2, "44184"); c.Point != (Point{47.2802857028, -2.25379927249}) {
		t.Errorf("Saint-Nazaire at %v, want the commune's line, not Saint-Marc-sur-Mer's", c.Point)
	}

	// Comma-separated, with a BOM and latitude and longitude columns.
	csv := "\uFEFFcode_commune_insee,nom_de_la_commune,code_postal,latitude,longitude\n" +
		"44109,NANTES,44000,47.23,-1.55\n" +
		"44184,ST NAZAIRE,44600,,\n" +
		"2B033,BASTIA,20200,42.7,95000\n"
	_, n, err = g.Refine(strings.NewReader(csv))
	if n != 1 || !errors.As(err, &lerrs) || len(lerrs) != 1 || lerrs[0].Line != 4 {
		t.Errorf("Refine(comma file) = %d, %v; want 1, a bad line 4", n, err)
	}

	for _, head := range []string{
		"#Code_commune_INSEE;Nom_de_la_commune;Code_postal;Libellé_d_acheminement;Ligne_5\n44109;NANTES;44000;NANTES;\n",
		"nom;coordonnees_gps\nNANTES;47.2,-1.5\n",
		"",
	} {
		if r, _, err := g.Refine(strings.NewReader(head)); r != nil || err == nil {
			t.Errorf("Refine(%q) = %v, %v; want an error about the header", head, r, err)
		}
	}
}

func TestPlace(t *testing.T) {
	g := Default()
	for _, tc := range []struct{ q, insee string }{
		{"44600 Saint-Nazaire", "44184"},
		{"44600 ST NAZAIRE", "44184"},
		{"Saint-Nazaire 44600", "44184"},
		{"saint nazaire", "44184"},
		{"St Nazaire", "44184"},
		{"SAINT-NAZAIRE", "44184"},
		{"44000", "44109"},
		{" nantes ", "44109"},
		{"44109", "44109"}, // an INSEE code
		{"2a004", "2A004"}, // a Corsican INSEE code
		{"13001", "13201"}, // a postal code before an INSEE code (Aix-en-Provence)
		{"75011 Paris", "75111"},
		{"75011 Paris 11", "75111"},
		{"Paris", "75056"},
		{"Saint-Denis", "97411"}, // the most populous of that name: La Réunion's, then Seine-Saint-Denis' 93066
		{"93200 Saint-Denis", "93066"},
		{"97400 Saint-Denis", "97411"},
	} {
		c, err := g.Place(tc.q)
		if err != nil || c.INSEE != tc.insee {
			t.Errorf("Place(%q) = %s %s, %v; want %s", tc.q, c.INSEE, c.Name, err, tc.insee)
		}
	}
	for _, tc := range []struct{ q, why string }{
		{"99999", "no commune has postal code or INSEE code 99999"},
		{"Nulle-Part-sur-Mer", "no commune has that name"},
		{"44600 Nantes", "no commune of that name has code 44600 (it has Saint-Nazaire)"},
		{"", "empty"},
	} {
		_, err := g.Place(tc.q)
		if !errors.Is(err, ErrUnknownPlace) || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("Place(%q) error = %v, want ErrUnknownPlace saying %q", tc.q, err, tc.why)
		}
	}
}

func TestSearch(t *testing.T) {
	g := Default()
	want := g.Search("Saint-Nazaire")
	var got []string
	for _, c := range want {
		got = append(got, c.INSEE)
	}
	if !reflect.DeepEqual(got, []string{"44184", "66186", "30288"}) { // Loire-Atlantique, Pyrénées-Orientales, Gard
		t.Fatalf("Search(Saint-Nazaire) = %v, want 44184, 66186, 30288", got)
	}
	for _, q := range []string{"saint-nazaire", "St Nazaire", "SAINT NAZAIRE", "saint nazaire", "Saint–Nazaire"} {
		if got := g.Search(q); !reflect.DeepEqual(got, want) {
			t.Errorf("Search(%q) = %v, want Saint-Nazaire", q, got)
		}
	}
	for _, q := range []string{"Saint-Étienne", "saint etienne", "ST ETIENNE"} {
		if got := g.Search(q); len(got) == 0 || got[0].INSEE != "42218" {
			t.Errorf("Search(%q) = %v, want Saint-Étienne 42218 first", q, got)
		}
	}
	if got := g.Search("Moÿ-de-l'Aisne"); len(got) != 1 || got[0].INSEE != "02532" {
		t.Errorf("Search(Moÿ-de-l'Aisne) = %v", got)
	}
	cs := g.Search("Sainte-Colombe")
	if len(cs) < 10 || !sort.SliceIsSorted(cs, func(i, j int) bool { return cs[i].Population > cs[j].Population }) {
		t.Errorf("Search(Sainte-Colombe): %d communes, want ≥ 10, most populous first", len(cs))
	}
	if got := g.Search("Saint-Naz"); got != nil {
		t.Errorf("Search(Saint-Naz) = %v, want nothing (whole names only)", got)
	}
}

func TestTimeZone(t *testing.T) {
	for dept, want := range map[string]string{
		"01": "Europe/Paris", "44": "Europe/Paris", "95": "Europe/Paris", "2A": "Europe/Paris", "2B": "Europe/Paris",
		"971": "America/Guadeloupe", "972": "America/Martinique", "973": "America/Cayenne", "974": "Indian/Reunion",
		"975": "America/Miquelon", "976": "Indian/Mayotte", "977": "America/St_Barthelemy", "978": "America/Marigot",
		"986": "Pacific/Wallis", "987": "Pacific/Tahiti", "988": "Pacific/Noumea",
		"20": "", "96": "", "99": "", "00": "", "4a": "", "": "", "979": "",
	} {
		if got := TimeZone(dept); got != want {
			t.Errorf("TimeZone(%q) = %q, want %q", dept, got, want)
		}
		if want != "" {
			if _, err := time.LoadLocation(want); err != nil {
				t.Errorf("TimeZone(%q) = %q: %v", dept, want, err)
			}
		}
	}
	g := Default()
	for _, c := range g.Communes() {
		if c.TimeZone() == "" {
			t.Errorf("%s %s (%s) has no time zone", c.INSEE, c.Name, c.Dept)
		}
	}
	for insee, want := range map[string]string{"98735": "Pacific/Tahiti", "98731": "Pacific/Marquesas", "98719": "Pacific/Gambier", "2B033": "Europe/Paris"} {
		c := mustINSEE(t, g, insee)
		if got := c.TimeZone(); got != want {
			t.Errorf("%s: time zone %q, want %q", c.Name, got, want)
		}
		if _, err := time.LoadLocation(want); err != nil {
			t.Error(err)
		}
	}
}

func TestFigures(t *testing.T) {
	g := Default()
	located := map[string]int{}
	popBy := map[string]int{}
	var communes, arrondissements, pop int
	for _, c := range g.Communes() {
		if c.Parent != "" {
			arrondissements++
			continue
		}
		communes++
		located[c.Located]++
		popBy[c.Located] += c.Population
		pop += c.Population
	}
	t.Logf("%d communes, %d arrondissements municipaux", communes, arrondissements)
	for _, k := range []string{LocatedGeoNames, LocatedPostCode, LocatedEPCI, LocatedDepartement} {
		t.Logf("located by %-11s %6d communes (%5.2f %%), %5.2f %% of the population",
			k, located[k], 100*float64(located[k])/float64(communes), 100*float64(popBy[k])/float64(pop))
	}
	if communes < 34900 || communes > 35000 {
		t.Errorf("%d communes, want 34,900–35,000", communes)
	}
	if arrondissements != 45 {
		t.Errorf("%d arrondissements municipaux, want 45 (20 + 9 + 16)", arrondissements)
	}
	if n := located[LocatedGeoNames]; n < 14000 || n > 15500 {
		t.Errorf("%d communes located by GeoNames, want 14,000–15,500", n)
	}
	if share := float64(popBy[LocatedGeoNames]) / float64(pop); share < 0.85 {
		t.Errorf("GeoNames locates %.1f %% of the population, want ≥ 85 %%", 100*share)
	}
	if n := located[LocatedOfficial]; n != 0 {
		t.Errorf("%d communes official in the embedded data, want 0 (only Refine sets it)", n)
	}
}

func TestLoadErrors(t *testing.T) {
	good := "01001\tL'Abergement-Clémenciat\t860\t01400\t01\t84\t46.15255\t5.00989\tpostcode\t\n"
	if g, err := Load(strings.NewReader("# comment\n" + columns + "\n" + good)); err != nil || len(g.Communes()) != 1 {
		t.Fatalf("Load(one commune) = %v", err)
	}
	for _, tc := range []struct{ text, want string }{
		{"", "no header"},
		{"insee\tname\n" + good, "header"},
		{columns + "\n" + strings.Replace(good, "46.15255", "146.2", 1), "line 2: bad latitude"},
		{columns + "\n" + strings.Replace(good, "postcode", "guessed", 1), "line 2: bad located"},
		{columns + "\n" + good + good, "line 3: INSEE code 01001 twice"},
		{columns + "\n" + strings.Replace(good, "\t\n", "\t75056\n", 1), "unknown parent"},
	} {
		if _, err := Load(strings.NewReader(tc.text)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load: error %v, want one saying %q", err, tc.want)
		}
	}
}

func TestDefaultOnce(t *testing.T) {
	var wg sync.WaitGroup
	gs := make([]*Gazetteer, 8)
	for i := range gs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gs[i] = Default()
			gs[i].Place("44000")
		}()
	}
	wg.Wait()
	for _, g := range gs {
		if g != gs[0] {
			t.Fatal("Default returned two gazetteers")
		}
	}
}

// benchPoints are 20,000 points spread over metropolitan France, as the
// events or members of a national network would be.
func benchPoints() []Point {
	r := rand.New(rand.NewPCG(3, 4))
	ps := make([]Point, 20000)
	for i := range ps {
		ps[i] = Point{42.3 + 8.8*r.Float64(), -4.8 + 13*r.Float64()}
	}
	return ps
}

func BenchmarkWithin(b *testing.B) {
	ps := benchPoints()
	var ix Index
	for i, p := range ps {
		ix.Add(int32(i), p)
	}
	found := 0
	for i := 0; b.Loop(); i++ {
		ix.Within(ps[i%len(ps)], 25, func(int32, float64) { found++ })
	}
	b.ReportMetric(float64(found)/float64(b.N), "found/op")
}

// BenchmarkWithinBruteForce is the peer: Distance to every point.
func BenchmarkWithinBruteForce(b *testing.B) {
	ps := benchPoints()
	found := 0
	for i := 0; b.Loop(); i++ {
		q := ps[i%len(ps)]
		for _, p := range ps {
			if Distance(q, p) <= 25 {
				found++
			}
		}
	}
	b.ReportMetric(float64(found)/float64(b.N), "found/op")
}

// BenchmarkLoad is what the first call to Default costs.
func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		if _, err := loadEmbedded(); err != nil {
			b.Fatal(err)
		}
	}
}
