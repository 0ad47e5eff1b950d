-- name: setting.get
SELECT value FROM settings WHERE key = ?;

-- name: setting.insert-if-absent
INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING;

-- name: setting.put
INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value;
