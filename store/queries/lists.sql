-- Mailing lists.

-- name: list.insert
INSERT INTO lists (code, name, display_name, policy, reply_to, subject_prefix, lang, max_bytes, rate_per_hour, archive, created_at, auth)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: list.update
UPDATE lists SET display_name = ?, policy = ?, reply_to = ?, subject_prefix = ?, lang = ?, max_bytes = ?, rate_per_hour = ?, archive = ?, auth = ?
WHERE id = ?;

-- name: list.id-by-address
SELECT id FROM lists WHERE code = ? AND name = ?;

-- name: list.get
SELECT id, code, name, display_name, policy, reply_to, subject_prefix, lang, max_bytes, rate_per_hour, archive, created_at, auth
FROM lists WHERE id = ?;

-- name: list.all
SELECT id, code, name, display_name, policy, reply_to, subject_prefix, lang, max_bytes, rate_per_hour, archive, created_at, auth
FROM lists ORDER BY code, name;

-- name: list.delete
DELETE FROM lists WHERE id = ?;

-- name: list.group-exists
-- A CODE.NAME is a group or a list, not both.
SELECT COUNT(*) FROM groups WHERE code = ? AND name = ?;

-- name: owner.add
INSERT INTO list_owners (list_id, email, role) VALUES (?, ?, ?)
ON CONFLICT (list_id, email) DO UPDATE SET role = excluded.role;

-- name: owner.clear
DELETE FROM list_owners WHERE list_id = ?;

-- name: owner.list
SELECT email, role FROM list_owners WHERE list_id = ? ORDER BY role, email;

-- name: member.get
SELECT id, list_id, email, state, mode, paused, resume_at, lang, consent_at, consent_how, left_at, left_how, bounce_score, bounce_at, admitted
FROM members WHERE list_id = ? AND email = ?;

-- name: member.by-id
SELECT id, list_id, email, state, mode, paused, resume_at, lang, consent_at, consent_how, left_at, left_how, bounce_score, bounce_at, admitted
FROM members WHERE id = ?;

-- name: member.state
-- At send time, for each copy: uses the UNIQUE (list_id, email) index.
SELECT id, state FROM members WHERE list_id = ? AND email = ?;

-- name: member.subscribe
-- A new member, or one coming back: the new consent replaces the old one.
-- admitted (1: by an owner, the platform or an operator) is kept while the
-- member stays; one who left and comes back by themselves is not.
INSERT INTO members (list_id, email, lang, consent_at, consent_how, admitted) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (list_id, email) DO UPDATE SET state = 'active', mode = 'each', paused = 0, resume_at = 0,
  lang = excluded.lang, consent_at = excluded.consent_at, consent_how = excluded.consent_how,
  left_at = 0, left_how = '', bounce_score = 0, bounce_at = 0,
  admitted = CASE WHEN excluded.admitted = 1 THEN 1 WHEN members.state = 'unsubscribed' THEN 0 ELSE members.admitted END;

-- name: member.admit
UPDATE members SET admitted = 1 WHERE id = ? AND state != 'unsubscribed' AND admitted = 0;

-- name: member.leave
UPDATE members SET state = 'unsubscribed', left_at = ?, left_how = ? WHERE id = ? AND state != 'unsubscribed';

-- name: member.set-mode
UPDATE members SET mode = ? WHERE id = ?;

-- name: member.pause
UPDATE members SET paused = 1, resume_at = ? WHERE id = ?;

-- name: member.resume
-- Also what a bouncing member does to be sent mail again.
UPDATE members SET paused = 0, resume_at = 0, state = CASE state WHEN 'bouncing' THEN 'active' ELSE state END,
  bounce_score = CASE state WHEN 'bouncing' THEN 0 ELSE bounce_score END WHERE id = ?;

-- name: member.resume-due
-- Pauses whose end date has come.
UPDATE members SET paused = 0, resume_at = 0 WHERE paused = 1 AND resume_at > 0 AND resume_at <= ?;

-- name: member.bounce
UPDATE members SET bounce_score = ?, bounce_at = ?, state = ? WHERE id = ?;

-- name: member.recipients
-- Who gets a post (mode each) or a digest (daily, weekly) now: uses
-- members_active. A pause whose end has come no longer counts, even before
-- member.resume-due has run.
SELECT email FROM members WHERE list_id = ?1 AND state = 'active' AND mode = ?2
  AND (paused = 0 OR (resume_at > 0 AND resume_at <= ?3)) ORDER BY id;

-- name: member.list
SELECT id, list_id, email, state, mode, paused, resume_at, lang, consent_at, consent_how, left_at, left_how, bounce_score, bounce_at, admitted
FROM members WHERE list_id = ? ORDER BY email;

-- name: member.count
SELECT state, COUNT(*) FROM members WHERE list_id = ? GROUP BY state;

-- name: token.insert
INSERT INTO list_tokens (token, kind, list_id, email, lang, held_id, created_at, expires_at, request) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: token.get
SELECT kind, list_id, email, lang, held_id, created_at, expires_at, used_at, request FROM list_tokens WHERE token = ?;

-- name: token.use
UPDATE list_tokens SET used_at = ? WHERE token = ? AND used_at = 0;

-- name: token.use-held
-- Approving a post uses its reject token too, and the other way round.
UPDATE list_tokens SET used_at = ? WHERE held_id = ? AND used_at = 0;

-- name: token.recent-confirm
-- A confirmation already on its way to this address: not sent again.
SELECT COUNT(*) FROM list_tokens WHERE kind = 'confirm' AND action = '' AND list_id = ? AND email = ? AND used_at = 0 AND created_at > ?;

-- name: token.delete-old
DELETE FROM list_tokens WHERE expires_at < ?;

-- name: held.insert
INSERT INTO held (list_id, message_id, poster, reason, held_at, expires_at) VALUES (?, ?, ?, ?, ?, ?);

-- name: held.get
SELECT id, list_id, message_id, poster, reason, held_at, expires_at, state FROM held WHERE id = ?;

-- name: held.decide
UPDATE held SET state = ?, decided_at = ?, decided_by = ? WHERE id = ? AND state = 'held';

-- name: held.expired
-- Uses held_waiting.
SELECT id, list_id, message_id, poster, reason, held_at, expires_at, state FROM held WHERE state = 'held' AND expires_at <= ? ORDER BY id LIMIT 100;

-- name: held.list
SELECT id, list_id, message_id, poster, reason, held_at, expires_at, state FROM held WHERE list_id = ? ORDER BY id;

-- name: post.insert
INSERT INTO posts (list_id, poster, subject, posted_at, body) VALUES (?, ?, ?, ?, ?);

-- name: post.recent-count
-- A poster's posts in the last hour, for the rate limit: uses posts_poster.
SELECT COUNT(*) FROM posts WHERE list_id = ? AND poster = ? AND posted_at > ?;

-- name: post.since
-- What a digest covers: uses posts_list.
SELECT id, poster, subject, posted_at, body FROM posts WHERE list_id = ? AND id > ? ORDER BY id;

-- name: post.max
SELECT COALESCE(MAX(id), 0) FROM posts WHERE list_id = ?;

-- name: list.digest-due
-- Lists with members in a digest mode.
SELECT DISTINCT l.id FROM lists l JOIN members m ON m.list_id = l.id AND m.state = 'active' AND m.mode = ?;

-- name: list.digest-state
SELECT digest_daily_at, digest_daily_post, digest_weekly_at, digest_weekly_post FROM lists WHERE id = ?;

-- name: list.digest-daily-done
UPDATE lists SET digest_daily_at = ?, digest_daily_post = ? WHERE id = ?;

-- name: list.digest-weekly-done
UPDATE lists SET digest_weekly_at = ?, digest_weekly_post = ? WHERE id = ?;

-- name: group.animators-all
-- Territory lists: every group's code and animators, filtered in Go by
-- territory (the code grammar, not a string prefix, says what is inside).
SELECT g.code, a.email FROM groups g JOIN animators a ON a.group_id = g.id ORDER BY g.id, a.email;

-- name: group.codes
SELECT code FROM groups;

-- name: subscribe.record
INSERT INTO subscribe_requests (at, email, remote_ip) VALUES (?, ?, ?);

-- name: subscribe.count-email
SELECT COUNT(*) FROM subscribe_requests WHERE email = ? AND at > ?;

-- name: subscribe.count-ip
SELECT COUNT(*) FROM subscribe_requests WHERE remote_ip = ? AND at > ?;

-- name: subscribe.delete-old
DELETE FROM subscribe_requests WHERE at < ?;

-- name: test.held-reason
-- Tests: why the first held post was held.
SELECT reason FROM held ORDER BY id LIMIT 1;

-- name: answer.count
-- Answers to commands sent to one address in the last hour: uses
-- list_answers_email.
SELECT COUNT(*) FROM list_answers WHERE email = ? AND at > ?;

-- name: answer.record
INSERT INTO list_answers (email, at) VALUES (?, ?);

-- name: answer.delete-old
DELETE FROM list_answers WHERE at < ?;

-- name: token.insert-change
INSERT INTO list_tokens (token, kind, list_id, email, lang, held_id, created_at, expires_at, request, action)
VALUES (?, 'confirm', ?, ?, ?, 0, ?, ?, ?, ?);

-- name: token.action
-- What a confirmation token confirms: '' a subscription, else changes.
SELECT action FROM list_tokens WHERE token = ?;

-- name: token.recent-change
-- The same changes already waiting for this address's confirmation: not
-- asked again within the hour.
SELECT COUNT(*) FROM list_tokens WHERE kind = 'confirm' AND list_id = ? AND email = ? AND action = ? AND used_at = 0 AND created_at > ?;

-- name: held.all
-- Operators' view (relais held list): every post still waiting, or those
-- of one list (?1 = 0: all lists), oldest first.
SELECT h.id, h.list_id, l.code, l.name, h.message_id, h.poster, h.reason, h.held_at, h.expires_at, h.state, h.decided_by,
  m.body
FROM held h JOIN lists l ON l.id = h.list_id JOIN messages m ON m.id = h.message_id
WHERE (?1 = 0 OR h.list_id = ?1) AND (?2 = '' OR h.state = ?2) ORDER BY h.id;

-- name: held.one
SELECT h.id, h.list_id, l.code, l.name, h.message_id, h.poster, h.reason, h.held_at, h.expires_at, h.state, h.decided_by,
  m.body
FROM held h JOIN lists l ON l.id = h.list_id JOIN messages m ON m.id = h.message_id WHERE h.id = ?;

-- name: held.count-waiting
-- For metrics and relais status: uses held_waiting.
SELECT COUNT(*), COALESCE(MIN(held_at), 0) FROM held WHERE state = 'held' AND expires_at > 0;

-- name: member.enable
-- An operator sends a bouncing member mail again, score cleared.
UPDATE members SET state = 'active', bounce_score = 0, bounce_at = 0 WHERE id = ? AND state = 'bouncing';

-- name: post.count
SELECT COUNT(*) FROM posts WHERE list_id = ?;

-- name: member.copies
-- At send time, the members of the next recipients of a queued post, from
-- delivery ? on: one read for the copies of many members (uses
-- deliveries_outbound, then the UNIQUE (list_id, email) index).
SELECT d.id, m.id, m.state FROM deliveries d
LEFT JOIN members m ON m.list_id = ? AND m.email = d.rcpt
WHERE d.outbound_id = ? AND d.id >= ? AND d.state = 'queued'
ORDER BY d.id LIMIT ?;
