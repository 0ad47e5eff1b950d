-- Who said they will attend an event (the "je participe" link of the
-- digest): they get a reminder the day before, and changes and
-- cancellations.
CREATE TABLE event_attendees (
    event_id    INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    email       TEXT NOT NULL,                 -- lower case
    lang        TEXT NOT NULL DEFAULT 'fr',
    created_at  INTEGER NOT NULL,
    reminded_at INTEGER NOT NULL DEFAULT 0,    -- the day-before reminder went
    PRIMARY KEY (event_id, email)
) WITHOUT ROWID;
-- The minute tick looks for reminders not yet sent.
CREATE INDEX event_attendees_due ON event_attendees(reminded_at, event_id);
