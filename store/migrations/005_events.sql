-- Events and the weekly digests of nearby events (issue 5).

-- An event, as published by its groups. Times are Unix seconds; zone is the
-- IANA zone they are shown in.
CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    uid        TEXT NOT NULL UNIQUE,          -- the invitation's UID: updates and joint events find it
    sequence   INTEGER NOT NULL DEFAULT 0,    -- RFC 5545 SEQUENCE: a lower one is an old copy
    title      TEXT NOT NULL,
    details    TEXT NOT NULL DEFAULT '',
    start_at   INTEGER NOT NULL,
    end_at     INTEGER NOT NULL,
    all_day    INTEGER NOT NULL DEFAULT 0,
    zone       TEXT NOT NULL DEFAULT 'Europe/Paris',
    place      TEXT NOT NULL DEFAULT '',
    postcode   TEXT NOT NULL DEFAULT '',
    insee      TEXT NOT NULL DEFAULT '',
    lat        REAL NOT NULL DEFAULT 0,
    lon        REAL NOT NULL DEFAULT 0,
    located    INTEGER NOT NULL DEFAULT 0,    -- lat/lon known
    themes     TEXT NOT NULL DEFAULT '',      -- comma-separated, lower case
    public     INTEGER NOT NULL DEFAULT 1,    -- 0: members of the organising groups only
    status     TEXT NOT NULL DEFAULT 'confirmed', -- confirmed, cancelled
    url        TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
-- Upcoming events in date order: feeds and digests read a window of time.
CREATE INDEX events_start ON events(start_at);

-- The organising groups: several for a joint event.
CREATE TABLE event_groups (
    event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    PRIMARY KEY (event_id, group_id)
) WITHOUT ROWID;
-- A group's feed.
CREATE INDEX event_groups_group ON event_groups(group_id, event_id);

-- Themes, one row each: a theme's feed.
CREATE TABLE event_themes (
    theme    TEXT NOT NULL,
    event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    PRIMARY KEY (theme, event_id)
) WITHOUT ROWID;
