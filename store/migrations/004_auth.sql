-- Trust: how a list judges a poster's From (issue 6).

-- auth: strict   a post must be proven (DMARC pass, or aligned SPF or DKIM
--                when the From domain publishes no DMARC), else it is held;
--       relaxed  held only when shown forged (DMARC or SPF fail);
--       off      the From line is believed.
ALTER TABLE lists ADD COLUMN auth TEXT NOT NULL DEFAULT 'strict';

-- Every subscription asked for by mail, to cap them per address and per
-- client address and hour (bots that subscribe strangers by the thousand).
-- Rows older than a day are deleted by the minute tick.
CREATE TABLE subscribe_requests (
    at        INTEGER NOT NULL,
    email     TEXT NOT NULL,
    remote_ip TEXT NOT NULL
);
-- The two counts the caps make.
CREATE INDEX subscribe_requests_email ON subscribe_requests (email, at);
CREATE INDEX subscribe_requests_ip ON subscribe_requests (remote_ip, at);
