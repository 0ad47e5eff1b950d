-- List archives members read (issue 19): on the web, searched, and over
-- IMAP. The archive stays the posts table (002); each post gains what
-- reading it needs, found once when it is archived (package archive).

-- Who may read a list's archive: public (anyone, addresses never shown
-- whole), members (its members and owners), owners (owners and
-- moderators).
ALTER TABLE lists ADD COLUMN archive_visibility TEXT NOT NULL DEFAULT 'members';

-- msgid: the post's Message-ID without its angle brackets. parent: the
-- post it answers (0: it starts a thread); thread: the first post of its
-- thread (JWZ threading over Message-ID, In-Reply-To and References, the
-- subject when they name nothing archived). topic: the subject without
-- Re:, Fwd: and list tags, for that fallback. author: the poster's
-- display name. text: the words of the post, decoded, as the search
-- index reads them. size: of body, in bytes, for IMAP's RFC822.SIZE.
-- indexed: 0 for posts archived before this migration, which the hub
-- indexes when it starts.
ALTER TABLE posts ADD COLUMN msgid TEXT NOT NULL DEFAULT '';
ALTER TABLE posts ADD COLUMN parent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE posts ADD COLUMN thread INTEGER NOT NULL DEFAULT 0;
ALTER TABLE posts ADD COLUMN topic TEXT NOT NULL DEFAULT '';
ALTER TABLE posts ADD COLUMN author TEXT NOT NULL DEFAULT '';
ALTER TABLE posts ADD COLUMN text TEXT NOT NULL DEFAULT '';
ALTER TABLE posts ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
ALTER TABLE posts ADD COLUMN indexed INTEGER NOT NULL DEFAULT 0;
-- Threading finds a post's parent by Message-ID, and the subject fallback
-- the latest thread of a topic.
CREATE INDEX posts_msgid ON posts(list_id, msgid);
CREATE INDEX posts_topic ON posts(list_id, topic, posted_at);
-- A thread's posts, and a month's threads.
CREATE INDEX posts_thread ON posts(thread, id);
-- Posts to index at start.
CREATE INDEX posts_unindexed ON posts(id) WHERE indexed = 0;

-- A Message-ID a post refers to (In-Reply-To, References) that was not
-- in the archive when the post came, nearer to it than the parent found:
-- when a post with that Message-ID comes later, it becomes the parent
-- (JWZ's empty containers, kept).
CREATE TABLE post_refs (
    list_id INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    msgid   TEXT NOT NULL,
    post_id INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
    depth   INTEGER NOT NULL,             -- 1: In-Reply-To, then up the References
    PRIMARY KEY (list_id, msgid, post_id)
) WITHOUT ROWID;
CREATE INDEX post_refs_post ON post_refs(post_id);

-- Posts an owner removed from the archive: the post is deleted (pages,
-- search, IMAP), this record says when, by whom and why.
CREATE TABLE archive_removals (
    post_id    INTEGER PRIMARY KEY,       -- the post's id (and IMAP UID) that was
    list_id    INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    removed_at INTEGER NOT NULL,
    removed_by TEXT NOT NULL,
    reason     TEXT NOT NULL
);
CREATE INDEX archive_removals_list ON archive_removals(list_id, removed_at);

-- The search index: FTS4 (compiled into go-sqlite3 by default; FTS5 needs
-- a build tag) over the posts' subject, author and text, accents folded
-- (unicode61, remove_diacritics=2: "réunion" finds "reunion"). External
-- content: the words are posts' own columns, so erasure's sweep of posts
-- (package privacy) rewrites them and these triggers keep the index in
-- step; the index itself holds only tokens, never an address whole.
CREATE VIRTUAL TABLE posts_fts USING fts4(content="posts", subject, author, text,
    tokenize=unicode61 "remove_diacritics=2");
CREATE TRIGGER posts_fts_bu BEFORE UPDATE OF subject, author, text ON posts BEGIN
    DELETE FROM posts_fts WHERE docid = old.id;
END;
CREATE TRIGGER posts_fts_bd BEFORE DELETE ON posts BEGIN
    DELETE FROM posts_fts WHERE docid = old.id;
END;
CREATE TRIGGER posts_fts_au AFTER UPDATE OF subject, author, text ON posts BEGIN
    INSERT INTO posts_fts (docid, subject, author, text) VALUES (new.id, new.subject, new.author, new.text);
END;
CREATE TRIGGER posts_fts_ai AFTER INSERT ON posts BEGIN
    INSERT INTO posts_fts (docid, subject, author, text) VALUES (new.id, new.subject, new.author, new.text);
END;
INSERT INTO posts_fts (posts_fts) VALUES ('rebuild');

-- A member's app passwords for IMAP, made and revoked on their page. Only
-- an HMAC-SHA256 of the password (random, 100 bits) under the hub's
-- secret "imap" is kept.
CREATE TABLE app_passwords (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    email      TEXT NOT NULL,             -- lower case
    name       TEXT NOT NULL,             -- the member's label for it ("Thunderbird")
    hash       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    used_at    INTEGER NOT NULL DEFAULT 0
);
-- Signing in looks up an address's passwords; erasure and export too.
CREATE INDEX app_passwords_email ON app_passwords(email);
