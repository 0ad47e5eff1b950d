-- name: group.insert
INSERT INTO groups (code, name, display_name, commune, created_at) VALUES (?, ?, ?, ?, ?);

-- name: group.update
UPDATE groups SET display_name = ?, commune = ? WHERE id = ?;

-- name: group.id-by-address
SELECT id FROM groups WHERE code = ? AND name = ?;

-- name: group.get
SELECT id, code, name, display_name, commune, created_at FROM groups WHERE id = ?;

-- name: group.list
SELECT id, code, name, display_name, commune, created_at FROM groups ORDER BY code, name;

-- name: group.delete
DELETE FROM groups WHERE id = ?;

-- name: animator.add
INSERT INTO animators (group_id, email) VALUES (?, ?) ON CONFLICT DO NOTHING;

-- name: animator.clear
DELETE FROM animators WHERE group_id = ?;

-- name: animator.list
SELECT email FROM animators WHERE group_id = ? ORDER BY email;

-- name: animator.all
SELECT group_id, email FROM animators ORDER BY group_id, email;

-- name: list.id-count
-- A CODE.NAME is a group or a list, not both.
SELECT COUNT(*) FROM lists WHERE code = ? AND name = ?;
