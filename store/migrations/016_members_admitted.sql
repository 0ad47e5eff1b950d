-- A group's members-only events go to its animators and to the members of
-- its code's lists that someone responsible admitted: added by an owner or
-- the platform, imported by an operator, invited by an owner, or admitted
-- in the console. One who subscribed themselves (any list, an open
-- announcement list included) is not admitted until an owner says so.
-- Members already there keep what they saw (admitted): review them with
-- the console's members page.
ALTER TABLE members ADD COLUMN admitted INTEGER NOT NULL DEFAULT 0;
UPDATE members SET admitted = 1;
