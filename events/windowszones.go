package events

// Placeholder until the generated CLDR table lands.
var windowsZones = map[string]string{
	"Romance Standard Time":   "Europe/Paris",
	"W. Europe Standard Time": "Europe/Berlin",
}
