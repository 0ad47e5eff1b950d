// Package mbsync writes the configuration of Debian's isync (mbsync) for
// the tests and benchmarks that sync an IMAP folder into a Maildir: one
// account on host:port without TLS (loopback), LOGIN, pull only.
package mbsync

import (
	"fmt"
	"os"
	"strings"
)

// WriteConfig writes an mbsyncrc at path that pulls the folders matching
// pattern of user's account into the Maildir root dir.
func WriteConfig(path, host, port, user, pass, dir, pattern string) error {
	q := func(s string) string { return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"` }
	rc := fmt.Sprintf(`IMAPAccount remote
Host %s
Port %s
User %s
Pass %s
SSLType None
AuthMechs LOGIN
PipelineDepth 50

IMAPStore remote
Account remote

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel archive
Far :remote:
Near :local:
Patterns %s
Create Near
Sync Pull
SyncState *
`, host, port, q(user), q(pass), dir, dir, q(pattern))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(rc), 0o600)
}
