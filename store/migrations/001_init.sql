-- Reservations: one row per TaskRouter reservation queuebridge has heard of, with its agent leg.
CREATE TABLE reservations (
    sid           TEXT PRIMARY KEY,
    task_sid      TEXT NOT NULL,
    workspace_sid TEXT NOT NULL,
    workflow_sid  TEXT NOT NULL DEFAULT '',
    worker_sid    TEXT NOT NULL DEFAULT '',
    worker_name   TEXT NOT NULL DEFAULT '',
    contact_uri   TEXT NOT NULL DEFAULT '',
    caller_id     TEXT NOT NULL DEFAULT '',
    state         TEXT NOT NULL,
    call_sid      TEXT NOT NULL DEFAULT '',
    call_status   TEXT NOT NULL DEFAULT '',
    answered_by   TEXT NOT NULL DEFAULT '',
    outcome       TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    dialing_at    INTEGER NOT NULL DEFAULT 0,
    deadline      INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX reservations_task ON reservations(task_sid);
CREATE INDEX reservations_call ON reservations(call_sid) WHERE call_sid != '';

-- Tasks known to be canceled, so that a reservation.created arriving after task.canceled is not dialed.
CREATE TABLE canceled_tasks (
    task_sid TEXT PRIMARY KEY,
    reason   TEXT NOT NULL,
    at       INTEGER NOT NULL
) WITHOUT ROWID;

-- Event SIDs already processed: TaskRouter retries deliver the same Sid again.
CREATE TABLE events (
    sid  TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    at   INTEGER NOT NULL
) WITHOUT ROWID;

-- The outbox: side effects on Twilio, stored with the state change that needs them.
CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL,
    reservation_sid TEXT NOT NULL,
    call_sid        TEXT NOT NULL DEFAULT '',
    state           TEXT NOT NULL DEFAULT 'queued', -- queued | running
    attempts        INTEGER NOT NULL DEFAULT 0,
    not_before      INTEGER NOT NULL,
    deadline        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL
);
CREATE INDEX jobs_due ON jobs(state, not_before);
