-- The support desk: queues with their operators, tickets, the people a
-- ticket's reply keys are issued to, and every message of a ticket, raw.

-- A queue is a plain address on the hub's domain (support@, juridique@).
CREATE TABLE queues (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL UNIQUE,          -- the local part; RCPT lookups
    display_name TEXT NOT NULL DEFAULT '',
    lang         TEXT NOT NULL DEFAULT 'fr',    -- language of its acknowledgements
    created_at   INTEGER NOT NULL
);

CREATE TABLE queue_operators (
    queue_id INTEGER NOT NULL REFERENCES queues(id) ON DELETE CASCADE,
    email    TEXT NOT NULL,                     -- lower case
    PRIMARY KEY (queue_id, email)
) WITHOUT ROWID;

-- The ticket's id is its public number (#123).
CREATE TABLE tickets (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    queue_id       INTEGER NOT NULL REFERENCES queues(id),
    subject        TEXT NOT NULL DEFAULT '',
    requester      TEXT NOT NULL,               -- lower case
    requester_name TEXT NOT NULL DEFAULT '',
    lang           TEXT NOT NULL DEFAULT 'fr',
    state          TEXT NOT NULL DEFAULT 'new', -- new, open, pending, solved, closed
    assignee       TEXT NOT NULL DEFAULT '',
    follows        INTEGER NOT NULL DEFAULT 0,  -- the closed ticket this one takes over from
    root_msgid     TEXT NOT NULL DEFAULT '',    -- Message-ID of the opening message (References)
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    closed_at      INTEGER NOT NULL DEFAULT 0
);
-- `relais ticket list --queue Q --state S`, and the minute tick closing
-- solved tickets.
CREATE INDEX tickets_queue_state ON tickets(queue_id, state, id);
CREATE INDEX tickets_state ON tickets(state, updated_at);

-- Everyone a reply key was issued to: the key names this row, whose
-- address is in the MAC, so a key is bound to one ticket, one person and
-- one role.
CREATE TABLE ticket_people (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    email     TEXT NOT NULL,                    -- lower case
    role      TEXT NOT NULL,                    -- requester, operator, other
    UNIQUE (ticket_id, email)
);

-- Every message of a ticket, as it came or as it was sent: raw is never
-- trimmed; text is what displays and notifications show.
CREATE TABLE ticket_messages (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id  INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,                   -- request, reply, answer, note, auto, ack
    author     TEXT NOT NULL,                   -- lower-case address
    header_id  TEXT NOT NULL DEFAULT '',        -- its Message-ID field
    text       TEXT NOT NULL DEFAULT '',
    raw        BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
-- `ticket show` reads a ticket's messages in order.
CREATE INDEX ticket_messages_ticket ON ticket_messages(ticket_id, id);
-- A message sent to support+KEY@ and Cc support@ arrives twice: the second
-- copy is recognised by its Message-ID.
CREATE INDEX ticket_messages_header ON ticket_messages(header_id);

-- What the desk sent, per address (acknowledgements, notices) and per
-- ticket ("#N": answers, notifications): the hourly limits against loops.
CREATE TABLE ticket_acks (
    email TEXT NOT NULL,                        -- an address, or "#N"
    at    INTEGER NOT NULL
);
CREATE INDEX ticket_acks_email ON ticket_acks(email, at);
