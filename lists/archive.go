package lists

import (
	"context"
	"net/mail"
	"strconv"
	"strings"

	"codeberg.org/relais/relais/archive"
	"codeberg.org/relais/relais/store"
)

// ArchiveURL is the address of a list's archive on the web: its
// List-Archive (RFC 2369 §3.6).
func (s *Service) ArchiveURL(l List) string {
	return strings.TrimSuffix(s.webURL(), "/") + "/archives/" + l.Local()
}

// Permalink is the address of post id's page: its Archived-At (RFC 5064).
func (s *Service) Permalink(l List, id int64) string {
	return s.ArchiveURL(l) + "/m/" + strconv.FormatInt(id, 10)
}

// archive keeps a post as distributed in the list's archive (package
// archive: its thread, its words for the search) and returns it with its
// Archived-At field on top, as every copy carries it.
func (s *Service) archive(tx *store.Tx, l List, msg []byte, poster *mail.Address, subject string) ([]byte, error) {
	_, out, err := archive.Add(tx, l.ID, strings.ToLower(poster.Address), poster.Name, subject, s.now(), msg,
		func(id int64) string { return s.Permalink(l, id) })
	return out, err
}

// RoleOf is what email is to list listID: owner, moderator, member
// (subscribed, even paused or bouncing), for a territory list animator,
// or "": who may read an archive, or post from the web.
func (s *Service) RoleOf(ctx context.Context, listID int64, email string) (List, string, error) {
	l, err := get(s.db.Reader(ctx), listID)
	if err != nil {
		return l, "", err
	}
	return l, s.role(s.db.Reader(ctx), l, strings.ToLower(strings.TrimSpace(email))), nil
}
