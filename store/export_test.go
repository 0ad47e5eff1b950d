package store

// Queued says how many writes wait for a writer (tests).
func (db *DB) Queued() int { return len(db.reqs) }
