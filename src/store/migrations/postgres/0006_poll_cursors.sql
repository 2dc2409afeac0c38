-- Reconciliation polls of Merge: per "<linked account>/<model>", the largest `modified_at`
-- read so far (RFC 3339). Mirrors sqlite/0006_poll_cursors.sql.
CREATE TABLE poll_cursors (
    name       TEXT PRIMARY KEY,
    cursor     TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
