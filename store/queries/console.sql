-- The console and the REST API (issue 16): audit log, API tokens, a
-- list's rules for senders, its activity.

-- name: audit.insert
INSERT INTO audit (at, actor, via, origin, action, target, detail) VALUES (?, ?, ?, ?, ?, ?, ?);

-- name: audit.list
-- Uses audit_at.
SELECT id, at, actor, via, origin, action, target, detail FROM audit
WHERE at >= ?1 AND at < ?2 AND (?3 = '' OR actor = ?3) AND (?4 = '' OR target = ?4)
ORDER BY at DESC, id DESC LIMIT ?5;

-- name: audit.delete-old
DELETE FROM audit WHERE at <= ?;

-- name: audit.of-person
-- Export: the entries a person made or that name them.
SELECT at, actor, via, action, target, detail FROM audit WHERE actor = ?1 OR target = ?1 ORDER BY at;

-- name: token.api-insert
INSERT INTO api_tokens (name, hash, scopes, created_at) VALUES (?, ?, ?, ?);

-- name: token.api-by-hash
SELECT id, name, scopes, created_at, revoked_at, last_used_at, last_used_from FROM api_tokens WHERE hash = ?;

-- name: token.api-all
SELECT id, name, scopes, created_at, revoked_at, last_used_at, last_used_from FROM api_tokens ORDER BY name;

-- name: token.api-revoke
UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at = 0;

-- name: token.api-used
UPDATE api_tokens SET last_used_at = ?, last_used_from = ? WHERE id = ?;

-- name: role.groups
-- The groups an address animates (console roles).
SELECT group_id FROM animators WHERE lower(email) = lower(?);

-- name: role.lists
SELECT list_id, role FROM list_owners WHERE email = ?;

-- name: role.queues
SELECT q.name FROM queue_operators o JOIN queues q ON q.id = o.queue_id WHERE o.email = ?;

-- name: sender.set
INSERT INTO list_senders (list_id, email, rule, created_at, created_by) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (list_id, email) DO UPDATE SET rule = excluded.rule, created_at = excluded.created_at, created_by = excluded.created_by;

-- name: sender.get
SELECT rule FROM list_senders WHERE list_id = ? AND email = ?;

-- name: sender.delete
DELETE FROM list_senders WHERE list_id = ? AND email = ?;

-- name: sender.list
SELECT email, rule, created_at, created_by FROM list_senders WHERE list_id = ? ORDER BY rule, email;

-- name: sender.of-person
SELECT l.code, l.name, s.rule, s.created_at FROM list_senders s JOIN lists l ON l.id = s.list_id WHERE s.email = ?;

-- name: list.texts
SELECT welcome_fr, welcome_en, footer_fr, footer_en, digest_modes FROM lists WHERE id = ?;

-- name: list.set-texts
UPDATE lists SET welcome_fr = ?, welcome_en = ?, footer_fr = ?, footer_en = ?, digest_modes = ? WHERE id = ?;

-- name: activity.posts
-- Posts per week (uses posts_age): week number since the epoch.
SELECT posted_at / 604800, COUNT(*) FROM posts WHERE list_id = ? AND posted_at >= ? GROUP BY 1;

-- name: activity.joins
SELECT consent_at / 604800, COUNT(*) FROM members WHERE list_id = ? AND consent_at >= ? GROUP BY 1;

-- name: activity.leaves
SELECT left_at / 604800, COUNT(*) FROM members WHERE list_id = ? AND left_at >= ? AND state = 'unsubscribed' GROUP BY 1;

-- name: activity.bounces
-- Bounces on copies of the list's posts and digests (kept for queue.keep).
SELECT b.received_at / 604800, COUNT(*) FROM bounces b JOIN deliveries d ON d.id = b.delivery_id
JOIN outbound o ON o.id = d.outbound_id
WHERE o.kind IN ('list', 'list-digest') AND json_extract(o.ref, '$.l') = ?1 AND b.received_at >= ?2 GROUP BY 1;

-- name: activity.held
SELECT COUNT(*), COALESCE(MIN(held_at), 0) FROM held WHERE list_id = ? AND state = 'held';

-- name: member.bounces
-- A member's bounce history: reports received on the copies sent to them,
-- and copies their server refused.
SELECT b.received_at, b.action, b.status, b.diagnostic FROM bounces b JOIN deliveries d ON d.id = b.delivery_id
JOIN outbound o ON o.id = d.outbound_id
WHERE d.rcpt = ?2 AND o.kind IN ('list', 'list-digest') AND json_extract(o.ref, '$.l') = ?1
UNION ALL
SELECT d.updated_at, 'refused', '', d.last_reply FROM deliveries d JOIN outbound o ON o.id = d.outbound_id
WHERE d.rcpt = ?2 AND d.state = 'failed' AND o.kind IN ('list', 'list-digest') AND json_extract(o.ref, '$.l') = ?1
ORDER BY 1 DESC LIMIT 50;

-- name: member.search
-- The console's search: part of an address, every state.
SELECT id, list_id, email, state, mode, paused, resume_at, lang, consent_at, consent_how, left_at, left_how, bounce_score, bounce_at, admitted
FROM members WHERE list_id = ?1 AND (?2 = '' OR instr(email, ?2) > 0) AND (?3 = '' OR state = ?3)
ORDER BY email LIMIT ?4 OFFSET ?5;

-- name: held.waiting-of-list
SELECT COUNT(*) FROM held WHERE list_id = ? AND state = 'held';

-- name: attendee.list
SELECT email, lang, created_at FROM event_attendees WHERE event_id = ? ORDER BY created_at;

-- name: token.api-count-name
SELECT COUNT(*) FROM api_tokens WHERE name = ?;

-- name: event.all-of-group
-- A group's events for its animators: members-only ones too, those of
-- the last 30 days too.
SELECT e.id FROM event_groups eg JOIN events e ON e.id = eg.event_id
WHERE eg.group_id = ? AND e.end_at > ? ORDER BY e.start_at, e.id;

-- name: attendee.count
SELECT COUNT(*) FROM event_attendees WHERE event_id = ?;

-- name: test.audit-count
SELECT COUNT(*) FROM audit;

-- name: test.queued-tried
-- Tests: deliveries still queued after an attempt.
SELECT COUNT(*) FROM deliveries WHERE state = 'queued' AND attempts > 0;
