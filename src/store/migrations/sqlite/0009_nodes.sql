-- Node liveness for several nodes on one database (used by PostgreSQL; kept here so both
-- dialects have one schema). A single SQLite node is the only worker and never reads it.
CREATE TABLE nodes (
    id          TEXT    PRIMARY KEY,
    alive_until INTEGER NOT NULL,
    started_at  TEXT    NOT NULL
);
