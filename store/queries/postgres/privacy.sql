-- PostgreSQL's variants of queries/privacy.sql and web.sql.

-- name: erase.ticket-raw-encoded
UPDATE ticket_messages SET raw = convert_to(relais_scrub(text, ?1, ?2), 'UTF8') WHERE relais_mentions(raw, ?1);

-- name: erase.ticket-name
UPDATE ticket_messages SET text = relais_scrub(text, ?1, ?2), raw = relais_scrub(raw, ?1, ?2)
WHERE ticket_id IN (SELECT id FROM tickets WHERE requester = ?2)
  AND (strpos(text, ?1) > 0 OR position(convert_to(?1, 'UTF8') IN raw) > 0);

-- name: list.under-codes
SELECT id FROM lists WHERE code IN (SELECT jsonb_array_elements_text(CAST(? AS jsonb))) AND policy != 'territory'
ORDER BY code, name;
