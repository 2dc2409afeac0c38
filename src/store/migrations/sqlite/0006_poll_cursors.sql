-- Reconciliation polls of Merge: per "<linked account>/<model>", the largest `modified_at`
-- read so far (RFC 3339). Written only after every page of a poll was read and stored, so a
-- crash mid-poll re-reads that window instead of skipping it.
CREATE TABLE poll_cursors (
    name       TEXT PRIMARY KEY,
    cursor     TEXT NOT NULL,
    -- RFC 3339, UTC.
    updated_at TEXT NOT NULL
);
