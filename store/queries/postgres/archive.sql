-- PostgreSQL's variants of queries/archive.sql: dates, the recursive
-- update, sequences, and the search (a tsvector column and its GIN index
-- where SQLite has FTS4).

-- name: archive.months
SELECT to_char(to_timestamp(posted_at) AT TIME ZONE 'UTC', 'YYYY-MM') AS m, COUNT(*) FROM posts WHERE list_id = ?
GROUP BY m ORDER BY m DESC;

-- name: archive.move-subtree
WITH RECURSIVE sub(id) AS (
    SELECT CAST(?2 AS BIGINT)
    UNION
    SELECT p.id FROM posts p JOIN sub ON p.parent = sub.id)
UPDATE posts SET thread = ?1 WHERE id IN (SELECT id FROM sub);

-- name: archive.search
-- Words (and author:) through posts_tsv, newest first. ?1 is the FTS4
-- expression the archive makes (words, author:word), which relais_tsquery
-- reads. The excerpt marks the words with \x01 and \x02 as FTS4's snippet
-- (relais_excerpt: words split as the index splits them).
SELECT p.id, p.list_id, p.poster, p.author, p.subject, p.posted_at, p.msgid, p.parent, p.thread, p.size,
       relais_excerpt(CASE WHEN p.text = '' THEN p.subject ELSE p.text END, ?1)
FROM posts p
WHERE p.tsv @@ relais_tsquery(?1) AND p.list_id = ?2 AND p.posted_at >= ?3 AND p.posted_at < ?4 AND p.id < ?5
ORDER BY p.id DESC LIMIT ?6;

-- name: archive.optimize
-- Nothing to merge: a deleted or rewritten post's words leave the index
-- with its row (VACUUM, after an erasure, takes the dead rows away).
SELECT 1;

-- name: imap.next
SELECT COALESCE((SELECT last_value FROM pg_sequences WHERE schemaname = current_schema() AND sequencename = 'posts_id_seq'), 0) + 1;
