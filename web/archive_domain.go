package web

import (
	"context"
	"errors"
	"html/template"
	"io"
	"time"
)

// Archives is what the list archives' pages ask of the hub. Every method
// takes the list's CODE.NAME and who asks (email, "" for a visitor not
// signed in) and answers only what that person may read: ErrNoFeed for a
// list that does not exist or whose archive they may not see, without
// saying which; ErrSignIn when signing in could let them.
type Archives interface {
	// Readable lists the archives email may read ("": the public ones).
	Readable(ctx context.Context, email string) ([]ArchiveRow, error)
	// Index is a list's archive: its months and latest posts.
	Index(ctx context.Context, list, email string) (ArchiveIndex, error)
	// Month lists the threads of a month (ym: 2026-11).
	Month(ctx context.Context, list, email, ym string) (ArchiveMonth, error)
	// Thread is a thread with each of its posts.
	Thread(ctx context.Context, list, email string, id int64) (ArchiveThread, error)
	// Message is one post.
	Message(ctx context.Context, list, email string, id int64) (ArchiveThread, error)
	// Attachment is part n of post id, to download.
	Attachment(ctx context.Context, list, email string, id int64, n int) (ArchiveFile, error)
	// Search finds posts by words, author and dates.
	Search(ctx context.Context, list, email string, q ArchiveQuery) (ArchiveSearch, error)
	// Mbox writes a month (ym) or a thread (id) as an mbox file; only for
	// readers signed in, since whole messages carry addresses.
	Mbox(ctx context.Context, list, email, ym string, thread int64, w io.Writer) error
	// Atom writes the feed of a public archive's latest posts.
	Atom(ctx context.Context, list string, w io.Writer) error
	// Post sends a signed-in member's post to the list through its
	// posting policy, as if mailed from their proven address; replyTo is
	// the post it answers (0: a new thread). It says what became of it.
	Post(ctx context.Context, list, email string, p ArchivePost) (ArchivePosted, error)
	// Remove takes a post out of the archive, for an owner or moderator
	// (ErrNoFeed for anyone else), recording why, and client (the
	// browser's address) in the audit log.
	Remove(ctx context.Context, list, email string, id int64, reason, client string) error
}

// ErrSignIn: the archive is not public; a member who signs in may read it.
var ErrSignIn = errors.New("web: sign in to read this archive")

// ArchiveRow is a list whose archive someone may read.
type ArchiveRow struct {
	Address    string // CODE.NAME
	Name       string
	Visibility string // public, members, owners
}

// ArchiveList is what every archive page says of its list.
type ArchiveList struct {
	ArchiveRow
	Path     string // /archives/CODE.NAME
	Email    string // the list's address
	CanPost  bool   // signed in: the form to post (the policy judges)
	CanMbox  bool   // signed in: mbox downloads
	IsOwner  bool   // may remove posts
	Policy   string // announce, members, moderated, open, territory
	Feed     string // the Atom feed (public archives)
	Archived int    // posts in the archive
}

// ArchiveIndex is a list's archive page.
type ArchiveIndex struct {
	ArchiveList
	Months []ArchiveMonthRow
	Latest []ArchivePostRow
}

// ArchiveMonthRow is a month with posts.
type ArchiveMonthRow struct {
	YM    string // 2026-11
	Label string // "novembre 2026"
	Posts int
}

// ArchiveMonth is a month's threads.
type ArchiveMonth struct {
	ArchiveList
	YM, Label string
	Threads   []ArchiveThreadRow
}

// ArchiveThreadRow is a thread in a month.
type ArchiveThreadRow struct {
	Path    string
	Subject string
	Author  string
	Posts   int
	Last    string
}

// ArchivePostRow is a post in a list of posts.
type ArchivePostRow struct {
	ID      int64
	Path    string // its page (permalink)
	Thread  string // its thread's page
	Subject string
	Author  string
	When    string
	Depth   int
	Excerpt template.HTML // search results: the words around what matched, marked
}

// ArchiveThread is a thread (or one post of it: Message) with each post
// shown.
type ArchiveThread struct {
	ArchiveList
	ID      int64 // the thread's
	Path    string
	Subject string
	Posts   []ArchiveMessage
	Mbox    string
}

// ArchiveMessage is one post as its page shows it.
type ArchiveMessage struct {
	ArchivePostRow
	From, Date, To, Cc string
	Parts              []ArchivePart
}

// ArchivePart is a piece of a post: text, sanitised HTML, or an
// attachment's link.
type ArchivePart struct {
	Text string
	HTML template.HTML
	Name string
	Path string // of the attachment
	Type string
	Size string
}

// ArchiveFile is an attachment to download.
type ArchiveFile struct {
	Name string
	Type string // as it is served (safe types only)
	Data []byte
}

// ArchiveQuery is a search as typed.
type ArchiveQuery struct {
	Words, Author, From, To string
	Before                  int64
}

// ArchiveSearch is a search's page.
type ArchiveSearch struct {
	ArchiveList
	Query   ArchiveQuery
	Problem string // bad-date, empty
	Hits    []ArchivePostRow
	More    string // the next page, "" when there is none
	Took    time.Duration
}

// ArchivePost is a post written on the web.
type ArchivePost struct {
	Subject string
	Text    string
	ReplyTo int64
	Lang    string
	Client  string
}

// ArchivePosted is what became of a web post, as the list's posting
// policy decided: sent (Path is its thread), held for the moderators,
// refused (an announcement list: the member is told by mail), or failed
// (tried again later, as mail would be).
type ArchivePosted struct {
	Outcome string
	Path    string
}
