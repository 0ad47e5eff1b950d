-- Personal data (package privacy): what the hub holds about one address,
-- its erasure, and retention.

-- name: erasure.mark
-- Once per address: erasing twice keeps its number.
INSERT INTO erasures (mac, erased_at) VALUES (?, ?) ON CONFLICT (mac) DO NOTHING;

-- name: erasure.number
SELECT n FROM erasures WHERE mac = ?;

-- name: erasure.has
-- Whether an import may bring the address back to a list: not once erased,
-- nor once its withdrawal from that list outlived its consent record.
SELECT EXISTS (SELECT 1 FROM erasures WHERE mac = ?1)
    OR EXISTS (SELECT 1 FROM withdrawals WHERE mac = ?1 AND list_id = ?2);

-- name: erasure.count
SELECT COUNT(*) FROM erasures;

-- name: person.groups
SELECT g.code, g.name, g.display_name FROM animators a JOIN groups g ON g.id = a.group_id
WHERE a.email = ? ORDER BY g.code, g.name;

-- name: person.list-roles
SELECT l.code, l.name, o.role FROM list_owners o JOIN lists l ON l.id = o.list_id
WHERE o.email = ? ORDER BY l.code, l.name;

-- name: person.queues
SELECT q.name FROM queue_operators o JOIN queues q ON q.id = o.queue_id WHERE o.email = ? ORDER BY q.name;

-- name: person.subscriptions
-- Uses members_email.
SELECT l.code, l.name, m.state, m.mode, m.paused, m.resume_at, m.lang, m.consent_at, m.consent_how,
       m.left_at, m.left_how, m.bounce_score, m.bounce_at, m.admitted
FROM members m JOIN lists l ON l.id = m.list_id WHERE m.email = ? ORDER BY l.code, l.name;

-- name: person.digests
SELECT week, sent_at FROM digests_sent WHERE email = ? ORDER BY week;

-- name: person.attendance
-- Uses event_attendees_email.
SELECT e.uid, e.title, e.start_at, e.zone, a.lang, a.created_at, a.reminded_at
FROM event_attendees a JOIN events e ON e.id = a.event_id WHERE a.email = ? ORDER BY e.start_at;

-- name: person.tickets
-- Tickets they asked, or were brought into. Uses tickets_requester and
-- ticket_people_email.
SELECT t.id, q.name, t.subject, t.state, t.requester, t.created_at, t.updated_at, t.closed_at
FROM tickets t JOIN queues q ON q.id = t.queue_id
WHERE t.requester = ?1 OR t.id IN (SELECT ticket_id FROM ticket_people WHERE email = ?1 AND role != 'operator')
ORDER BY t.id;

-- name: person.ticket-messages
-- What they were sent or wrote in a ticket: internal notes never reach a
-- requester, and the operators' addresses never show.
SELECT kind, author, text, created_at FROM ticket_messages
WHERE ticket_id = ? AND kind NOT IN ('note', 'auto') ORDER BY id;

-- name: person.deliveries
-- Mail to the address still known to the queue (a week of it): scanned,
-- not indexed, since the queue writes these rows by the thousand.
SELECT d.id, o.kind, d.state, d.attempts, d.created_at, d.updated_at, d.next_attempt, d.last_reply
FROM deliveries d JOIN outbound o ON o.id = d.outbound_id WHERE d.rcpt = ? ORDER BY d.id;

-- name: person.bounces
SELECT b.delivery_id, b.received_at, b.action, b.status, b.diagnostic
FROM bounces b JOIN deliveries d ON d.id = b.delivery_id WHERE d.rcpt = ? ORDER BY b.id;

-- name: person.held
SELECT l.code, l.name, h.reason, h.state, h.held_at, h.decided_at FROM held h JOIN lists l ON l.id = h.list_id
WHERE lower(h.poster) = ? ORDER BY h.id;

-- name: person.posts
SELECT p.id, l.code, l.name, p.subject, p.posted_at, p.body FROM posts p JOIN lists l ON l.id = p.list_id
WHERE lower(p.poster) = ? ORDER BY p.id;

-- name: person.tokens
SELECT l.code, l.name, t.kind, t.created_at, t.expires_at, t.used_at FROM list_tokens t JOIN lists l ON l.id = t.list_id
WHERE t.email = ? ORDER BY t.created_at;

-- name: person.sent
-- Messages they sent that the hub still holds.
SELECT id, received_at, size FROM messages WHERE lower(mail_from) = ? ORDER BY received_at;

-- name: person.counters
-- The records the hourly limits keep (a day at most).
SELECT (SELECT COUNT(*) FROM subscribe_requests WHERE email = ?1),
       (SELECT COUNT(*) FROM list_answers WHERE email = ?1),
       (SELECT COUNT(*) FROM ticket_acks WHERE email = ?1);

-- Erasure, in the order of package privacy's Erase.

-- name: erase.lists-owned
-- Lists that keep no owner once the address goes.
SELECT l.code, l.name FROM list_owners o JOIN lists l ON l.id = o.list_id WHERE o.email = ?1 AND o.role = 'owner'
  AND NOT EXISTS (SELECT 1 FROM list_owners x WHERE x.list_id = o.list_id AND x.role = 'owner' AND x.email != ?1);

-- name: erase.groups-alone
-- Groups that keep no animator once the address goes.
SELECT g.code, g.name FROM animators a JOIN groups g ON g.id = a.group_id WHERE a.email = ?1
  AND NOT EXISTS (SELECT 1 FROM animators x WHERE x.group_id = a.group_id AND x.email != ?1);

-- name: erase.queues-alone
SELECT q.name FROM queue_operators o JOIN queues q ON q.id = o.queue_id WHERE o.email = ?1
  AND NOT EXISTS (SELECT 1 FROM queue_operators x WHERE x.queue_id = o.queue_id AND x.email != ?1);

-- name: erase.animators
DELETE FROM animators WHERE email = ?;

-- name: erase.list-owners
DELETE FROM list_owners WHERE email = ?;

-- name: erase.queue-operators
DELETE FROM queue_operators WHERE email = ?;

-- name: erase.members
DELETE FROM members WHERE email = ?;

-- name: erase.agenda
DELETE FROM agenda_members WHERE email = ?;

-- name: erase.digests
DELETE FROM digests_sent WHERE email = ?;

-- name: erase.attendance
DELETE FROM event_attendees WHERE email = ?;

-- name: erase.tokens
DELETE FROM list_tokens WHERE email = ?1 OR relais_mentions(request, ?1) OR relais_mentions(action, ?1);

-- name: erase.held
DELETE FROM held WHERE lower(poster) = ?;

-- name: erase.counters
DELETE FROM subscribe_requests WHERE email = ?1;
-- name: erase.answers
DELETE FROM list_answers WHERE email = ?1;
-- name: erase.acks
DELETE FROM ticket_acks WHERE email = ?1;

-- name: erase.deliveries
-- Queued mail to the address is cancelled, and what was sent is forgotten
-- (its bounces go with it).
DELETE FROM deliveries WHERE rcpt = ?;

-- name: erase.messages
-- Every message the hub still holds that they sent or that names them
-- (their posts waiting or going out, notices written to them), with its
-- routes, copies on the way and held entries.
DELETE FROM messages WHERE lower(mail_from) = ?1 OR relais_mentions(body, ?1);

-- name: erase.posts-own
-- Their posts, on the lists whose setting says to delete them.
DELETE FROM posts WHERE lower(poster) = ?1 AND list_id IN (SELECT id FROM lists WHERE erase_posts = 'delete');

-- name: erase.posts-keep
-- Their posts kept under the pseudonym on the other lists.
UPDATE posts SET poster = ?2, author = ?2 WHERE lower(poster) = ?1;

-- name: erase.posts-encoded
-- Posts that still name them, only in an encoded form the scrub cannot
-- rewrite.
DELETE FROM posts WHERE relais_mentions(body, ?1) OR relais_mentions(subject, ?1);

-- name: erase.tickets
UPDATE tickets SET requester = ?2, requester_name = '' WHERE requester = ?1;

-- name: erase.tickets-assigned
UPDATE tickets SET assignee = ?2 WHERE assignee = ?1;

-- name: erase.ticket-people
UPDATE ticket_people SET email = ?2 WHERE email = ?1;

-- name: erase.ticket-authors
UPDATE ticket_messages SET author = ?2 WHERE author = ?1;

-- name: erase.ticket-names
-- The requester's name, as their mail showed it, in their tickets.
SELECT DISTINCT requester_name FROM tickets WHERE requester = ? AND requester_name != '';

-- name: erase.ticket-raw-encoded
-- Messages that still name them in an encoded form (a base64 body): only
-- the trimmed text stays.
UPDATE ticket_messages SET raw = CAST(relais_scrub(text, ?1, ?2) AS BLOB) WHERE relais_mentions(raw, ?1);

-- Retention (package privacy's Retain): each kind of record, counted for
-- --dry-run, then deleted. Every cut-off is "at or before".

-- name: retain.messages-count
-- What message.delete-old deletes (queue.keep): bodies finished with, and
-- with them their delivery records and bounces (ON DELETE CASCADE).
WITH gone AS (SELECT id FROM messages WHERE received_at <= ?
  AND NOT EXISTS (SELECT 1 FROM inbound_rcpts i WHERE i.message_id = messages.id AND i.state IN ('pending', 'kept'))
  AND NOT EXISTS (SELECT 1 FROM outbound o JOIN deliveries d ON d.outbound_id = o.id
                  WHERE o.message_id = messages.id AND d.state = 'queued')
  AND NOT EXISTS (SELECT 1 FROM held h WHERE h.message_id = messages.id))
SELECT (SELECT COUNT(*) FROM gone),
       (SELECT COUNT(*) FROM deliveries d JOIN outbound o ON o.id = d.outbound_id WHERE o.message_id IN (SELECT id FROM gone)),
       (SELECT COUNT(*) FROM bounces b JOIN deliveries d ON d.id = b.delivery_id JOIN outbound o ON o.id = d.outbound_id
        WHERE o.message_id IN (SELECT id FROM gone));

-- name: retain.tickets-count
-- Uses tickets_closed.
SELECT COUNT(*) FROM tickets WHERE state = 'closed' AND closed_at <= ?;

-- name: retain.tickets
-- Their messages and people go with them (ON DELETE CASCADE).
DELETE FROM tickets WHERE state = 'closed' AND closed_at <= ?;

-- name: retain.held-count
-- Uses held_decided.
SELECT COUNT(*) FROM held WHERE state != 'held' AND decided_at <= ?;

-- name: retain.held
DELETE FROM held WHERE state != 'held' AND decided_at <= ?;

-- name: retain.attendance-count
-- Uses events_end.
SELECT COUNT(*) FROM event_attendees WHERE event_id IN (SELECT id FROM events WHERE end_at <= ?);

-- name: retain.attendance
DELETE FROM event_attendees WHERE event_id IN (SELECT id FROM events WHERE end_at <= ?);

-- name: retain.departed
-- Consent records of members who left, past their retention: uses
-- members_left.
SELECT id, list_id, email FROM members WHERE state = 'unsubscribed' AND left_at <= ?;

-- name: retain.withdrawal
INSERT INTO withdrawals (list_id, mac, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING;

-- name: retain.member
-- Still departed when the deletion runs: one who came back stays.
DELETE FROM members WHERE id = ? AND state = 'unsubscribed' AND left_at <= ?;

-- name: retain.lists
-- Each list's archive retention (0: the hub's, -1: for ever).
SELECT id, code, name, archive_keep, erase_posts FROM lists ORDER BY code, name;

-- name: retain.posts-count
-- Uses posts_age.
SELECT COUNT(*) FROM posts WHERE list_id = ? AND posted_at <= ?;

-- name: retain.posts
DELETE FROM posts WHERE list_id = ? AND posted_at <= ?;

-- name: retain.digests-count
-- Uses digests_sent_at.
SELECT COUNT(*) FROM digests_sent WHERE sent_at <= ?;

-- name: retain.digests
DELETE FROM digests_sent WHERE sent_at <= ?;

-- name: retain.agenda-count
-- An agenda record that is off: never confirmed, or stopped.
SELECT COUNT(*) FROM agenda_members WHERE active = 0 AND updated_at <= ?;

-- name: retain.agenda
DELETE FROM agenda_members WHERE active = 0 AND updated_at <= ?;

-- name: retain.audit-count
-- Uses audit_at.
SELECT COUNT(*) FROM audit WHERE at <= ?;

-- name: list.set-retention
UPDATE lists SET archive_keep = ?, erase_posts = ? WHERE id = ?;

-- name: erase.ticket-name
-- The requester's name replaced in the messages of their tickets.
UPDATE ticket_messages SET text = relais_scrub(text, ?1, ?2), raw = relais_scrub(raw, ?1, ?2)
WHERE ticket_id IN (SELECT id FROM tickets WHERE requester = ?2) AND (instr(text, ?1) > 0 OR instr(raw, ?1) > 0);
