-- The outcome became typed: its kind (taskrouter.OutcomeKind) here, its detail in outcome.
ALTER TABLE reservations ADD COLUMN outcome_kind TEXT NOT NULL DEFAULT '';
