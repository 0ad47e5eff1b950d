-- A counter of changes to the events and their organisers (issue 18). The
-- weekly digest makes its copies by the thousand from events it keeps in
-- memory; it reads this one row to know when to read them again, so that a
-- copy made after a change shows the change.
CREATE TABLE events_version (n INTEGER NOT NULL);
INSERT INTO events_version (n) VALUES (0);
CREATE TRIGGER events_version_insert AFTER INSERT ON events BEGIN UPDATE events_version SET n = n + 1; END;
CREATE TRIGGER events_version_update AFTER UPDATE ON events BEGIN UPDATE events_version SET n = n + 1; END;
CREATE TRIGGER events_version_delete AFTER DELETE ON events BEGIN UPDATE events_version SET n = n + 1; END;
CREATE TRIGGER event_groups_version_insert AFTER INSERT ON event_groups BEGIN UPDATE events_version SET n = n + 1; END;
CREATE TRIGGER event_groups_version_update AFTER UPDATE ON event_groups BEGIN UPDATE events_version SET n = n + 1; END;
CREATE TRIGGER event_groups_version_delete AFTER DELETE ON event_groups BEGIN UPDATE events_version SET n = n + 1; END;
