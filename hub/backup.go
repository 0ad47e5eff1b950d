package hub

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"codeberg.org/relais/relais/backup"
)

// backups makes an encrypted backup every backup.every into backup.dir,
// keeping the newest backup.keep, while the hub runs (checked each
// minute; the newest file's time counts across restarts).
func (h *Hub) backups(ctx context.Context) {
	c := h.Config.Backup
	recipients, err := backup.ParseRecipients(c.Recipients)
	if err != nil {
		h.log.Error("no backups", "err", err)
		return
	}
	var last time.Time
	if files, _ := backup.Files(c.Dir); len(files) > 0 {
		if st, err := os.Stat(files[len(files)-1]); err == nil {
			last = st.ModTime()
		}
	}
	once := func() {
		now := h.now()
		if now.Sub(last) < c.Every.D() {
			return
		}
		last = now
		file := filepath.Join(c.Dir, backup.Name(now))
		m, err := backup.WriteFile(ctx, h.DB, h.Config, recipients, file, now)
		if err != nil {
			h.log.Error("backup failed", "err", err)
			return
		}
		gone, err := backup.Rotate(c.Dir, c.Keep)
		if err != nil {
			h.log.Error("backup rotation failed", "err", err)
		}
		h.log.Info("backup made", "file", file, "messages", m.Counts["messages"], "members", m.Counts["members"], "deleted_old", len(gone))
	}
	once()
	every(ctx, time.Minute, once)
}
