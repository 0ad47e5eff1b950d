-- List archives (package archive) and their IMAP view (package imapd).

-- name: archive.by-msgid
-- Threading: the post a reference names. Uses posts_msgid.
SELECT id, thread FROM posts WHERE list_id = ? AND msgid = ? AND id != ? ORDER BY id LIMIT 1;

-- name: archive.by-topic
-- The subject fallback: the latest thread of this topic. Uses posts_topic.
SELECT thread FROM posts WHERE list_id = ?1 AND topic = ?2 AND posted_at > ?3 AND id != ?4
ORDER BY posted_at DESC LIMIT 1;

-- name: archive.index
UPDATE posts SET msgid = ?, parent = ?, thread = ?, topic = ?, author = ?, text = ?, indexed = 1 WHERE id = ?;

-- name: archive.body
-- The post as archived, with its Archived-At (not a column the search
-- index reads: no trigger runs).
UPDATE posts SET body = ?, size = ? WHERE id = ?;

-- name: archive.size
UPDATE posts SET size = ? WHERE id = ?;

-- name: archive.ref-missing
INSERT INTO post_refs (list_id, msgid, post_id, depth) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING;

-- name: archive.refs-to
-- Posts that named a Message-ID not archived then.
SELECT post_id, depth FROM post_refs WHERE list_id = ? AND msgid = ?;

-- name: archive.refs-done
-- A parent found at depth: farther references no longer matter.
DELETE FROM post_refs WHERE post_id = ?1 AND depth >= ?2;

-- name: archive.is-ancestor
-- Whether post ?1 is above post ?2 (references that loop).
WITH RECURSIVE up(id, n) AS (
    SELECT parent, 0 FROM posts WHERE id = ?2
    UNION ALL
    SELECT p.parent, up.n + 1 FROM posts p JOIN up ON p.id = up.id WHERE up.id != 0 AND up.n < 1000)
SELECT EXISTS (SELECT 1 FROM up WHERE id = ?1);

-- name: archive.adopt
UPDATE posts SET parent = ?1 WHERE id = ?2;

-- name: archive.move-subtree
-- Post ?2 and its answers, all the way down, join thread ?1.
WITH RECURSIVE sub(id) AS (
    SELECT ?2
    UNION
    SELECT p.id FROM posts p JOIN sub ON p.parent = sub.id)
UPDATE posts SET thread = ?1 WHERE id IN sub;

-- name: archive.unindexed
-- Posts archived before archives were read. Uses posts_unindexed.
SELECT id, list_id, subject, poster, posted_at, body FROM posts WHERE indexed = 0 ORDER BY id LIMIT ?;

-- name: archive.parent
SELECT parent, thread FROM posts WHERE id = ? AND list_id = ?;

-- name: archive.reparent
-- A removed post's answers hang from its parent.
UPDATE posts SET parent = ?1 WHERE parent = ?2;

-- name: archive.remove
DELETE FROM posts WHERE id = ?;

-- name: archive.removed
INSERT INTO archive_removals (post_id, list_id, removed_at, removed_by, reason) VALUES (?, ?, ?, ?, ?);

-- name: archive.removals
SELECT post_id, removed_at, removed_by, reason FROM archive_removals WHERE list_id = ? ORDER BY removed_at DESC;

-- name: archive.visibility
SELECT archive_visibility FROM lists WHERE id = ?;

-- name: archive.set-visibility
UPDATE lists SET archive_visibility = ? WHERE id = ?;

-- name: archive.months
-- A list's months with posts (UTC), newest first: uses posts_age.
SELECT strftime('%Y-%m', posted_at, 'unixepoch') AS m, COUNT(*) FROM posts WHERE list_id = ? GROUP BY m ORDER BY m DESC;

-- name: archive.month-threads
-- The threads of a month: those with posts in it, latest activity first.
-- Uses posts_age.
SELECT thread, COUNT(*), MIN(id), MAX(posted_at) FROM posts WHERE list_id = ? AND posted_at >= ? AND posted_at < ?
GROUP BY thread ORDER BY MAX(posted_at) DESC;

-- name: archive.head
SELECT id, list_id, poster, author, subject, posted_at, msgid, parent, thread, size FROM posts WHERE id = ?;

-- name: archive.thread
-- Uses posts_thread.
SELECT id, list_id, poster, author, subject, posted_at, msgid, parent, thread, size FROM posts
WHERE thread = ? AND list_id = ? ORDER BY posted_at, id;

-- name: archive.thread-count
SELECT COUNT(*) FROM posts WHERE thread = ?;

-- name: archive.post
SELECT body FROM posts WHERE id = ? AND list_id = ?;

-- name: archive.month-bodies
SELECT id, poster, posted_at, body FROM posts WHERE list_id = ? AND posted_at >= ? AND posted_at < ? ORDER BY id;

-- name: archive.thread-bodies
SELECT id, poster, posted_at, body FROM posts WHERE thread = ? AND list_id = ? ORDER BY id;

-- name: archive.latest
SELECT id, list_id, poster, author, subject, posted_at, msgid, parent, thread, size FROM posts
WHERE list_id = ? ORDER BY id DESC LIMIT ?;

-- name: archive.search
-- Words (and author:) through the index, newest first: FTS4 walks its
-- doclists by docid in descending order and stops at the limit, so a word
-- in every post costs no more than a rare one. ?5 pages back (docid below).
SELECT p.id, p.list_id, p.poster, p.author, p.subject, p.posted_at, p.msgid, p.parent, p.thread, p.size,
       snippet(posts_fts, char(1), char(2), '…', -1, 24)
FROM posts_fts JOIN posts p ON p.id = posts_fts.docid
WHERE posts_fts MATCH ?1 AND p.list_id = ?2 AND p.posted_at >= ?3 AND p.posted_at < ?4 AND posts_fts.docid < ?5
ORDER BY posts_fts.docid DESC LIMIT ?6;

-- name: archive.range
-- A search with dates only. Uses the primary key backwards.
SELECT id, list_id, poster, author, subject, posted_at, msgid, parent, thread, size, ''
FROM posts WHERE list_id = ?1 AND posted_at >= ?2 AND posted_at < ?3 AND id < ?4 ORDER BY id DESC LIMIT ?5;

-- name: archive.optimize
-- After an erasure: the index merged into one segment, so that no word of
-- a deleted or rewritten post stays in an old one.
INSERT INTO posts_fts (posts_fts) VALUES ('optimize');

-- name: imap.uids
-- A folder's messages: UIDs are post ids, ascending in each list.
SELECT id, posted_at, size FROM posts WHERE list_id = ? ORDER BY id;

-- name: imap.since
SELECT id, posted_at, size FROM posts WHERE list_id = ? AND id > ? ORDER BY id;

-- name: imap.count
SELECT COUNT(*), COALESCE(MAX(id), 0) FROM posts WHERE list_id = ?;

-- name: imap.next
-- UIDNEXT: above every post id ever given, in any list.
SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'posts'), 0) + 1;

-- name: imap.body
SELECT body FROM posts WHERE id = ? AND list_id = ?;

-- name: apppass.insert
INSERT INTO app_passwords (email, name, hash, created_at) VALUES (?, ?, ?, ?);

-- name: apppass.of
SELECT id, name, hash, created_at, used_at FROM app_passwords WHERE email = ? ORDER BY id;

-- name: apppass.revoke
DELETE FROM app_passwords WHERE id = ? AND email = ?;

-- name: apppass.used
UPDATE app_passwords SET used_at = ? WHERE id = ?;

-- name: erase.app-passwords
DELETE FROM app_passwords WHERE email = ?;

-- name: archive.web-state
-- What the dispatcher made of a post written on the web.
SELECT state FROM inbound_rcpts WHERE id = ?;

-- name: archive.web-held
SELECT COUNT(*) FROM held WHERE message_id = ?;

-- name: test.held-count
SELECT COUNT(*) FROM held;

-- name: test.removal
SELECT reason, removed_by FROM archive_removals WHERE post_id = ?;

-- name: archive.animated-codes
-- The codes of the groups an address animates: the territory lists whose
-- archive it reads are those whose code contains one. lower() on both
-- sides, not COLLATE NOCASE: the same text on PostgreSQL.
SELECT g.code FROM groups g JOIN animators a ON a.group_id = g.id WHERE lower(a.email) = lower(?);

-- name: archive.readable
-- The lists whose archive an address may read, or might (the caller
-- checks the visibility against its role): public ones (?2 = 1), those it
-- is on (uses members_email) or owns or moderates, and the territory
-- lists, whose readers are animators of groups inside them.
SELECT l.id, l.code, l.name, l.display_name, l.archive_visibility, l.policy, l.created_at,
       COALESCE((SELECT role FROM list_owners WHERE list_id = l.id AND email = ?1),
                (SELECT 'member' FROM members WHERE list_id = l.id AND email = ?1 AND state != 'unsubscribed'), '')
FROM lists l
WHERE (?2 = 1 AND l.archive_visibility = 'public')
   OR l.id IN (SELECT list_id FROM members WHERE email = ?1 AND state != 'unsubscribed')
   OR l.id IN (SELECT list_id FROM list_owners WHERE email = ?1)
   OR l.policy = 'territory'
ORDER BY l.code, l.name;

-- name: test.post-count
SELECT (SELECT COUNT(*) FROM posts) + (SELECT COUNT(*) FROM held);
