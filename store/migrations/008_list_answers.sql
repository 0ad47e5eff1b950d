-- List commands hardened (issue 12).

-- Every answer the lists send to a command (LIST+request, +help,
-- +subscribe, +unsubscribe, a used confirmation), to cap them per address
-- and hour: an auto-responder that marks nothing and answers every answer
-- stops there. Rows older than a day are deleted by the minute tick.
CREATE TABLE list_answers (
    email TEXT NOT NULL,                   -- lower case
    at    INTEGER NOT NULL
);
-- The count the cap makes.
CREATE INDEX list_answers_email ON list_answers (email, at);

-- A confirmation token may stand for changes a member asked for by mail
-- from a From that was not proven (unsubscribe, pause, digest mode,
-- resume): nothing changes until the address confirms. '' is a
-- subscription; otherwise one change a line, "ACTION<TAB>line as written".
ALTER TABLE list_tokens ADD COLUMN action TEXT NOT NULL DEFAULT '';
