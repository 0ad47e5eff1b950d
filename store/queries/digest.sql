-- The agenda's members and their weekly digests.

-- name: agenda.member
SELECT email, postcode, insee, place, lat, lon, radius_km, lang, zone, themes, active, created_at, updated_at, link
FROM agenda_members WHERE email = ?;

-- name: agenda.member-by-link
-- A stop, start or attend link: uses agenda_members_link.
SELECT email, postcode, insee, place, lat, lon, radius_km, lang, zone, themes, active, created_at, updated_at, link
FROM agenda_members WHERE link = ?;

-- name: agenda.upsert
-- The link id is drawn once, for a new member.
INSERT INTO agenda_members (email, postcode, insee, place, lat, lon, radius_km, lang, zone, themes, active, created_at, updated_at, link)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (email) DO UPDATE SET postcode = excluded.postcode, insee = excluded.insee, place = excluded.place,
    lat = excluded.lat, lon = excluded.lon, radius_km = excluded.radius_km, lang = excluded.lang,
    zone = excluded.zone, themes = excluded.themes, active = excluded.active, updated_at = excluded.updated_at;

-- name: agenda.active-page
-- The weekly run reads members a page at a time, in address order (the
-- primary key), after the last one read.
SELECT email, postcode, insee, place, lat, lon, radius_km, lang, zone, themes, active, created_at, updated_at, link
FROM agenda_members WHERE active = 1 AND insee != '' AND email > ? ORDER BY email LIMIT ?;

-- name: agenda.groups-of
-- The groups a member belongs to: those they animate, and those whose
-- code is the code of a list they are a member of (4405.discussion makes
-- a member of the groups of 4405); admitted (1) for the groups whose
-- members-only events they see: animators, and members an owner, the
-- platform or an operator admitted.
SELECT g.id, 1 FROM animators a JOIN groups g ON g.id = a.group_id WHERE a.email = ?
UNION
SELECT g.id, m.admitted FROM members m JOIN lists l ON l.id = m.list_id JOIN groups g ON g.code = l.code
WHERE m.email = ? AND m.state != 'unsubscribed';

-- name: agenda.all-groups
-- Every member's groups at once, for a run over everyone.
SELECT a.email, g.id, 1 FROM animators a JOIN groups g ON g.id = a.group_id
UNION
SELECT m.email, g.id, m.admitted FROM members m JOIN lists l ON l.id = m.list_id JOIN groups g ON g.code = l.code
WHERE m.state != 'unsubscribed';

-- name: digest.sent
SELECT events FROM digests_sent WHERE email = ? AND week = ?;

-- name: digest.record
-- DO NOTHING: the row of an earlier run stands, and nothing is queued twice.
INSERT INTO digests_sent (email, week, sent_at, events) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING;

-- name: digest.sent-page
-- What the members of a page of the weekly run (addresses from ? to ?) were
-- sent since week ?: this week's digest already recorded, last week's
-- events (next week's run tells of cancellations since), and any sent in
-- the last days (a member who moved to another time zone is not sent a
-- second one the same days). Week names sort in time order (2026-W09).
SELECT email, week, sent_at, events FROM digests_sent WHERE email >= ? AND email <= ? AND week >= ?;

-- name: digest.copies
-- The next recipients of a queued digest, from delivery ? on, with their
-- place and preferences and the selection recorded for the week: one read
-- for the copies of many members. A recipient who left the agenda comes
-- with no member (email NULL).
SELECT d.id, d.rcpt, m.email, m.postcode, m.insee, m.place, m.lat, m.lon, m.radius_km, m.lang, m.zone, m.themes,
       m.active, m.created_at, m.updated_at, m.link, s.events
FROM deliveries d
LEFT JOIN agenda_members m ON m.email = lower(d.rcpt)
LEFT JOIN digests_sent s ON s.email = m.email AND s.week = ?
WHERE d.outbound_id = ? AND d.id >= ? AND d.state = 'queued'
ORDER BY d.id LIMIT ?;
