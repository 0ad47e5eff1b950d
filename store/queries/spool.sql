-- The intake spool: bodies and routing decisions of accepted mail.

-- name: message.insert
INSERT INTO messages (id, received_at, mail_from, remote_ip, helo, smtputf8, body8bit, size, body)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: message.envelope
SELECT received_at, mail_from, remote_ip, helo, smtputf8, body8bit, size FROM messages WHERE id = ?;

-- name: message.body
SELECT body FROM messages WHERE id = ?;

-- inbound.insert: written done at once when the intake transaction handles
-- the recipient (if that fails, the write runs again, the recipient
-- pending). (Above the name: on PostgreSQL an INSERT gets RETURNING only
-- when its text starts with INSERT.)
-- name: inbound.insert
INSERT INTO inbound_rcpts (message_id, rcpt, route, target, next_try, state) VALUES (?, ?, ?, ?, ?, ?);

-- name: inbound.due
SELECT id, message_id, rcpt, route, target, attempts FROM inbound_rcpts
WHERE state = 'pending' AND next_try <= ? ORDER BY next_try, id LIMIT ?;

-- name: inbound.next-due
SELECT MIN(next_try) FROM inbound_rcpts WHERE state = 'pending';

-- name: inbound.finish
UPDATE inbound_rcpts SET state = ?, detail = ? WHERE id = ? AND state = 'pending';

-- name: inbound.mark
-- A handler's own verdict on its recipient (kept for an operator, done
-- with a word why): also over the "done" the intake writes before
-- handling (spool.accept, PostgreSQL).
UPDATE inbound_rcpts SET state = ?, detail = ? WHERE id = ? AND state IN ('pending', 'done');

-- name: inbound.retry
UPDATE inbound_rcpts SET attempts = attempts + 1, next_try = ?, detail = ? WHERE id = ? AND state = 'pending';

-- name: inbound.get
SELECT id, message_id, rcpt, route, target, state, detail FROM inbound_rcpts WHERE id = ?;

-- name: inbound.by-message
SELECT id, rcpt, route, target, state, detail FROM inbound_rcpts WHERE message_id = ? ORDER BY id;

-- name: message.delete-old
-- Bodies nothing refers to any more: every inbound recipient handled, every
-- delivery finished, and received at or before the retention cut-off.
DELETE FROM messages WHERE received_at <= ?
  AND NOT EXISTS (SELECT 1 FROM inbound_rcpts i WHERE i.message_id = messages.id AND i.state IN ('pending', 'kept'))
  AND NOT EXISTS (SELECT 1 FROM outbound o JOIN deliveries d ON d.outbound_id = o.id
                  WHERE o.message_id = messages.id AND d.state IN ('queued', 'held'))
  AND NOT EXISTS (SELECT 1 FROM held h WHERE h.message_id = messages.id);
-- (A held post's body stays as long as its record: retention.held.)

-- name: message.count-kept
-- Mail kept for an operator (postmaster@ with no postmaster configured).
SELECT COUNT(DISTINCT message_id) FROM inbound_rcpts WHERE state = 'kept';

-- name: test.pending
-- Tests: inbound recipients not yet handled.
SELECT COUNT(*) FROM inbound_rcpts WHERE state = 'pending';

-- name: test.queued
-- Tests: deliveries not finished.
SELECT COUNT(*) FROM deliveries WHERE state = 'queued';

-- name: inbound.lock
-- Taken before a recipient is handled: where several nodes share the
-- database, the second to come waits for the first's commit (a row lock),
-- then finds the recipient no longer pending (0 rows) and leaves it.
UPDATE inbound_rcpts SET state = state WHERE id = ? AND state = 'pending';
