-- A place of their own for members (issue 15): sign-in by a link sent by
-- mail, sessions, and the counters that cap the links asked for.

-- A link the hub mailed because someone typed an address on a page: to
-- sign in (purpose 'signin'), or to confirm they will attend an event
-- (purpose 'attend', event_id set). Only a hash of the token is kept: the
-- token itself is in the mail alone. Single-use, short-lived.
CREATE TABLE web_links (
    hash       TEXT PRIMARY KEY,             -- SHA-256 of the token, hex
    purpose    TEXT NOT NULL,                -- signin, attend
    email      TEXT NOT NULL,                -- lower case
    lang       TEXT NOT NULL DEFAULT 'fr',
    event_id   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
-- Erasure and export find a person's links; retention walks them by expiry.
CREATE INDEX web_links_email ON web_links(email);
CREATE INDEX web_links_expires ON web_links(expires_at);

-- The "gérer mes abonnements" links of footers and digests are not stored:
-- each names a member by an opaque id under a MAC and carries its expiry.
-- Once used, or seen quoted in a post to a list, its hash is kept here
-- until it would have expired, so it signs nobody in again.
CREATE TABLE web_links_spent (
    hash       TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX web_links_spent_expires ON web_links_spent(expires_at);

-- A signed-in browser. The cookie holds a random id; only its hash is
-- here. strong: opened by a link mailed on request (not by a footer's
-- link, which a reply may have quoted): it may download or erase data.
CREATE TABLE web_sessions (
    hash       TEXT PRIMARY KEY,             -- SHA-256 of the cookie's value, hex
    email      TEXT NOT NULL,                -- lower case
    lang       TEXT NOT NULL DEFAULT '',
    strong     INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
-- "Sign out everywhere", erasure and export find a person's sessions.
CREATE INDEX web_sessions_email ON web_sessions(email);
CREATE INDEX web_sessions_expires ON web_sessions(expires_at);

-- Every link asked for on a page, to cap them per address and per client
-- address and hour. who is a keyed hash of the address (an address typed
-- by a stranger is not kept) or "ip:" and the client's address. Rows older
-- than a day are deleted by the retention job.
CREATE TABLE web_link_requests (
    at  INTEGER NOT NULL,
    who TEXT NOT NULL
);
CREATE INDEX web_link_requests_who ON web_link_requests(who, at);
