// Package backup is in charge of the hub's backups and of the end of its
// data: a consistent snapshot of the database taken while the hub runs
// (SQLite's VACUUM INTO), with the DKIM keys, the configuration and the
// operator's files, in one tar archive encrypted with age
// (filippo.io/age, https://age-encryption.org/v1) to the public keys of
// backup.recipients; its restoration into an empty directory, checked
// against the counts recorded at the moment of the snapshot; the rotation
// of the backups `serve` makes; and the wiping of a data directory.
package backup

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"filippo.io/age"
	"github.com/BurntSushi/toml"
	_ "github.com/mattn/go-sqlite3" // the "sqlite3" driver, to read a snapshot

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/store"
)

// Manifest describes a backup; it is the archive's first file.
type Manifest struct {
	Format   int       `json:"format"` // 1
	Created  time.Time `json:"created"`
	Hostname string    `json:"hostname"`
	Domains  []string  `json:"domains"`
	Schema   int       `json:"schema"` // the database's PRAGMA user_version
	// Counts are the rows of each table in the snapshot: the hub as it
	// was at that moment. Restore checks them.
	Counts map[string]int64 `json:"counts"`
	Files  []string         `json:"files"`
}

// KeyDomains are the domains whose DKIM keys the backup holds (its files
// dkim/DOMAIN/…), sorted: what a configuration saved without domains
// (the demo's data directory alone) was signing for.
func (m Manifest) KeyDomains() []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range m.Files {
		rest, ok := strings.CutPrefix(f, keysPrefix)
		if !ok {
			continue
		}
		d, _, ok := strings.Cut(rest, "/")
		// Printed in a command line to copy: the manifest is the
		// backup's own word, and anyone with the operator's public
		// key can make a backup.
		if ok && address.ValidDomain(strings.ToLower(d)) && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

// Names in the archive.
const (
	manifestName = "manifest.json"
	configName   = "relais.toml"
	keysPrefix   = "dkim/"
	geoName      = "geo/positions.csv"
	tmplPrefix   = "templates/"
)

// FileExt ends the name of every backup file.
const FileExt = ".tar.age"

// ParseRecipients reads age public keys (age1…).
func ParseRecipients(keys []string) ([]age.Recipient, error) {
	if len(keys) == 0 {
		return nil, errors.New("backup: no recipient: set backup.recipients to age public keys (age-keygen makes a pair)")
	}
	var out []age.Recipient
	for _, k := range keys {
		r, err := age.ParseX25519Recipient(strings.TrimSpace(k))
		if err != nil {
			return nil, fmt.Errorf("backup: recipient %q: %w", k, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// ReadIdentities reads an age identity file (AGE-SECRET-KEY-… lines, as
// age-keygen writes them).
func ReadIdentities(file string) ([]age.Identity, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("backup: identity: %w", err)
	}
	defer f.Close()
	ids, err := age.ParseIdentities(f)
	if err != nil {
		return nil, fmt.Errorf("backup: identity %s: %w", file, err)
	}
	return ids, nil
}

// Snapshotter copies a consistent database file to a path: a
// *store.DB, or the file as it is (store.OpenFile) when its schema is
// behind this binary's.
type Snapshotter interface {
	Snapshot(ctx context.Context, path string) error
}

// Create writes an encrypted backup of the hub whose configuration is cfg
// and database db to w: the snapshot is taken while the hub goes on
// accepting and delivering mail.
func Create(ctx context.Context, db Snapshotter, cfg config.Config, recipients []age.Recipient, w io.Writer, now time.Time) (Manifest, error) {
	RemoveStale(cfg.DataDir)
	tmp, err := os.MkdirTemp(cfg.DataDir, ".backup-")
	if err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(tmp)
	snap := filepath.Join(tmp, store.FileName)
	if err := db.Snapshot(ctx, snap); err != nil {
		return Manifest{}, err
	}
	m := Manifest{Format: 1, Created: now.UTC().Truncate(time.Second), Hostname: cfg.Hostname, Domains: cfg.Domains}
	if m.Schema, m.Counts, err = census(ctx, snap); err != nil {
		return m, err
	}
	type file struct {
		name string
		path string // on disk; "" for data
		data []byte
	}
	files := []file{{name: store.FileName, path: snap}}
	var conf bytes.Buffer
	saved := cfg
	if saved.Relay.PasswordFile != "" {
		// Read from its file at start: the secret stays there, out of
		// the backup and of the configuration a restore writes.
		saved.Relay.Password = ""
	}
	if err := toml.NewEncoder(&conf).Encode(saved); err != nil {
		return m, fmt.Errorf("backup: configuration: %w", err)
	}
	files = append(files, file{name: configName, data: conf.Bytes()})
	add := func(root, prefix string) error {
		if root == "" {
			return nil
		}
		return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) && p == root {
				return nil
			}
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			files = append(files, file{name: prefix + filepath.ToSlash(rel), path: p})
			return nil
		})
	}
	if err := add(cfg.DKIM.KeysDir, keysPrefix); err != nil {
		return m, fmt.Errorf("backup: DKIM keys: %w", err)
	}
	if err := add(cfg.TemplatesDir, tmplPrefix); err != nil {
		return m, fmt.Errorf("backup: templates: %w", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, filepath.FromSlash(geoName))); err == nil {
		files = append(files, file{name: geoName, path: filepath.Join(cfg.DataDir, filepath.FromSlash(geoName))})
	}
	for _, f := range files {
		m.Files = append(m.Files, f.name)
	}
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, err
	}
	enc, err := age.Encrypt(w, recipients...)
	if err != nil {
		return m, fmt.Errorf("backup: encrypt: %w", err)
	}
	bw := bufio.NewWriterSize(enc, 1<<16)
	tw := tar.NewWriter(bw)
	put := func(name string, mode int64, r io.Reader, size int64) error {
		hdr := &tar.Header{Name: name, Mode: mode, Size: size, ModTime: m.Created, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	if err := put(manifestName, 0o600, bytes.NewReader(manifest), int64(len(manifest))); err != nil {
		return m, fmt.Errorf("backup: write: %w", err)
	}
	for _, f := range files {
		if f.path == "" {
			if err := put(f.name, 0o600, bytes.NewReader(f.data), int64(len(f.data))); err != nil {
				return m, fmt.Errorf("backup: write: %w", err)
			}
			continue
		}
		if err := func() error {
			in, err := os.Open(f.path)
			if err != nil {
				return err
			}
			defer in.Close()
			st, err := in.Stat()
			if err != nil {
				return err
			}
			return put(f.name, 0o600, in, st.Size())
		}(); err != nil {
			return m, fmt.Errorf("backup: %s: %w", f.name, err)
		}
	}
	if err := errors.Join(tw.Close(), bw.Flush(), enc.Close()); err != nil {
		return m, fmt.Errorf("backup: write: %w", err)
	}
	return m, nil
}

// staleAfter is the age from which a snapshot directory is one an
// interrupted backup left: a backup takes minutes.
const staleAfter = time.Hour

// RemoveStale removes the snapshot directories (.backup-*) that backups
// interrupted before their end (Ctrl-C, the OOM killer, a reboot) left in
// dataDir: each holds a plain copy of the whole database, which erasure
// does not reach. Backups, the hub's start and erasures call it. It
// returns what it removed.
func RemoveStale(dataDir string) []string {
	ents, err := os.ReadDir(dataDir)
	if err != nil {
		return nil
	}
	var gone []string
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), ".backup-") {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleAfter {
			p := filepath.Join(dataDir, e.Name())
			if os.RemoveAll(p) == nil {
				gone = append(gone, p)
			}
		}
	}
	return gone
}

// census reads the schema version and the rows of each table of the
// database file at p.
func census(ctx context.Context, p string) (int, map[string]int64, error) {
	db, err := sql.Open("sqlite3", "file:"+p+"?mode=ro")
	if err != nil {
		return 0, nil, err
	}
	defer db.Close()
	var schema int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&schema); err != nil {
		return 0, nil, fmt.Errorf("backup: read %s: %w", p, err)
	}
	rows, err := db.QueryContext(ctx, "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
	if err != nil {
		return 0, nil, err
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return 0, nil, err
		}
		tables = append(tables, t)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, nil, err
	}
	counts := map[string]int64{}
	for _, t := range tables {
		if counts[t], err = store.Count(ctx, db, t); err != nil {
			return 0, nil, err
		}
	}
	return schema, counts, nil
}

// WriteFile writes a backup to file: written under a temporary name,
// synced, then renamed, so a backup file is whole or absent. Its mode is
// 0600.
func WriteFile(ctx context.Context, db Snapshotter, cfg config.Config, recipients []age.Recipient, file string, now time.Time) (Manifest, error) {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	tmp := file + ".part"
	// A new file, never through a link: one put at that name (in /tmp,
	// by another user) would have the backup written over what it names.
	// What an interrupted backup left there goes first.
	if fi, err := os.Lstat(tmp); err == nil && fi.Mode().IsRegular() {
		os.Remove(tmp)
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	m, err := Create(ctx, db, cfg, recipients, f, now)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, file)
	}
	if err != nil {
		os.Remove(tmp)
		return m, err
	}
	if d, err := os.Open(filepath.Dir(file)); err == nil {
		d.Sync()
		d.Close()
	}
	return m, nil
}

// Name is the file name of a backup made at t: sorted by name, the oldest
// first.
func Name(t time.Time) string { return "relais-" + t.UTC().Format("20060102-150405") + FileExt }

// Files lists the backups in dir, the oldest first.
func Files(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), "relais-") && strings.HasSuffix(e.Name(), FileExt) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}

// Rotate deletes the oldest backups of dir beyond the newest keep, and
// returns their names.
func Rotate(dir string, keep int) ([]string, error) {
	files, err := Files(dir)
	if err != nil || len(files) <= keep {
		return nil, err
	}
	gone := files[:len(files)-keep]
	for _, f := range gone {
		if err := os.Remove(f); err != nil {
			return nil, err
		}
	}
	return gone, nil
}

// ErrNotEmpty: restore writes only into an empty or new directory.
var ErrNotEmpty = errors.New("backup: the directory is not empty: restore into a new or empty one")

// Restore decrypts the backup r with one of ids and writes it into dir,
// which must be empty or absent: the database, dkim/, geo/, templates/ and
// relais.toml, the configuration the hub ran with, its paths moved into
// dir. It checks the database (integrity, and the rows of each table
// against the manifest) before returning the manifest.
func Restore(ctx context.Context, r io.Reader, ids []age.Identity, dir string) (Manifest, error) {
	var m Manifest
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return m, ErrNotEmpty
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return m, fmt.Errorf("backup: %w", err)
	}
	dec, err := age.Decrypt(r, ids...)
	if err != nil {
		return m, fmt.Errorf("backup: decrypt: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	tr := tar.NewReader(bufio.NewReaderSize(dec, 1<<16))
	var conf []byte
	for i := 0; ; i++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			return m, fmt.Errorf("backup: read: %w", err)
		}
		name := hdr.Name
		if i == 0 {
			if name != manifestName {
				return m, errors.New("backup: not a relais backup (no manifest first)")
			}
			if err := json.NewDecoder(io.LimitReader(tr, 1<<20)).Decode(&m); err != nil {
				return m, fmt.Errorf("backup: manifest: %w", err)
			}
			continue
		}
		if hdr.Typeflag != tar.TypeReg || !safeName(name) {
			return m, fmt.Errorf("backup: unexpected entry %q", name)
		}
		if name == configName {
			if conf, err = io.ReadAll(io.LimitReader(tr, 1<<20)); err != nil {
				return m, fmt.Errorf("backup: read: %w", err)
			}
			continue
		}
		if err := writeFile(filepath.Join(dir, filepath.FromSlash(name)), tr); err != nil {
			return m, err
		}
	}
	if m.Format != 1 {
		return m, errors.New("backup: not a relais backup (no manifest)")
	}
	if conf != nil {
		if err := moveConfig(conf, dir, m); err != nil {
			return m, err
		}
	}
	return m, check(ctx, filepath.Join(dir, store.FileName), m)
}

// safeName accepts the archive's own names: relative, clean, under a
// known place.
func safeName(name string) bool {
	if name != path.Clean(name) || path.IsAbs(name) || strings.HasPrefix(name, "..") || strings.Contains(name, "/../") {
		return false
	}
	return name == store.FileName || name == configName || name == geoName ||
		strings.HasPrefix(name, keysPrefix) || strings.HasPrefix(name, tmplPrefix)
}

func writeFile(p string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backup: write %s: %w", p, err)
	}
	return nil
}

// moveConfig writes the configuration of the backup as dir/relais.toml,
// with the data directory, the DKIM keys, the templates and the backups
// moved into dir: `relais serve --config DIR/relais.toml` runs the
// restored hub.
func moveConfig(conf []byte, dir string, m Manifest) error {
	c := config.Default()
	if _, err := toml.Decode(string(conf), &c); err != nil {
		return fmt.Errorf("backup: configuration: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	old := c.DataDir
	c.DataDir = abs
	c.DKIM.KeysDir = filepath.Join(abs, "dkim")
	if c.TemplatesDir != "" {
		c.TemplatesDir = filepath.Join(abs, "templates")
	}
	if c.Backup.Dir == "" || c.Backup.Dir == filepath.Join(old, "backups") {
		c.Backup.Dir = filepath.Join(abs, "backups")
	}
	var b bytes.Buffer
	b.WriteString("# The configuration of the hub backed up on " + m.Created.Format(time.RFC3339) + ", its paths moved here.\n")
	if err := toml.NewEncoder(&b).Encode(c); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, configName), &b)
}

// check opens the restored database and compares it with the manifest.
func check(ctx context.Context, p string, m Manifest) error {
	db, err := sql.Open("sqlite3", "file:"+p+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	var ok string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
		return fmt.Errorf("backup: restored database fails its integrity check: %v %s", err, ok)
	}
	for t, want := range m.Counts {
		got, err := store.Count(ctx, db, t)
		if err != nil || got != want {
			return fmt.Errorf("backup: restored table %s has %d rows, the backup recorded %d (%v)", t, got, want, err)
		}
	}
	return nil
}
