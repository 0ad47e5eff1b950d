-- Several nodes on one PostgreSQL database (issue 17): a node claims a
-- delivery (SELECT … FOR UPDATE SKIP LOCKED) by setting lease_until, with
-- the next attempt time, before dialing; another node takes it only once
-- that time has passed, so a node that dies leaves its claims to the
-- others. SQLite has one process and claims with next_attempt alone
-- (queries/queue.sql): the column is here so that both schemas are the
-- same and `relais store copy` copies every column.
ALTER TABLE deliveries ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;
