-- Mailing lists: settings, owners, members with their consent proof,
-- single-use tokens, held posts, the archive (also the source of digests).

-- Which producer an outbound message belongs to (a list post's id), so the
-- queue can ask it for each recipient's personal copy at send time.
ALTER TABLE outbound ADD COLUMN ref TEXT NOT NULL DEFAULT '';

-- A list has a coded address CODE.NAME like a group; a CODE.NAME is either
-- a group or a list, never both (checked on creation of either).
CREATE TABLE lists (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    code           TEXT NOT NULL,
    name           TEXT NOT NULL,
    display_name   TEXT NOT NULL DEFAULT '',
    policy         TEXT NOT NULL,                -- announce, members, moderated, open
    reply_to       TEXT NOT NULL DEFAULT 'list', -- list, poster: where replies to a post go
    subject_prefix INTEGER NOT NULL DEFAULT 1,   -- add [CODE.name] to subjects
    lang           TEXT NOT NULL DEFAULT 'fr',
    max_bytes      INTEGER NOT NULL DEFAULT 0,   -- 0: the hub's default
    rate_per_hour  INTEGER NOT NULL DEFAULT 0,   -- posts per poster and hour; 0: the hub's default
    archive        INTEGER NOT NULL DEFAULT 1,
    digest_daily_at  INTEGER NOT NULL DEFAULT 0, -- when the last daily digest was made
    digest_weekly_at INTEGER NOT NULL DEFAULT 0,
    digest_daily_post  INTEGER NOT NULL DEFAULT 0, -- last post id it covered
    digest_weekly_post INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    UNIQUE (code, name)                          -- RCPT lookups
);

-- Owners get +owner mail and moderate; moderators only moderate.
CREATE TABLE list_owners (
    list_id INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    email   TEXT NOT NULL,
    role    TEXT NOT NULL DEFAULT 'owner',       -- owner, moderator
    PRIMARY KEY (list_id, email)
) WITHOUT ROWID;

-- A member row is kept after unsubscribing: consent and its withdrawal are
-- records an operator may have to show.
CREATE TABLE members (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    list_id       INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    email         TEXT NOT NULL,                 -- lower case
    state         TEXT NOT NULL DEFAULT 'active', -- active, bouncing, unsubscribed
    mode          TEXT NOT NULL DEFAULT 'each',  -- each, daily, weekly
    paused        INTEGER NOT NULL DEFAULT 0,
    resume_at     INTEGER NOT NULL DEFAULT 0,    -- end of a pause; 0: until the member says
    lang          TEXT NOT NULL DEFAULT 'fr',
    consent_at    INTEGER NOT NULL,              -- when the owner of the address confirmed
    consent_how   TEXT NOT NULL,                 -- how: which message, from where
    left_at       INTEGER NOT NULL DEFAULT 0,
    left_how      TEXT NOT NULL DEFAULT '',
    bounce_score  REAL NOT NULL DEFAULT 0,
    bounce_at     INTEGER NOT NULL DEFAULT 0,    -- last bounce counted
    UNIQUE (list_id, email)
);
-- Sending a post walks the active members of one list.
CREATE INDEX members_active ON members(list_id, mode) WHERE state = 'active';

-- Single-use tokens named by the addresses the hub writes from:
-- LIST+confirm-TOKEN (subscription), LIST+approve-TOKEN / +reject-TOKEN
-- (moderation).
CREATE TABLE list_tokens (
    token      TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,                    -- confirm, approve, reject
    list_id    INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    email      TEXT NOT NULL DEFAULT '',         -- confirm: the address to subscribe
    lang       TEXT NOT NULL DEFAULT 'fr',
    held_id    INTEGER NOT NULL DEFAULT 0,       -- approve, reject
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER NOT NULL DEFAULT 0,
    request    TEXT NOT NULL DEFAULT ''          -- confirm: the request, for the consent record
) WITHOUT ROWID;

-- Posts waiting for a moderator.
CREATE TABLE held (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    list_id    INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE, -- kept while held (see message.delete-old)
    poster     TEXT NOT NULL,
    reason     TEXT NOT NULL,                    -- non-member, moderated, size, rate, …
    held_at    INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    state      TEXT NOT NULL DEFAULT 'held',     -- held, approved, rejected, expired
    decided_at INTEGER NOT NULL DEFAULT 0,
    decided_by TEXT NOT NULL DEFAULT ''
);
-- Expiry walks the held posts by time.
CREATE INDEX held_waiting ON held(expires_at) WHERE state = 'held';

-- Every post delivered to a list, as sent (before personal parts): the
-- archive, and what digests are made of. Kept apart from messages, which
-- the queue cleans up.
CREATE TABLE posts (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    list_id   INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    poster    TEXT NOT NULL,
    subject   TEXT NOT NULL DEFAULT '',
    posted_at INTEGER NOT NULL,
    body      BLOB NOT NULL
);
-- Digests and export read a list's posts in order; rate limits count a
-- poster's recent ones.
CREATE INDEX posts_list ON posts(list_id, id);
CREATE INDEX posts_poster ON posts(list_id, poster, posted_at);
