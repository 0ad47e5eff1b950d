-- Events.

-- name: event.by-uid
SELECT id, sequence, status FROM events WHERE uid = ?;

-- name: event.insert
INSERT INTO events (uid, sequence, title, details, start_at, end_at, all_day, zone, place, postcode, insee,
                    lat, lon, located, themes, public, status, url, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: event.update
UPDATE events SET sequence = ?, title = ?, details = ?, start_at = ?, end_at = ?, all_day = ?, zone = ?,
                  place = ?, postcode = ?, insee = ?, lat = ?, lon = ?, located = ?, themes = ?, public = ?,
                  status = ?, url = ?, updated_at = ?
WHERE id = ?;

-- name: event.cancel
UPDATE events SET status = 'cancelled', sequence = ?, updated_at = ? WHERE id = ?;

-- name: event.add-group
INSERT INTO event_groups (event_id, group_id) VALUES (?, ?) ON CONFLICT DO NOTHING;

-- name: event.clear-themes
DELETE FROM event_themes WHERE event_id = ?;

-- name: event.add-theme
INSERT INTO event_themes (theme, event_id) VALUES (?, ?) ON CONFLICT DO NOTHING;

-- name: event.get
SELECT id, uid, sequence, title, details, start_at, end_at, all_day, zone, place, postcode, insee,
       lat, lon, located, themes, public, status, url, created_at, updated_at
FROM events WHERE id = ?;

-- name: event.window
-- Events that end after ? and start before ?, in date order.
SELECT id, uid, sequence, title, details, start_at, end_at, all_day, zone, place, postcode, insee,
       lat, lon, located, themes, public, status, url, created_at, updated_at
FROM events WHERE start_at < ? AND end_at > ? ORDER BY start_at, id;

-- name: event.groups
SELECT g.code, g.name, g.id, g.display_name FROM event_groups eg JOIN groups g ON g.id = eg.group_id
WHERE eg.event_id = ? ORDER BY g.code, g.name;

-- name: event.all-groups
-- Every event's organisers, for a window read at once.
SELECT eg.event_id, g.code, g.name, g.id, g.display_name FROM event_groups eg JOIN groups g ON g.id = eg.group_id
JOIN events e ON e.id = eg.event_id
WHERE e.start_at < ? AND e.end_at > ? ORDER BY eg.event_id, g.code, g.name;

-- The calendar feeds (package web) hold public events only: a members-only
-- event is in none of them, and none of them says it exists.

-- name: event.of-group
SELECT e.id FROM event_groups eg JOIN events e ON e.id = eg.event_id
WHERE eg.group_id = ? AND e.end_at > ? AND e.public = 1 ORDER BY e.start_at, e.id;

-- name: event.of-theme
SELECT e.id FROM event_themes t JOIN events e ON e.id = t.event_id
WHERE t.theme = ? AND e.end_at > ? AND e.public = 1 ORDER BY e.start_at, e.id;

-- name: event.of-zone
-- Events organised by a group whose code starts with the territory's.
SELECT DISTINCT e.id, e.start_at FROM event_groups eg JOIN groups g ON g.id = eg.group_id JOIN events e ON e.id = eg.event_id
WHERE (g.code = ? OR g.code LIKE ? || '%') AND e.end_at > ? AND e.public = 1 ORDER BY e.start_at, e.id;

-- name: event.public-by-uid
-- "Add to my calendar": one public event. A members-only event and an
-- unknown UID take the same path and find the same nothing.
SELECT id FROM events WHERE uid = ? AND public = 1;

-- name: event.public-theme
-- Whether a public event (past or to come) has the theme: its feed exists.
SELECT 1 FROM event_themes t JOIN events e ON e.id = t.event_id WHERE t.theme = ? AND e.public = 1 LIMIT 1;

-- name: event.same-form
-- The event a group already made from the same form (same title, same
-- start): sending a form twice changes it, it does not make a second one.
SELECT e.uid FROM event_groups eg JOIN events e ON e.id = eg.event_id
WHERE eg.group_id = ? AND e.start_at = ? AND e.title = ? ORDER BY e.id LIMIT 1;

-- name: attendee.add
INSERT INTO event_attendees (event_id, email, lang, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING;

-- name: attendee.of-event
SELECT email, lang FROM event_attendees WHERE event_id = ? ORDER BY email;

-- name: attendee.due
-- Reminders to send: attendees not reminded of a confirmed event starting
-- between now and a day from now.
SELECT a.event_id, a.email, a.lang FROM event_attendees a JOIN events e ON e.id = a.event_id
WHERE a.reminded_at = 0 AND e.status = 'confirmed' AND e.start_at > ? AND e.start_at <= ?;

-- name: attendee.reminded
UPDATE event_attendees SET reminded_at = ? WHERE event_id = ? AND email = ?;

-- name: test.attendees
-- Tests: how many attendances are recorded.
SELECT COUNT(*) FROM event_attendees;

-- name: event.has-group
SELECT COUNT(*) FROM event_groups WHERE event_id = ? AND group_id = ?;

-- name: event.organiser-animator
-- Whether an address animates one of the groups organising an event: who
-- may bring another group into it.
SELECT COUNT(*) FROM event_groups eg JOIN animators a ON a.group_id = eg.group_id
WHERE eg.event_id = ? AND a.email = ?;

-- name: events.version
-- Bumped by triggers at every change to events or event_groups
-- (migrations/010_events_version.sql).
SELECT n FROM events_version;

-- name: test.events-version-bump
-- Tests: the events change (as the triggers say).
UPDATE events_version SET n = n + 1;
