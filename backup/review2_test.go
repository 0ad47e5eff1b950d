package backup

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// A data directory reached through a symbolic link (/var/lib/relais ->
// /srv/relais, a bigger disk; the path in the config is the link): wipe
// finds relais.db through the link, then walks the link itself, which it
// does not follow, and reports "0 files ... removed" with everything left
// in place. The operator of a movement that ends its activity believes
// its members' data is gone.
func TestReview2WipeThroughASymlinkedDataDir(t *testing.T) {
	real := t.TempDir()
	os.WriteFile(filepath.Join(real, "relais.db"), bytes.Repeat([]byte("x"), 1000), 0o600)
	os.MkdirAll(filepath.Join(real, "backups"), 0o700)
	os.WriteFile(filepath.Join(real, "backups", "relais-1.tar.age"), []byte("age"), 0o600)
	link := filepath.Join(t.TempDir(), "relais-data")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	rep, err := Wipe(link)
	if err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(real); len(ents) != 0 || rep.Files != 2 {
		t.Fatalf("wipe through a link reported %+v and left %d entries", rep, len(ents))
	}
}

// Wipe overwrites what it found, by name, after looking at it: a file
// swapped for a link to a file outside in between is written over.
// Opening with O_NOFOLLOW refuses the link.
func TestReview2WipeDoesNotFollowALinkPutInPlace(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "precious")
	os.WriteFile(outside, []byte("precious"), 0o600)
	p := filepath.Join(dir, "relais.db-wal")
	os.Symlink(outside, p)
	if _, err := overwrite(p, 8); err == nil {
		t.Error("overwrite followed a symbolic link")
	}
	if b, _ := os.ReadFile(outside); string(b) != "precious" {
		t.Fatalf("a file outside the data directory was written over: %q", b)
	}
}
