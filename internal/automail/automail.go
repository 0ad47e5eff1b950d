// Package automail says whether a message was sent by a program rather
// than typed by a person: mail that must never be answered, confirmed or
// acted upon, or loops start (RFC 3834).
package automail

import (
	"strings"

	"github.com/emersion/go-message/textproto"
)

// Marked says whether a message carries the marks of automatic mail: the
// null return path (a bounce), Auto-Submitted other than "no" (RFC 3834
// §5), Precedence bulk, junk, list or auto_reply, the X-Autoreply and
// X-Autorespond fields of vacation programs, or a sender such as
// mailer-daemon, postmaster or noreply.
func Marked(h textproto.Header, mailFrom string) bool {
	if mailFrom == "" {
		return true
	}
	if as := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted"))); as != "" && as != "no" {
		return true
	}
	switch strings.ToLower(strings.TrimSpace(h.Get("Precedence"))) {
	case "bulk", "junk", "list", "auto_reply":
		return true
	}
	if h.Has("X-Autoreply") || h.Has("X-Autorespond") {
		return true
	}
	return robot(mailFrom)
}

// robot says whether addr is a program's mailbox by its local part.
func robot(addr string) bool {
	local := strings.ToLower(addr)
	if at := strings.LastIndexByte(local, '@'); at >= 0 {
		local = local[:at]
	}
	switch local {
	case "mailer-daemon", "postmaster", "noreply", "no-reply", "donotreply", "do-not-reply":
		return true
	}
	return false
}

// Vacation says whether a subject is a vacation program's or an
// auto-responder's: "Réponse automatique", "Absence", "Out of office",
// "Automatic reply", "Auto:" and the like, at its start.
func Vacation(subject string) bool {
	s := strings.ToLower(strings.TrimSpace(subject))
	for _, p := range []string{
		"réponse automatique", "reponse automatique", "réponse automatique d'absence",
		"absence", "absent du bureau", "out of office", "automatic reply", "auto:",
		"autoreply", "auto-reply", "auto reply", "abwesenheitsnotiz", "accusé de réception automatique",
	} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// From says whether an address found in a From field is a program's.
func From(addr string) bool { return robot(addr) }
