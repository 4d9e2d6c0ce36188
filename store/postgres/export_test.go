package postgres

// Channel is the NOTIFY channel of queued jobs, for tests that find (and end) the listener's session.
func (db *DB) Channel() string { return db.channel }
