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

var geoFamily = family{name: "geo", doc: "The embedded gazetteer: French postal codes and communes, their positions.", subs: []sub{
	{"find", "QUERY", "a postal code, an INSEE code or a commune name", geoFind},
	{"import", "FILE.csv", "official positions (La Poste) that refine the embedded ones; kept in DATA_DIR/" + hub.GeoFile, geoImport},
}}

func geoFind(args []string) error {
	fs := newFlags("geo find", "QUERY", "Look up a postal code, an INSEE code or a commune name (\"44600\", \"44184\",\n\"Saint-Nazaire\", \"44600 Saint-Nazaire\") in the gazetteer.")
	data := addData(fs)
	pos, err := parseArgs(fs, args, 1, -1)
	if err != nil {
		return err
	}
	c, err := data.load()
	if err != nil {
		return err
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
		fmt.Fprintf(stdout, "%s  %-30s  %s  dept %s  pop %d  %.5f,%.5f (%s)  %s\n", cm.INSEE, cm.Name, strings.Join(cm.PostCodes, ","),
			cm.Dept, cm.Population, cm.Point.Lat, cm.Point.Lon, cm.Located, cm.TimeZone())
	}
	return nil
}

func geoImport(args []string) error {
	fs := newFlags("geo import", "FILE.csv", "Official positions (La Poste's base officielle des codes postaux, with its coordinates\n"+
		"column) that refine the embedded ones; kept in DATA_DIR/"+hub.GeoFile+", read at start.")
	data := addData(fs)
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	c, err := data.load()
	if err != nil {
		return err
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
	fmt.Fprintf(stdout, "%d communes get official positions; saved as %s (restart the hub to use it)\n", n, dst)
	return nil
}
