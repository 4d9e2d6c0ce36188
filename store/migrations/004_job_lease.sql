-- A running job holds a lease: when it is neither finished nor rescheduled by lease_until (the
-- process died, or the store refused the write that would have ended it), it is claimed again.
ALTER TABLE jobs ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_lease ON jobs(state, lease_until);
