-- One row that /readyz rewrites (at most once a second): a real, committed write proves that
-- writes reach the disk, which SELECT 1 does not.
CREATE TABLE health (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at INTEGER NOT NULL
);
