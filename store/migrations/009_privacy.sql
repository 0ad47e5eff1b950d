-- Personal data (issue 14): erasures and expired withdrawals kept as keyed
-- hashes, opaque ids in the agenda's links, each list's archive retention,
-- and the indexes the retention job walks.

-- An address erased from the hub (`relais member erase`), kept only as an
-- HMAC-SHA256 of the lower-case address under the hub's secret "erasure":
-- an operator's import of an old file does not bring it back. n names the
-- person in what stays for others (a ticket's requester becomes
-- "effacé-N").
CREATE TABLE erasures (
    n         INTEGER PRIMARY KEY AUTOINCREMENT,
    mac       TEXT NOT NULL UNIQUE,
    erased_at INTEGER NOT NULL
);

-- A member who left a list and whose consent record outlived
-- retention.consent: the record is deleted, the withdrawal stays as the
-- same keyed hash, so an old import does not subscribe them again.
CREATE TABLE withdrawals (
    list_id INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    mac     TEXT NOT NULL,
    at      INTEGER NOT NULL,
    PRIMARY KEY (list_id, mac)
) WITHOUT ROWID;

-- The agenda's links (stop, start, attend) name a member by this random
-- id under a MAC, never by the address; a new one is drawn for each new
-- member, so the links of an erased member never come back to life.
ALTER TABLE agenda_members ADD COLUMN link TEXT NOT NULL DEFAULT '';
UPDATE agenda_members SET link = lower(hex(randomblob(10)));
-- A link is read through this index.
CREATE UNIQUE INDEX agenda_members_link ON agenda_members(link);

-- How long a list's posts stay in its archive, in seconds: 0 follows the
-- hub's retention.archive, -1 keeps them for the life of the list.
ALTER TABLE lists ADD COLUMN archive_keep INTEGER NOT NULL DEFAULT 0;
-- What erasing a member does to their posts in the archive: delete them,
-- or keep them under the member's pseudonym (the address replaced).
ALTER TABLE lists ADD COLUMN erase_posts TEXT NOT NULL DEFAULT 'delete';

-- The retention job's walks: closed tickets by closing time, decided held
-- posts by decision time, departed members by leaving time, attendance by
-- the end of its event, posts by age, digests by sending time.
CREATE INDEX tickets_closed ON tickets(closed_at) WHERE state = 'closed';
CREATE INDEX held_decided ON held(decided_at) WHERE state != 'held';
CREATE INDEX members_left ON members(left_at) WHERE state = 'unsubscribed';
CREATE INDEX events_end ON events(end_at);
CREATE INDEX posts_age ON posts(list_id, posted_at);
CREATE INDEX digests_sent_at ON digests_sent(sent_at);
-- Erasure and export find a person's rows by address (deliveries, a week
-- of them and written by the thousand, are scanned instead).
CREATE INDEX event_attendees_email ON event_attendees(email);
CREATE INDEX tickets_requester ON tickets(requester);
CREATE INDEX ticket_people_email ON ticket_people(email);
CREATE INDEX members_email ON members(email);
