package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"codeberg.org/relais/relais/geo"
	"codeberg.org/relais/relais/hub"
)

const geoDoc = `The embedded gazetteer: French postal codes and communes, their positions.

  relais geo find QUERY       a postal code, an INSEE code or a commune name
                              ("44600", "44184", "Saint-Nazaire", "44600 Saint-Nazaire")
  relais geo import FILE.csv  official positions (La Poste's base officielle des codes
                              postaux with its coordinates column) that refine the
                              embedded ones; kept in DATA_DIR/` + hub.GeoFile + `, read at start`

func runGeo(args []string) error {
	sub, args, ok := subcommand(args, "geo find|import …", geoDoc)
	if !ok {
		return nil
	}
	fs := newFlags("geo "+sub, "…", geoDoc)
	var d dataFlags
	d.add(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	c, err := d.load()
	if err != nil {
		return err
	}
	switch sub {
	case "find":
		if len(pos) == 0 {
			return usagef("geo find takes a postal code, an INSEE code or a name")
		}
		g, err := hub.OpenGazetteer(c.DataDir, newLogger(c))
		if err != nil {
			return err
		}
		q := strings.Join(pos, " ")
		found, err := g.Place(q)
		if err != nil {
			return err
		}
		list := g.ByPostCode(q)
		if len(list) == 0 {
			list = []geo.Commune{found}
		}
		for _, cm := range list {
			fmt.Printf("%s  %-30s  %s  dept %s  pop %d  %.5f,%.5f (%s)  %s\n", cm.INSEE, cm.Name, strings.Join(cm.PostCodes, ","),
				cm.Dept, cm.Population, cm.Point.Lat, cm.Point.Lon, cm.Located, cm.TimeZone())
		}
	case "import":
		if len(pos) != 1 {
			return usagef("geo import takes one FILE.csv")
		}
		b, err := os.ReadFile(pos[0])
		if err != nil {
			return err
		}
		_, n, err := geo.Default().Refine(strings.NewReader(string(b)))
		var lines geo.LineErrors
		switch {
		case errors.As(err, &lines):
			fmt.Fprintf(os.Stderr, "%d lines not read:\n%v\n", len(lines), err)
		case err != nil:
			return err
		}
		dst := filepath.Join(c.DataDir, hub.GeoFile)
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(dst+".tmp", b, 0o600); err != nil {
			return err
		}
		if err := os.Rename(dst+".tmp", dst); err != nil {
			return err
		}
		fmt.Printf("%d communes get official positions; saved as %s (restart the hub to use it)\n", n, dst)
	default:
		return usagef("geo: unknown subcommand %q (find, import)", sub)
	}
	return nil
}
