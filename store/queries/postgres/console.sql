-- PostgreSQL's variants of queries/console.sql: JSON and string search.
-- o.ref is JSON only for list kinds, hence the CASE before the cast.

-- name: activity.bounces
SELECT b.received_at / 604800, COUNT(*) FROM bounces b JOIN deliveries d ON d.id = b.delivery_id
JOIN outbound o ON o.id = d.outbound_id
WHERE o.kind IN ('list', 'list-digest')
  AND CASE WHEN o.kind IN ('list', 'list-digest') THEN (o.ref::jsonb ->> 'l')::bigint END = ?1 AND b.received_at >= ?2 GROUP BY 1;

-- name: member.bounces
SELECT b.received_at, b.action, b.status, b.diagnostic FROM bounces b JOIN deliveries d ON d.id = b.delivery_id
JOIN outbound o ON o.id = d.outbound_id
WHERE d.rcpt = ?2 AND o.kind IN ('list', 'list-digest')
  AND CASE WHEN o.kind IN ('list', 'list-digest') THEN (o.ref::jsonb ->> 'l')::bigint END = ?1
UNION ALL
SELECT d.updated_at, 'refused', '', d.last_reply FROM deliveries d JOIN outbound o ON o.id = d.outbound_id
WHERE d.rcpt = ?2 AND d.state = 'failed' AND o.kind IN ('list', 'list-digest')
  AND CASE WHEN o.kind IN ('list', 'list-digest') THEN (o.ref::jsonb ->> 'l')::bigint END = ?1
ORDER BY 1 DESC LIMIT 50;

-- name: member.search
SELECT id, list_id, email, state, mode, paused, resume_at, lang, consent_at, consent_how, left_at, left_how, bounce_score, bounce_at, admitted
FROM members WHERE list_id = ?1 AND (?2 = '' OR strpos(email, ?2) > 0) AND (?3 = '' OR state = ?3)
ORDER BY email LIMIT ?4 OFFSET ?5;
