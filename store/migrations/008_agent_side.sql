-- Issue 13, the agent side.
-- The whisper says what the task is about: its department, the last four digits of the
-- caller's number (never the whole number), and when the caller entered the queue.
ALTER TABLE reservations ADD COLUMN department TEXT NOT NULL DEFAULT '';
ALTER TABLE reservations ADD COLUMN caller_last4 TEXT NOT NULL DEFAULT '';
ALTER TABLE reservations ADD COLUMN enqueued_at INTEGER NOT NULL DEFAULT 0;
-- A new open state, confirming (the agent hears the whisper and must press a key): the index of
-- the states the reconciler watches covers it.
DROP INDEX IF EXISTS reservations_watched;
CREATE INDEX reservations_watched ON reservations(created_at)
    WHERE state IN ('pending', 'dialing', 'ringing', 'confirming', 'bridging', 'accepted');
-- One row per worker who missed or took a call while REST_AFTER_MISSES is on: the count of
-- consecutive missed legs, the reservation counted last (a job run twice counts once), and when
-- the worker was last rested. Rest and return are outbox jobs (jobs).
CREATE TABLE workers (
    sid              TEXT PRIMARY KEY,
    misses           INTEGER NOT NULL DEFAULT 0,
    last_reservation TEXT NOT NULL DEFAULT '',
    rested_at        INTEGER NOT NULL DEFAULT 0,
    updated_at       INTEGER NOT NULL
) WITHOUT ROWID;
