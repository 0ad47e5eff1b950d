-- The weekly digest of nearby events (issue 5): members' places and
-- preferences, and the digest each got each week.

-- A member of the agenda: anyone who gave a place (by mail to agenda+request@
-- or when joining a list). Lists' members who gave none get no digest.
CREATE TABLE agenda_members (
    email      TEXT PRIMARY KEY,               -- lower case
    postcode   TEXT NOT NULL DEFAULT '',
    insee      TEXT NOT NULL DEFAULT '',
    place      TEXT NOT NULL DEFAULT '',       -- commune name, as shown back
    lat        REAL NOT NULL DEFAULT 0,
    lon        REAL NOT NULL DEFAULT 0,
    radius_km  INTEGER NOT NULL DEFAULT 25,
    lang       TEXT NOT NULL DEFAULT 'fr',
    zone       TEXT NOT NULL DEFAULT 'Europe/Paris', -- the member's time zone: dates and the day it is sent
    themes     TEXT NOT NULL DEFAULT '',       -- comma-separated, lower case
    active     INTEGER NOT NULL DEFAULT 1,     -- 0: said stop
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- One row per member and week, written before the digest is queued: a
-- restart or a second run the same week finds it and sends nothing more.
-- events: what the digest holds, as JSON, read back when the copy is made
-- and by the next week's digest (cancellations since).
CREATE TABLE digests_sent (
    email   TEXT NOT NULL,
    week    TEXT NOT NULL,                     -- ISO week: 2026-W48
    sent_at INTEGER NOT NULL,
    events  TEXT NOT NULL,
    PRIMARY KEY (email, week)
) WITHOUT ROWID;
