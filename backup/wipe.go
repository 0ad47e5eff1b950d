package backup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"

	"codeberg.org/relais/relais/store"
)

// WipeCaveats is what Wipe cannot promise, for the operator to read.
const WipeCaveats = `What this cannot guarantee:
  - On SSDs and flash storage, writing over a file does not reach the cells that held
    it (wear levelling keeps old blocks until the drive reuses them); copy-on-write and
    journaling file systems (btrfs, ZFS, ext4's journal), LVM or VM snapshots and the
    host's own backups may keep older copies. Only encryption of the whole disk, then
    destroying its key, or destroying the device, removes those.
  - Backups made by relais (backup.dir, copies elsewhere), the relay's own mail queue
    (Postfix), the system's logs (journald, syslog), swap and core dumps are outside
    the data directory: remove them too.
  - Messages already delivered are in their recipients' mailboxes.`

// WipeReport is what Wipe did.
type WipeReport struct {
	Files int
	Bytes int64
	Dirs  int
}

// ErrNotDataDir: Wipe refuses a directory that holds no relais database.
var ErrNotDataDir = errors.New("backup: not a relais data directory (no relais.db in it)")

// Wipe destroys the contents of the data directory dir, which must hold a
// relais database: every file is overwritten with zeros, synced, then
// removed, then the directories under dir; dir itself stays, empty. The
// hub must be stopped first. See WipeCaveats for what this cannot reach.
//
// A data directory given through a symbolic link is wiped where the link
// leads (walking the link itself would find nothing); links inside it are
// removed, never followed.
func Wipe(dir string) (WipeReport, error) {
	var rep WipeReport
	if st, err := os.Stat(filepath.Join(dir, store.FileName)); err != nil || !st.Mode().IsRegular() {
		return rep, ErrNotDataDir
	}
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return rep, fmt.Errorf("backup: wipe: %w", err)
	}
	var files, dirs []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case p == dir:
		case d.IsDir():
			dirs = append(dirs, p)
		default:
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("backup: wipe: %w", err)
	}
	for _, p := range files {
		n, err := shred(p)
		if err != nil {
			return rep, fmt.Errorf("backup: wipe %s: %w", p, err)
		}
		rep.Files++
		rep.Bytes += n
	}
	sort.Sort(sort.Reverse(sort.StringSlice(dirs))) // deepest first
	for _, p := range dirs {
		if err := os.Remove(p); err != nil {
			return rep, fmt.Errorf("backup: wipe: %w", err)
		}
		rep.Dirs++
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return rep, nil
}

// shred overwrites a regular file with zeros, syncs and removes it;
// anything else (a symbolic link, a socket) is only removed.
func shred(p string) (int64, error) {
	st, err := os.Lstat(p)
	if err != nil {
		return 0, err
	}
	if !st.Mode().IsRegular() {
		return 0, os.Remove(p)
	}
	n, err := overwrite(p, st.Size())
	if err != nil {
		return n, err
	}
	return n, os.Remove(p)
}

// overwrite writes size zeros over the regular file p and syncs it. It
// opens p without following a symbolic link: one put in its place since
// it was looked at would have it write over a file elsewhere.
func overwrite(p string, size int64) (int64, error) {
	f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return 0, err
	}
	zeros := make([]byte, 1<<16)
	var n int64
	for n < size {
		k := min(int64(len(zeros)), size-n)
		w, err := f.WriteAt(zeros[:k], n)
		n += int64(w)
		if err != nil {
			f.Close()
			return n, err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return n, err
	}
	return n, f.Close()
}
