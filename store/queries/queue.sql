-- The outbound queue.

-- name: outbound.insert
INSERT INTO outbound (message_id, prefix, null_sender, inbound_id, kind, ref, created_at) VALUES (?, ?, ?, ?, ?, ?, ?);

-- name: delivery.insert
INSERT INTO deliveries (outbound_id, rcpt, next_attempt, created_at, updated_at) VALUES (?, ?, ?, ?, ?);

-- delivery.insert-all (SQLite): every recipient of an outbound message in
-- one statement, from a JSON array of addresses, in its order: a list
-- post's ten thousand without a call per row. PostgreSQL queues them with
-- outbound.enqueue.
-- name: delivery.insert-all
INSERT INTO deliveries (outbound_id, rcpt, next_attempt, created_at, updated_at)
SELECT ?, value, ?, ?, ? FROM json_each(?) ORDER BY key
RETURNING id, rcpt;

-- name: delivery.due
-- Uses deliveries_due.
SELECT d.id, d.outbound_id, d.rcpt, d.attempts, d.created_at FROM deliveries d
WHERE d.state = 'queued' AND d.next_attempt <= ? ORDER BY d.next_attempt, d.id LIMIT ?;

-- name: delivery.fresh
-- Never tried: sent at once. Uses deliveries_fresh. The scheduler reads on
-- from the last id it handed out: a list post queues thousands at once,
-- and the first rows stay in the workers' hands until recorded.
SELECT d.id, d.outbound_id, d.rcpt, d.attempts, d.created_at FROM deliveries d
WHERE d.state = 'queued' AND d.attempts = 0 AND d.id > ? ORDER BY d.id LIMIT ?;

-- name: delivery.next-due
SELECT MIN(next_attempt) FROM deliveries WHERE state = 'queued';

-- name: delivery.claim
-- Saves the next attempt time before dialing: a crash during the attempt
-- leaves the delivery due again at that time, not lost and not hammering.
UPDATE deliveries SET next_attempt = ?, updated_at = ? WHERE id = ? AND state = 'queued';

-- name: delivery.sent
-- Recording an attempt ends a claim's lease (delivery.lease: PostgreSQL).
UPDATE deliveries SET state = 'sent', attempts = attempts + 1, last_reply = ?, updated_at = ?, lease_until = 0
WHERE id = ? AND state = 'queued';

-- delivery.sent-all (SQLite): the outcomes of many copies sent in one
-- statement (the recorder's batch), from a JSON array of [id, reply]
-- pairs, each its own reply. PostgreSQL has delivery.sent-many.
-- name: delivery.sent-all
UPDATE deliveries SET state = 'sent', attempts = attempts + 1, last_reply = v.reply, updated_at = ?, lease_until = 0
FROM (SELECT CAST(value ->> 0 AS BIGINT) AS id, value ->> 1 AS reply FROM json_each(?)) AS v
WHERE deliveries.id = v.id AND deliveries.state = 'queued';

-- name: delivery.deferred
UPDATE deliveries SET attempts = attempts + 1, next_attempt = MAX(next_attempt, ?), last_reply = ?, updated_at = ?,
  lease_until = 0
WHERE id = ? AND state = 'queued';

-- name: delivery.failed
UPDATE deliveries SET state = 'failed', attempts = attempts + 1, last_reply = ?, updated_at = ?, lease_until = 0
WHERE id = ? AND state = 'queued';

-- name: delivery.bounced
UPDATE deliveries SET state = 'bounced', last_reply = ?, updated_at = ? WHERE id = ? AND state IN ('queued', 'sent');

-- name: delivery.job
SELECT o.id, o.message_id, o.prefix, o.null_sender, m.smtputf8, m.body8bit, o.kind, o.ref FROM outbound o
JOIN messages m ON m.id = o.message_id WHERE o.id = ?;

-- name: delivery.get
SELECT d.id, d.outbound_id, o.message_id, o.kind, o.ref, o.inbound_id, d.rcpt, d.state, d.attempts, d.next_attempt, d.last_reply, d.created_at, d.updated_at
FROM deliveries d JOIN outbound o ON o.id = d.outbound_id WHERE d.id = ?;

-- name: delivery.siblings-open
-- How many deliveries of the same outbound message are not yet failed.
SELECT COUNT(*) FROM deliveries WHERE outbound_id = ? AND state NOT IN ('failed', 'bounced');

-- name: delivery.list
SELECT d.id, d.outbound_id, o.message_id, o.kind, o.ref, o.inbound_id, d.rcpt, d.state, d.attempts, d.next_attempt, d.last_reply, d.created_at, d.updated_at
FROM deliveries d JOIN outbound o ON o.id = d.outbound_id
WHERE (?1 = '' OR d.state = ?1) ORDER BY d.id DESC LIMIT ?2;

-- name: delivery.count-by-state
SELECT state, COUNT(*) FROM deliveries GROUP BY state ORDER BY state;

-- name: bounce.insert
INSERT INTO bounces (delivery_id, message_id, received_at, action, status, diagnostic) VALUES (?, ?, ?, ?, ?, ?);

-- name: bounce.by-delivery
SELECT action, status, diagnostic, message_id FROM bounces WHERE delivery_id = ? ORDER BY id;

-- name: delivery.replies-of-outbound
SELECT last_reply FROM deliveries WHERE outbound_id = ? ORDER BY id;

-- name: delivery.retry
-- relais outbox retry: due now (a failed one is queued again). ?2 = 0: every
-- queued delivery.
UPDATE deliveries SET state = 'queued', next_attempt = ?1, updated_at = ?1
WHERE (?2 = 0 AND state = 'queued') OR (id = ?2 AND state IN ('queued', 'failed'));

-- name: delivery.hold
-- relais outbox hold: the scheduler reads queued rows only, so a held
-- delivery waits, whatever its time, until released.
UPDATE deliveries SET state = 'held', updated_at = ? WHERE id = ? AND state = 'queued';

-- name: delivery.release
UPDATE deliveries SET state = 'queued', next_attempt = ?1, updated_at = ?1 WHERE id = ?2 AND state = 'held';

-- name: delivery.delete
DELETE FROM deliveries WHERE id = ? AND state IN ('queued', 'held', 'failed');

-- name: delivery.depth
-- Queue depth and the age of the oldest waiting delivery: uses
-- deliveries_due for the queued rows.
SELECT COUNT(*), COALESCE(MIN(created_at), 0) FROM deliveries WHERE state = 'queued';

-- name: delivery.body
SELECT o.prefix, m.body FROM deliveries d JOIN outbound o ON o.id = d.outbound_id JOIN messages m ON m.id = o.message_id
WHERE d.id = ?;

-- name: delivery.head
-- The start of a delivery's message, enough for its Subject: a table of
-- deliveries never reads whole bodies.
SELECT o.prefix, substr(m.body, 1, 32768) FROM deliveries d JOIN outbound o ON o.id = d.outbound_id JOIN messages m ON m.id = o.message_id
WHERE d.id = ?;

-- name: delivery.unlease
-- A claim given back unattempted (the node is stopping): due again at once
-- for every node (PostgreSQL's leases; a no-op on SQLite).
UPDATE deliveries SET lease_until = 0 WHERE id = ? AND state = 'queued';

-- name: test.deliveries-of-last
-- Tests: the deliveries of the last outbound message, in the order of their ids.
SELECT id, rcpt FROM deliveries WHERE outbound_id = (SELECT MAX(id) FROM outbound) ORDER BY id;

-- name: test.delivery-outcome
-- Tests: what is recorded of a delivery's attempts.
SELECT state, last_reply, attempts FROM deliveries WHERE id = ?;
