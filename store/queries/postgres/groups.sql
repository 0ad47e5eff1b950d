-- PostgreSQL's own queries of groups.

-- name: group.get-with-animators
-- PostgreSQL only: group.get and animator.list in one round trip, the
-- animators as one string, one address a line (an address holds no line
-- break), in animator.list's order.
SELECT g.id, g.code, g.name, g.display_name, g.commune, g.created_at,
       COALESCE((SELECT string_agg(a.email, E'\n' ORDER BY a.email) FROM animators a WHERE a.group_id = g.id), '')
FROM groups g WHERE g.id = ?;
