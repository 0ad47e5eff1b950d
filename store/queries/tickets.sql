-- The support desk.

-- name: queue.insert
INSERT INTO queues (name, display_name, lang, created_at) VALUES (?, ?, ?, ?)
ON CONFLICT (name) DO UPDATE SET display_name = excluded.display_name, lang = excluded.lang;

-- name: queue.by-name
SELECT id, name, display_name, lang FROM queues WHERE name = ?;

-- name: queue.by-id
SELECT id, name, display_name, lang FROM queues WHERE id = ?;

-- name: queue.all
SELECT id, name, display_name, lang FROM queues ORDER BY name;

-- name: queue.operator-add
INSERT INTO queue_operators (queue_id, email) VALUES (?, ?) ON CONFLICT DO NOTHING;

-- name: queue.operator-clear
DELETE FROM queue_operators WHERE queue_id = ?;

-- name: queue.operators
SELECT email FROM queue_operators WHERE queue_id = ? ORDER BY email;

-- name: ticket.insert
INSERT INTO tickets (queue_id, subject, requester, requester_name, lang, follows, root_msgid, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: ticket.get
SELECT id, queue_id, subject, requester, requester_name, lang, state, assignee, follows, root_msgid, created_at, updated_at, closed_at
FROM tickets WHERE id = ?;

-- name: ticket.list
-- Empty strings select every queue or state.
SELECT t.id, t.queue_id, t.subject, t.requester, t.requester_name, t.lang, t.state, t.assignee, t.follows, t.root_msgid, t.created_at, t.updated_at, t.closed_at
FROM tickets t JOIN queues q ON q.id = t.queue_id
WHERE (?1 = '' OR q.name = ?1) AND (?2 = '' OR t.state = ?2)
ORDER BY t.id;

-- name: ticket.state
UPDATE tickets SET state = ?, updated_at = ?, closed_at = CASE WHEN ? = 'closed' THEN ? ELSE 0 END WHERE id = ?;

-- name: ticket.touch
UPDATE tickets SET updated_at = ? WHERE id = ?;

-- name: ticket.assign
UPDATE tickets SET assignee = ?, updated_at = ? WHERE id = ?;

-- name: ticket.solved-before
-- Solved tickets nobody wrote to for a while are closed (minute tick).
SELECT id FROM tickets WHERE state = 'solved' AND updated_at < ? LIMIT 500;

-- name: person.add
INSERT INTO ticket_people (ticket_id, email, role) VALUES (?, ?, ?)
ON CONFLICT (ticket_id, email) DO UPDATE SET role = CASE WHEN ticket_people.role = 'other' THEN excluded.role ELSE ticket_people.role END
RETURNING id, role;

-- name: person.get
SELECT ticket_id, email, role FROM ticket_people WHERE id = ?;

-- name: person.by-email
SELECT id, role FROM ticket_people WHERE ticket_id = ? AND email = ?;

-- name: tmsg.insert
INSERT INTO ticket_messages (ticket_id, kind, author, header_id, text, raw, created_at) VALUES (?, ?, ?, ?, ?, ?, ?);

-- name: tmsg.seen
-- A message already received by a queue, whichever ticket it went to.
SELECT COUNT(*) FROM ticket_messages m JOIN tickets t ON t.id = m.ticket_id
WHERE t.queue_id = ?1 AND m.header_id = ?2 AND ?2 != '' AND m.kind NOT IN ('ack');

-- name: tmsg.list
SELECT id, kind, author, header_id, text, created_at FROM ticket_messages WHERE ticket_id = ? ORDER BY id;

-- name: tmsg.raw
SELECT raw FROM ticket_messages WHERE id = ?;

-- name: tmsg.head-by-author
-- The start of what a person wrote in a ticket, where the hub's verdict
-- (Authentication-Results, put on top on receipt) is read: whether their
-- From was ever proven. A longer header reads as not proven.
SELECT substr(raw, 1, 65536) FROM ticket_messages
WHERE ticket_id = ? AND author = ? AND kind IN ('request', 'reply') ORDER BY id;

-- name: tmsg.last-from
-- The last Message-ID a person wrote in a ticket, for In-Reply-To.
SELECT header_id FROM ticket_messages WHERE ticket_id = ? AND author = ? AND header_id != '' AND kind != 'auto'
ORDER BY id DESC LIMIT 1;

-- name: ack.count
SELECT COUNT(*) FROM ticket_acks WHERE email = ? AND at > ?;

-- name: ack.insert
INSERT INTO ticket_acks (email, at) VALUES (?, ?);

-- name: ack.delete-old
DELETE FROM ticket_acks WHERE at < ?;

-- name: test.ticket-count
-- Tests.
SELECT COUNT(*) FROM tickets;


-- name: queue.delete
DELETE FROM queues WHERE id = ?;

-- name: queue.ticket-count
SELECT COUNT(*) FROM tickets WHERE queue_id = ?;

-- name: queue.delete-tickets
-- relais queue remove --delete-tickets: their messages and people go with
-- them (ON DELETE CASCADE).
DELETE FROM tickets WHERE queue_id = ?;

-- name: ticket.opened-total
-- Every ticket ever opened: ids are AUTOINCREMENT, never reused, so the
-- sequence counts them even after tickets are deleted (metrics).
SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'tickets'), 0);
