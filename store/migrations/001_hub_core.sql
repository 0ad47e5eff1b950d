-- The hub core: groups and their animators, the intake spool, the outbound
-- queue. Times are Unix seconds (UTC).
--
-- Ids are AUTOINCREMENT: never reused, even after the rows with the highest
-- ids are deleted. A delivery id is named by a VERP address that can come
-- back weeks later, and a group id by routes stored before a DATA commit;
-- neither may ever point at a newer row.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;

-- A group has one coded address CODE.NAME on the hub's domains.
CREATE TABLE groups (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    code         TEXT NOT NULL,              -- canonical territory code: 4405, 2A01, fr
    name         TEXT NOT NULL,              -- [a-z0-9-]{1,40}
    display_name TEXT NOT NULL,
    commune      TEXT NOT NULL DEFAULT '',   -- postal code or INSEE code
    created_at   INTEGER NOT NULL,
    UNIQUE (code, name)                      -- RCPT lookups go through this index
);

-- The group's current animators: where its contact mail is forwarded.
CREATE TABLE animators (
    group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    email    TEXT NOT NULL,
    PRIMARY KEY (group_id, email)
) WITHOUT ROWID;

-- Every message body the hub holds: received over SMTP, or written by the
-- hub itself (notices). The body is stored once, whatever the number of
-- recipients it goes to.
CREATE TABLE messages (
    id          TEXT PRIMARY KEY,            -- queue id, shown in Received and in logs
    received_at INTEGER NOT NULL,
    mail_from   TEXT NOT NULL,               -- envelope sender; '' for the null sender
    remote_ip   TEXT NOT NULL DEFAULT '',    -- '' when written by the hub
    helo        TEXT NOT NULL DEFAULT '',
    smtputf8    INTEGER NOT NULL DEFAULT 0,  -- RFC 6531: needs SMTPUTF8 onward
    body8bit    INTEGER NOT NULL DEFAULT 0,  -- RFC 6152: BODY=8BITMIME onward
    size        INTEGER NOT NULL,
    body        BLOB NOT NULL
);  -- a rowid table: WITHOUT ROWID suits small rows, not kilobytes of body

-- The routing decision for each accepted recipient, written with the body
-- before 250 is said; the dispatcher acts on it afterwards.
CREATE TABLE inbound_rcpts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    rcpt       TEXT NOT NULL,                -- as given in RCPT TO
    route      TEXT NOT NULL,                -- group, bounce, role
    target     TEXT NOT NULL,                -- group id, delivery id, role name
    state      TEXT NOT NULL DEFAULT 'pending', -- pending, done, failed, kept (held for an operator)
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_try   INTEGER NOT NULL,
    detail     TEXT NOT NULL DEFAULT ''      -- why it failed, for the operator
);
-- The dispatcher looks only at pending rows, by due time.
CREATE INDEX inbound_rcpts_pending ON inbound_rcpts(next_try) WHERE state = 'pending';
CREATE INDEX inbound_rcpts_message ON inbound_rcpts(message_id);

-- One message on its way out: a body (from messages) and the header fields
-- prepended for this delivery.
CREATE TABLE outbound (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id  TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    prefix      BLOB NOT NULL DEFAULT x'',
    null_sender INTEGER NOT NULL DEFAULT 0,  -- MAIL FROM:<> (notices about failures)
    inbound_id  INTEGER,                     -- the inbound recipient it serves, if any
    kind        TEXT NOT NULL,               -- forward, notice
    created_at  INTEGER NOT NULL
);
CREATE INDEX outbound_message ON outbound(message_id);

-- One recipient of an outbound message: its own status, retries and VERP
-- return path bounces+<id>-<mac>.
CREATE TABLE deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    outbound_id  INTEGER NOT NULL REFERENCES outbound(id) ON DELETE CASCADE,
    rcpt         TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'queued', -- queued, sent, failed, bounced
    attempts     INTEGER NOT NULL DEFAULT 0,  -- attempts made and recorded
    next_attempt INTEGER NOT NULL,
    last_reply   TEXT NOT NULL DEFAULT '',   -- the relay's last answer, or the error
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
-- The scheduler asks "what is due now" on queued rows only, and "what was
-- never tried" (fresh deliveries are sent at once; their next_attempt is
-- already saved for the case where that first attempt is cut off).
CREATE INDEX deliveries_due ON deliveries(next_attempt) WHERE state = 'queued';
CREATE INDEX deliveries_fresh ON deliveries(id) WHERE state = 'queued' AND attempts = 0;
CREATE INDEX deliveries_outbound ON deliveries(outbound_id);

-- Delivery status notifications and other bounces received on bounces+TOKEN.
CREATE TABLE bounces (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id INTEGER NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
    message_id  TEXT NOT NULL,               -- the bounce message itself
    received_at INTEGER NOT NULL,
    action      TEXT NOT NULL,               -- RFC 3464 Action: failed, delayed, …; 'unknown' if unparseable
    status      TEXT NOT NULL DEFAULT '',    -- RFC 3464 Status: 5.1.1
    diagnostic  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX bounces_delivery ON bounces(delivery_id);
