package events

import (
	"strings"
	"testing"
	"time"
)

func TestParseForm(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, paris)
	f, err := ParseForm("Bonjour,\n\nTitre : Réunion publique sur le logement\nDate : samedi 12 décembre 2026 à 14h30\nFin : 16h30\n"+
		"Lieu : Salle des fêtes, 12 rue de la Paix, 44000 Nantes\nThèmes : logement, Climat, #logement\nPublic : oui\n\nVenez nombreux !\nCamille", now, "")
	if err != nil {
		t.Fatal(err)
	}
	if f.Title != "Réunion publique sur le logement" || !f.Start.Equal(time.Date(2026, 12, 12, 14, 30, 0, 0, paris)) ||
		!f.End.Equal(time.Date(2026, 12, 12, 16, 30, 0, 0, paris)) || f.AllDay || f.PostCode != "44000" ||
		strings.Join(f.Themes, ",") != "logement,climat" || !f.Public || f.Details != "Venez nombreux !\nCamille" || f.Zone != "Europe/Paris" {
		t.Fatalf("%+v", f)
	}
	for _, c := range []struct {
		date, end, dur string
		start, stop    time.Time
		allDay         bool
	}{
		{"12/12/2026 14h", "", "2h", time.Date(2026, 12, 12, 14, 0, 0, 0, paris), time.Date(2026, 12, 12, 16, 0, 0, 0, paris), false},
		{"2026-12-12 09:15", "2026-12-12 12:00", "", time.Date(2026, 12, 12, 9, 15, 0, 0, paris), time.Date(2026, 12, 12, 12, 0, 0, 0, paris), false},
		{"3 janvier 18h", "", "1h30", time.Date(2027, 1, 3, 18, 0, 0, 0, paris), time.Date(2027, 1, 3, 19, 30, 0, 0, paris), false}, // next 3 January
		{"12/12/2026", "", "", time.Date(2026, 12, 12, 0, 0, 0, 0, paris), time.Date(2026, 12, 13, 0, 0, 0, 0, paris), true},
		{"1er décembre 2026 à 20:00", "", "90 min", time.Date(2026, 12, 1, 20, 0, 0, 0, paris), time.Date(2026, 12, 1, 21, 30, 0, 0, paris), false},
	} {
		text := "Title: Test\nDate: " + c.date + "\n"
		if c.end != "" {
			text += "End: " + c.end + "\n"
		}
		if c.dur != "" {
			text += "Durée : " + c.dur + "\n"
		}
		f, err := ParseForm(text, now, "")
		if err != nil {
			t.Errorf("%q: %v", c.date, err)
			continue
		}
		if !f.Start.Equal(c.start) || !f.End.Equal(c.stop) || f.AllDay != c.allDay {
			t.Errorf("%q: %v – %v all day %v, want %v – %v", c.date, f.Start, f.End, f.AllDay, c.start, c.stop)
		}
	}
	for _, bad := range []string{"Titre : x\nDate : 31/02/2027 10h", "Titre : x\nDate : bientôt", "Titre : x\nDate : 12/12/2026 14h\nFin : 10h", "Bonjour, rien ici"} {
		if _, err := ParseForm(bad, now, ""); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	f, err = ParseForm("Id : abc@hub.example\nStatut : annulé\n", now, "")
	if err != nil || !f.HasUID || f.UID != "abc@hub.example" || f.Status != Cancelled {
		t.Errorf("cancel by form: %+v %v", f, err)
	}
	f, _ = ParseForm("Titre : x\nDate : 12/12/2026 14h\nPublic : non (membres)\n", now, "")
	if f.Public {
		t.Error("members-only event public")
	}
}

func TestPostCode(t *testing.T) {
	for in, want := range map[string]string{
		"Salle des fêtes, 12 rue de la Paix, 44000 Nantes": "44000",
		"Maison du peuple 97400 Saint-Denis":               "97400",
		"20000 Ajaccio":                                    "20000",
		"Place de la mairie":                               "",
		"BP 12345 67890":                                   "67890",
		"Tel 0240123456":                                   "",
	} {
		if got := PostCode(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
