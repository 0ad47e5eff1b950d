package backup

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/age"

	"codeberg.org/relais/relais/store"
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

// A backup writes a plain copy of the whole database into the data
// directory (.backup-*/relais.db) before encrypting it, and removes it at
// the end. Interrupted (Ctrl-C on `relais backup`, the OOM killer, a
// reboot), it leaves that copy behind, forever: erasure cleans relais.db
// and its WAL, not this, so an erased member stays there in clear. The
// next backup removes what an interrupted one left.
func TestReview2InterruptedBackupLeavesNoPlainCopy(t *testing.T) {
	c := testConfig(t)
	db, err := store.Open(c.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stale := filepath.Join(c.DataDir, ".backup-1234")
	os.MkdirAll(stale, 0o700)
	os.WriteFile(filepath.Join(stale, store.FileName), []byte("SQLite format 3\x00 marie@example.org"), 0o600)
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(filepath.Join(stale, store.FileName), old, old)
	os.Chtimes(stale, old, old)
	id, _ := age.GenerateX25519Identity()
	if _, err := WriteFile(context.Background(), db, c, []age.Recipient{id.Recipient()}, filepath.Join(c.Backup.Dir, Name(time.Now())), time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the plain copy an interrupted backup left is still there: %v", err)
	}
}

// `relais backup --out /tmp/b.tar.age` writes /tmp/b.tar.age.part first,
// opened with O_TRUNC and following links: a link put there by another
// user of the machine has the hub's user truncate and write over the file
// it names (its DKIM key, its database).
func TestReview2BackupPartFileIsNotALink(t *testing.T) {
	c := testConfig(t)
	db, err := store.Open(c.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	victim := filepath.Join(t.TempDir(), "precious")
	os.WriteFile(victim, []byte("precious"), 0o600)
	out := filepath.Join(t.TempDir(), "b.tar.age")
	os.Symlink(victim, out+".part")
	id, _ := age.GenerateX25519Identity()
	WriteFile(context.Background(), db, c, []age.Recipient{id.Recipient()}, out, time.Now())
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Fatalf("the backup wrote over the file a link named (%d bytes now)", len(b))
	}
}

// relay.password_file keeps the relay's password out of the
// configuration; Validate reads it into Relay.Password, and the backup
// writes the configuration as it is in memory: the password is in every
// backup, and restore writes it in clear into DIR/relais.toml.
func TestReview2RelayPasswordFileStaysOutOfBackups(t *testing.T) {
	c := testConfig(t)
	pw := filepath.Join(t.TempDir(), "relay-password")
	os.WriteFile(pw, []byte("s3cr3t-relay-pw\n"), 0o600)
	c.Relay.PasswordFile = pw
	if err := c.Validate(); err != nil || c.Relay.Password != "s3cr3t-relay-pw" {
		t.Fatalf("%v %q", err, c.Relay.Password)
	}
	db, err := store.Open(c.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	id, _ := age.GenerateX25519Identity()
	var b bytes.Buffer
	if _, err := Create(context.Background(), db, c, []age.Recipient{id.Recipient()}, &b, time.Now()); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "restored")
	if _, err := Restore(context.Background(), &b, []age.Identity{id}, dir); err != nil {
		t.Fatal(err)
	}
	conf, _ := os.ReadFile(filepath.Join(dir, "relais.toml"))
	if bytes.Contains(conf, []byte("s3cr3t-relay-pw")) {
		t.Fatalf("the relay's password, kept in a file, is written in the restored configuration:\n%s", conf)
	}
}
