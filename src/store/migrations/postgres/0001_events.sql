-- Events: everything Klaxon accepted, whatever the source. Mirrors sqlite/0001_events.sql.
CREATE TABLE events (
    -- Insertion order; the cursor of `GET /v1/events`. Never reused.
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              TEXT   NOT NULL UNIQUE,
    source          TEXT   NOT NULL,
    type            TEXT   NOT NULL,
    payload         TEXT   NOT NULL,
    occurred_at     TEXT   NOT NULL,
    received_at     TEXT   NOT NULL,
    idempotency_key TEXT,
    -- SHA-256 (hex) of the canonical request, to tell a retry from a different event that
    -- reuses a key.
    request_hash    TEXT   NOT NULL,
    -- NULL keys are distinct in a UNIQUE constraint, so events without a key never collide.
    -- This constraint is what makes ingest idempotent across nodes.
    UNIQUE (source, idempotency_key)
);

CREATE INDEX events_by_type ON events (type, seq);
