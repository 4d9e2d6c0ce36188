-- The whole schema of the SQLite migrations 001–006 (store/migrations), in one step. Times are
-- Unix milliseconds (0 for "never"), as in SQLite, so both stores keep the same precision; SIDs
-- compare bytewise (COLLATE "C"), as SQLite's TEXT does, so "oldest first, then by SID" orders
-- rows the same way on both.

-- Reservations: one row per TaskRouter reservation queuebridge has heard of, with its agent leg.
CREATE TABLE reservations (
    sid           TEXT COLLATE "C" PRIMARY KEY,
    task_sid      TEXT COLLATE "C" NOT NULL,
    workspace_sid TEXT NOT NULL,
    workflow_sid  TEXT NOT NULL DEFAULT '',
    worker_sid    TEXT NOT NULL DEFAULT '',
    worker_name   TEXT NOT NULL DEFAULT '',
    contact_uri   TEXT NOT NULL DEFAULT '',
    caller_id     TEXT NOT NULL DEFAULT '',
    state         TEXT NOT NULL,
    call_sid      TEXT COLLATE "C" NOT NULL DEFAULT '',
    call_status   TEXT NOT NULL DEFAULT '',
    answered_by   TEXT NOT NULL DEFAULT '',
    outcome_kind  TEXT NOT NULL DEFAULT '',
    outcome       TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    dialing_at    BIGINT NOT NULL DEFAULT 0,
    deadline      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX reservations_task ON reservations(task_sid);
CREATE INDEX reservations_call ON reservations(call_sid) WHERE call_sid <> '';
-- The reconciler reads the reservations it watches oldest first (SQLite's 003 and 006: 006's
-- index covers 003's states and more, so only it is made here).
CREATE INDEX reservations_watched ON reservations(created_at)
    WHERE state IN ('pending', 'dialing', 'ringing', 'bridging', 'accepted');

-- Tasks known to be canceled, so that a reservation.created arriving after task.canceled is not dialed.
CREATE TABLE canceled_tasks (
    task_sid TEXT COLLATE "C" PRIMARY KEY,
    reason   TEXT NOT NULL,
    at       BIGINT NOT NULL
);

-- Event SIDs already processed: TaskRouter retries deliver the same Sid again.
CREATE TABLE events (
    sid  TEXT COLLATE "C" PRIMARY KEY,
    type TEXT NOT NULL DEFAULT '',
    at   BIGINT NOT NULL
);
CREATE INDEX events_at ON events(at);

-- The outbox: side effects on Twilio, stored with the state change that needs them. A running
-- job holds a lease: when it is neither finished nor rescheduled by lease_until (its replica
-- died, or the store refused the write that would have ended it), any replica claims it again.
CREATE TABLE jobs (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            TEXT NOT NULL,
    reservation_sid TEXT COLLATE "C" NOT NULL,
    call_sid        TEXT NOT NULL DEFAULT '',
    state           TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    not_before      BIGINT NOT NULL,
    deadline        BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    lease_until     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX jobs_due ON jobs(not_before, id) WHERE state = 'queued';
CREATE INDEX jobs_lease ON jobs(lease_until) WHERE state = 'running';

-- One row that /readyz rewrites (at most once a second): a real, committed write proves that
-- writes reach the database, which SELECT 1 does not.
CREATE TABLE health (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at BIGINT NOT NULL
);
