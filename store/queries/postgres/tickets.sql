-- PostgreSQL's variants of queries/tickets.sql.

-- name: ticket.opened-total
SELECT COALESCE((SELECT last_value FROM pg_sequences WHERE schemaname = current_schema() AND sequencename = 'tickets_id_seq'), 0);
