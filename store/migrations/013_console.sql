-- The console of list owners, moderators, animators and operators, and
-- the REST API (issue 16): the audit log, API tokens, a list's own rules
-- for senders, its own welcome and footer texts.

-- Every change a person makes through the console, the API, the command
-- line or a moderator's mail: who, when, what, from where. Written in the
-- transaction that makes the change.
CREATE TABLE audit (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    actor  TEXT NOT NULL,                 -- an address, or "token:NAME"
    via    TEXT NOT NULL,                 -- web, api, cli, mail
    origin TEXT NOT NULL DEFAULT '',      -- the client's address, or the message
    action TEXT NOT NULL,                 -- held.approve, member.remove, …
    target TEXT NOT NULL DEFAULT '',      -- 4405.discussion, a held post, an address
    detail TEXT NOT NULL DEFAULT ''
);
-- Operators read it by time; retention deletes by time.
CREATE INDEX audit_at ON audit(at);

-- Tokens of the REST API (relais token create): only a hash of the secret
-- is kept. scopes: comma-separated (groups, lists, members, events, held,
-- tickets).
CREATE TABLE api_tokens (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    name           TEXT NOT NULL UNIQUE,
    hash           TEXT NOT NULL UNIQUE,  -- SHA-256 of the secret, hex: what a request is looked up by
    scopes         TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    revoked_at     INTEGER NOT NULL DEFAULT 0,
    last_used_at   INTEGER NOT NULL DEFAULT 0,
    last_used_from TEXT NOT NULL DEFAULT ''
);

-- A list's own rules for a sender, set by its moderators: accept (posts
-- go through as a member's would) or ban (posts are dropped, silently).
CREATE TABLE list_senders (
    list_id    INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    email      TEXT NOT NULL,             -- lower case
    rule       TEXT NOT NULL,             -- accept, ban
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (list_id, email)
) WITHOUT ROWID;
-- Erasure and export find a person's rows.
CREATE INDEX list_senders_email ON list_senders(email);

-- A list's own words, added to its welcome message and to every copy's
-- footer, in each language ('' for none).
ALTER TABLE lists ADD COLUMN welcome_fr TEXT NOT NULL DEFAULT '';
ALTER TABLE lists ADD COLUMN welcome_en TEXT NOT NULL DEFAULT '';
ALTER TABLE lists ADD COLUMN footer_fr TEXT NOT NULL DEFAULT '';
ALTER TABLE lists ADD COLUMN footer_en TEXT NOT NULL DEFAULT '';
-- The digest modes a list offers its members: daily, weekly, both, or
-- none (comma-separated).
ALTER TABLE lists ADD COLUMN digest_modes TEXT NOT NULL DEFAULT 'daily,weekly';
