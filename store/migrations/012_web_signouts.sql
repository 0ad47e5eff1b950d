-- "Sign out everywhere" ends a person's sessions and every link to their
-- page made before it. The footers' and digests' links are not stored
-- (each carries its expiry under a MAC), so the moment is kept instead,
-- under the keyed hash of the address (store.PersonMAC, secret "erasure"),
-- until the last link made before it would have expired.
CREATE TABLE web_signouts (
    mac        TEXT PRIMARY KEY,
    at         INTEGER NOT NULL,             -- when they signed out everywhere
    expires_at INTEGER NOT NULL              -- at + the footer links' lifetime
) WITHOUT ROWID;
CREATE INDEX web_signouts_expires ON web_signouts(expires_at);
