-- The members' pages (package signin, and the pages' reads of lists,
-- digest and events).

-- name: weblink.insert
INSERT INTO web_links (hash, purpose, email, lang, event_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?);

-- name: weblink.get
SELECT purpose, email, lang, event_id, expires_at, used_at FROM web_links WHERE hash = ?;

-- name: weblink.use
-- Single use: only the first of two concurrent uses changes the row.
UPDATE web_links SET used_at = ? WHERE hash = ? AND used_at = 0;

-- name: weblink.spent
SELECT COUNT(*) FROM web_links_spent WHERE hash = ?;

-- name: weblink.spend
INSERT INTO web_links_spent (hash, expires_at) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING;

-- name: weblink.request
INSERT INTO web_link_requests (at, who) VALUES (?, ?);

-- name: weblink.requests
SELECT COUNT(*) FROM web_link_requests WHERE who = ? AND at > ?;

-- name: session.insert
INSERT INTO web_sessions (hash, email, lang, strong, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?);

-- name: session.get
SELECT email, lang, strong, created_at, expires_at FROM web_sessions WHERE hash = ?;

-- name: session.delete
DELETE FROM web_sessions WHERE hash = ?;

-- name: session.delete-all
DELETE FROM web_sessions WHERE email = ?;

-- name: weblink.signout
-- "Sign out everywhere": the links to the person's page made until now
-- sign nobody in.
INSERT INTO web_signouts (mac, at, expires_at) VALUES (?1, ?2, ?3)
ON CONFLICT (mac) DO UPDATE SET at = excluded.at, expires_at = excluded.expires_at;

-- name: weblink.signed-out
SELECT at FROM web_signouts WHERE mac = ?;

-- name: weblink.drop-signin
-- The sign-in links mailed to a person and not used yet.
DELETE FROM web_links WHERE email = ? AND purpose = 'signin' AND used_at = 0;

-- name: session.set-lang
UPDATE web_sessions SET lang = ? WHERE email = ?;

-- name: person.known
-- Whether the hub holds anything that a person's page shows: a link is
-- mailed to them only then. Uses the email indexes of each table.
SELECT EXISTS (SELECT 1 FROM members WHERE email = ?1)
    OR EXISTS (SELECT 1 FROM agenda_members WHERE email = ?1)
    OR EXISTS (SELECT 1 FROM event_attendees WHERE email = ?1)
    OR EXISTS (SELECT 1 FROM animators WHERE email = ?1)
    OR EXISTS (SELECT 1 FROM list_owners WHERE email = ?1)
    OR EXISTS (SELECT 1 FROM queue_operators WHERE email = ?1);

-- name: person.lang
-- The language the person chose last: their agenda's, else a list's.
SELECT lang FROM (SELECT lang, 0 AS o FROM agenda_members WHERE email = ?1
                  UNION ALL SELECT lang, 1 FROM members WHERE email = ?1 AND state != 'unsubscribed') AS x
ORDER BY o LIMIT 1;

-- name: person.by-member-id
-- The address an opaque list member id names (links of list footers).
SELECT email FROM members WHERE id = ? AND state != 'unsubscribed';

-- name: person.by-agenda-link
-- The address an agenda link id names (links of digests).
SELECT email FROM agenda_members WHERE link = ?;

-- name: erase.web-links
DELETE FROM web_links WHERE email = ?;

-- name: erase.web-sessions
DELETE FROM web_sessions WHERE email = ?;

-- name: person.web
-- What the pages hold about a person: links mailed, sessions open.
SELECT (SELECT COUNT(*) FROM web_links WHERE email = ?1),
       (SELECT COUNT(*) FROM web_sessions WHERE email = ?1);

-- name: retain.web-count
SELECT (SELECT COUNT(*) FROM web_links WHERE expires_at <= ?1)
     + (SELECT COUNT(*) FROM web_links_spent WHERE expires_at <= ?1)
     + (SELECT COUNT(*) FROM web_sessions WHERE expires_at <= ?1)
     + (SELECT COUNT(*) FROM web_link_requests WHERE at <= ?1 - 86400)
     + (SELECT COUNT(*) FROM web_signouts WHERE expires_at <= ?1);

-- name: retain.web-links
DELETE FROM web_links WHERE expires_at <= ?;
-- name: retain.web-spent
DELETE FROM web_links_spent WHERE expires_at <= ?;
-- name: retain.web-sessions
DELETE FROM web_sessions WHERE expires_at <= ?;
-- name: retain.web-signouts
DELETE FROM web_signouts WHERE expires_at <= ?;
-- name: retain.web-requests
DELETE FROM web_link_requests WHERE at <= ? - 86400;

-- name: member.of-person
-- Every list a person is on or left, for their page.
SELECT m.id, m.list_id, m.email, m.state, m.mode, m.paused, m.resume_at, m.lang, m.consent_at, m.consent_how,
       m.left_at, m.left_how, m.bounce_score, m.bounce_at, m.admitted
FROM members m JOIN lists l ON l.id = m.list_id WHERE m.email = ? ORDER BY l.code, l.name;

-- name: member.set-lang
UPDATE members SET lang = ? WHERE email = ?;

-- name: agenda.set-lang
UPDATE agenda_members SET lang = ? WHERE email = ?;

-- name: list.under-codes
-- Lists a person may join from their page: those under a code of their
-- groups (see digest's groups of a member), territory lists aside.
SELECT id FROM lists WHERE code IN (SELECT value FROM json_each(?)) AND policy != 'territory' ORDER BY code, name;

-- name: attendee.of-person
-- The events a person said they will attend, to come.
SELECT a.event_id FROM event_attendees a JOIN events e ON e.id = a.event_id
WHERE a.email = ? AND e.end_at > ? ORDER BY e.start_at;

-- name: attendee.remove
DELETE FROM event_attendees WHERE event_id = ? AND email = ?;

-- name: test.sessions
-- Tests: how many sessions are open.
SELECT COUNT(*) FROM web_sessions;
