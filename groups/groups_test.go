package groups

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/audit"
	"codeberg.org/relais/relais/store"
)

func code(t *testing.T, s string) address.Code {
	t.Helper()
	c, err := address.ParseCode(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCheckCommune(t *testing.T) {
	ok := []struct{ commune, code string }{{"", "4405"}, {"44200", "4405"}, {"44109", "44"}, {"2A004", "2A01"}, {"20000", "2A01"},
		{"97400", "97401"}, {"75011", "fr"}, {"2b033", "2B"}, {"05110", "0401"}}
	for _, c := range ok {
		if err := CheckCommune(c.commune, code(t, c.code)); err != nil {
			t.Errorf("%s in %s: %v", c.commune, c.code, err)
		}
	}
	bad := []struct{ commune, code, why string }{{"4420", "4405", "postal code"}, {"44 200", "4405", "postal code"},
		{"2C004", "2A01", "postal code"}, {"2B033", "2A01", "is in 2B, not in 2A"}, {"ABCDE", "44", "postal code"}}
	for _, c := range bad {
		err := CheckCommune(c.commune, code(t, c.code))
		if err == nil || !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s in %s: %v", c.commune, c.code, err)
		}
	}
}

func TestAddUpdateRemove(t *testing.T) {
	db, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	g := Group{Code: code(t, "4405"), Name: "nantes-sud", DisplayName: "Nantes Sud", Commune: "44200",
		Animators: []string{"Camille <camille@exemple.fr>", "CAMILLE@exemple.fr", "karim@exemple.fr"}}
	g, err = Add(ctx, db, g)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(g.Animators, ",") != "camille@exemple.fr,karim@exemple.fr" {
		t.Fatalf("animators %v: display names dropped, duplicates merged", g.Animators)
	}
	if _, err := Add(ctx, db, g); !errors.Is(err, ErrExists) {
		t.Fatalf("second add: %v", err)
	}
	for _, bad := range []Group{
		{Code: code(t, "4405"), Name: "x", DisplayName: "", Animators: []string{"a@b.fr"}},
		{Code: code(t, "4405"), Name: "x", DisplayName: "X"},
		{Code: code(t, "4405"), Name: "x", DisplayName: "X", Animators: []string{"not an address"}},
	} {
		if _, err := Add(ctx, db, bad); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
	g.Animators = []string{"lea@exemple.fr"}
	if _, err := Update(ctx, db, g); err != nil {
		t.Fatal(err)
	}
	id, err := Lookup(ctx, db, g.Code, "nantes-sud")
	if err != nil || id != g.ID {
		t.Fatalf("lookup %d %v", id, err)
	}
	gs, _ := List(ctx, db)
	if len(gs) != 1 || strings.Join(gs[0].Animators, ",") != "lea@exemple.fr" || gs[0].Local() != "4405.nantes-sud" {
		t.Fatalf("list %+v", gs)
	}
	if err := Remove(ctx, db, "4405.nantes-sud"); err != nil {
		t.Fatal(err)
	}
	if _, err := Lookup(ctx, db, g.Code, "nantes-sud"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after remove: %v", err)
	}
	if err := Remove(ctx, db, "4405.nantes-sud"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("remove twice: %v", err)
	}
}

func TestImportCSVReportsEveryBadLine(t *testing.T) {
	db, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	in := "address,name,commune,animators\n" +
		"4405.nantes-sud,Nantes Sud,44200,a@exemple.fr\n" +
		"4411.nantes,Nantes,,a@exemple.fr\n" +
		"4405.nantes-sud,Encore,,b@exemple.fr\n" +
		"59.lille,Lille,,\n"
	_, err = ImportCSV(context.Background(), db, strings.NewReader(in))
	if err == nil {
		t.Fatal("bad CSV imported")
	}
	for _, want := range []string{"line 3", "11 does not exist", "line 4: 4405.nantes-sud is already on line 2", "line 5", "at least one animator"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if gs, _ := List(context.Background(), db); len(gs) != 0 {
		t.Fatalf("partial import: %v", gs)
	}
	if _, err := ImportCSV(context.Background(), db, strings.NewReader("adresse,nom\n")); err == nil || !strings.Contains(err.Error(), `"address" is missing`) {
		t.Fatalf("header: %v", err)
	}
}

// LookupCached keeps what it found for a moment; a removal made in this
// process (Remove, Delete, Sync) is seen at once, one made by another
// process (another store handle here) once lookupTTL has run. Lookup and
// LookupTx always read.
func TestLookupKeptUntilRemoved(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	now := time.Now()
	add := func(local string) Group {
		c, name, _ := address.GroupLocal(local)
		g, err := Add(ctx, db, Group{Code: c, Name: name, DisplayName: "G", Animators: []string{"a@exemple.fr"}})
		if err != nil {
			t.Fatal(err)
		}
		if id, err := LookupCached(ctx, db, c, name); err != nil || id != g.ID {
			t.Fatalf("lookup %s: %d %v", local, id, err)
		}
		return g
	}
	gone := func(g Group) {
		t.Helper()
		if _, err := LookupCached(ctx, db, g.Code, g.Name); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s still found after its removal: %v", g.Local(), err)
		}
	}
	g := add("4405.a")
	if err := Delete(ctx, db, "4405.a", audit.Actor{Who: "test", Via: audit.ViaCLI}, now); err != nil {
		t.Fatal(err)
	}
	gone(g)

	keep, drop := add("4405.b"), add("4405.c")
	rep, err := Sync(ctx, db, []Entry{{Address: "4405.b", Name: "G", Animators: []string{"a@exemple.fr"}}}, false, 1, audit.Actor{Who: "test", Via: audit.ViaAPI}, now)
	if err != nil || rep.Removed != 1 {
		t.Fatalf("sync: %+v %v", rep, err)
	}
	gone(drop)
	if id, err := LookupCached(ctx, db, keep.Code, keep.Name); err != nil || id != keep.ID {
		t.Fatalf("kept group: %d %v", id, err)
	}

	// Another process removes it: found until the moment runs out, but
	// not by Lookup nor LookupTx.
	other, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec("group.delete", keep.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if id, err := LookupCached(ctx, db, keep.Code, keep.Name); err != nil || id != keep.ID {
		t.Fatalf("within the moment: %d %v", id, err)
	}
	if _, err := Lookup(ctx, db, keep.Code, keep.Name); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Lookup: %v", err)
	}
	if err := db.Write(ctx, func(tx *store.Tx) error {
		_, err := LookupTx(tx, keep.Code, keep.Name)
		return err
	}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LookupTx: %v", err)
	}
	defer func(ttl time.Duration) { lookupTTL = ttl }(lookupTTL)
	lookupTTL = 0
	gone(keep)
}
