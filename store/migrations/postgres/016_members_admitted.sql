-- PostgreSQL's 016_members_admitted.sql (the same change): a group's
-- members-only events go to its animators and to the members of its
-- code's lists that someone responsible admitted (an owner, the platform,
-- an operator's import, an invitation, or the console). One who subscribed
-- themselves is not admitted until an owner says so. Members already
-- there keep what they saw (admitted).
ALTER TABLE members ADD COLUMN admitted BIGINT NOT NULL DEFAULT 0;
UPDATE members SET admitted = 1;
