-- PostgreSQL's variants of queries/queue.sql and spool.sql.

-- name: delivery.deferred
UPDATE deliveries SET attempts = attempts + 1, next_attempt = GREATEST(next_attempt, ?), last_reply = ?, updated_at = ?,
  lease_until = 0
WHERE id = ? AND state = 'queued';

-- name: delivery.lease
-- PostgreSQL only.
-- Several nodes share the queue: a node claims what it is about to send,
-- never-tried deliveries first, then those due again, skipping rows
-- another node is claiming at this moment (SKIP LOCKED) and those whose
-- lease (?6 seconds, queue.lease) has not run out. The next attempt time
-- is saved with the claim, as on SQLite (retry_min ?2 doubling per
-- attempt up to retry_max ?3, ±10 %, in seconds); recording the attempt
-- ends the lease. A node that dies leaves its claims to whichever node
-- comes first once they run out. Uses deliveries_fresh and deliveries_due.
WITH fresh AS (
    SELECT id FROM deliveries WHERE state = 'queued' AND attempts = 0 AND lease_until <= ?1
    ORDER BY id LIMIT ?5 FOR UPDATE SKIP LOCKED),
due AS (
    SELECT id FROM deliveries WHERE state = 'queued' AND next_attempt <= ?1 AND lease_until <= ?1
    ORDER BY next_attempt, id LIMIT ?5 FOR UPDATE SKIP LOCKED)
UPDATE deliveries d SET
    next_attempt = ?1 + GREATEST(CAST(LEAST(?2 * power(2, LEAST(d.attempts, 40)), ?3) * (0.9 + random() * 0.2) AS BIGINT), 1),
    lease_until = ?1 + ?6, updated_at = ?4
WHERE d.id IN (SELECT id FROM fresh UNION SELECT id FROM due)
RETURNING d.id, d.outbound_id, d.rcpt, d.attempts, d.created_at;

-- name: delivery.sent-many
-- PostgreSQL only: the outcomes of many copies sent, in one statement (the
-- recorder's batch), ids and replies as arrays, each its own reply.
UPDATE deliveries d SET state = 'sent', attempts = d.attempts + 1, last_reply = v.reply, updated_at = ?3, lease_until = 0
FROM unnest(CAST(?1 AS BIGINT[]), CAST(?2 AS TEXT[])) AS v(id, reply)
WHERE d.id = v.id AND d.state = 'queued';

-- name: outbound.enqueue
-- PostgreSQL only: an outbound message and its deliveries (recipients ?8
-- as an array) in one statement, one round trip whatever their number.
-- With a lease (?10, in seconds since the epoch, 0 for none) the node that
-- queues them has claimed them already, as delivery.lease would: its
-- workers get them at the commit, with the body it has in memory, and
-- the deliveries' ids and recipients come back as lines "ID RCPT". The
-- other nodes are told (NOTIFY, delivered at the commit) only of what is
-- not claimed: until the lease runs out they could not take it.
WITH o AS (
    INSERT INTO outbound (message_id, prefix, null_sender, inbound_id, kind, ref, created_at)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id),
d AS (
    INSERT INTO deliveries (outbound_id, rcpt, next_attempt, created_at, updated_at, lease_until)
    SELECT o.id, r.rcpt, ?9, ?7, ?7, CAST(?10 AS BIGINT) FROM o, unnest(CAST(?8 AS TEXT[])) WITH ORDINALITY AS r(rcpt, n) ORDER BY r.n
    RETURNING id, rcpt)
SELECT o.id,
       CASE WHEN CAST(?10 AS BIGINT) > 0 THEN FALSE ELSE pg_notify('relais_queue', '') IS NULL END,
       CASE WHEN CAST(?10 AS BIGINT) > 0 THEN (SELECT string_agg(d.id::text || ' ' || d.rcpt, E'\n' ORDER BY d.id) FROM d) ELSE '' END
FROM o;

-- name: delivery.job-body
-- PostgreSQL only: delivery.job and the message's body in one round trip.
SELECT o.id, o.message_id, o.prefix, o.null_sender, m.smtputf8, m.body8bit, o.kind, o.ref, m.body FROM outbound o
JOIN messages m ON m.id = o.message_id WHERE o.id = ?;
