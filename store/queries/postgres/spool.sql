-- PostgreSQL's own queries of the spool.

-- name: spool.accept
-- PostgreSQL only: an accepted message and its recipients in one
-- statement (arrays ?10 to ?13: address, route, target, state), the
-- recipients' ids in their order. Those the intake transaction handles
-- are written done at once: if one fails, the transaction is run again
-- the long way (message.insert, inbound.insert, a savepoint each). SQLite
-- writes them one statement each (inbound.insert), done or pending alike.
WITH m AS (
    INSERT INTO messages (id, received_at, mail_from, remote_ip, helo, smtputf8, body8bit, size, body)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)),
r AS (
    INSERT INTO inbound_rcpts (message_id, rcpt, route, target, next_try, state)
    SELECT ?1, x.rcpt, x.route, x.target, ?2, x.state
    FROM unnest(CAST(?10 AS TEXT[]), CAST(?11 AS TEXT[]), CAST(?12 AS TEXT[]), CAST(?13 AS TEXT[]))
         WITH ORDINALITY AS x(rcpt, route, target, state, n)
    ORDER BY x.n
    RETURNING id)
SELECT id FROM r ORDER BY id;
