-- Pipelines: each event's pipeline run, the deliveries it created, and the model cache.
-- Mirrors sqlite/0002_pipelines.sql.

ALTER TABLE events ADD COLUMN pipeline_state TEXT;
ALTER TABLE events ADD COLUMN pipeline TEXT;
CREATE INDEX events_pipeline_pending ON events (seq) WHERE pipeline_state = 'pending';

CREATE TABLE deliveries (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id           TEXT   NOT NULL UNIQUE,
    event_id     TEXT   NOT NULL,
    pipeline     TEXT   NOT NULL,
    destination  TEXT   NOT NULL,
    body         TEXT   NOT NULL,
    -- pending | failed | succeeded | dead
    state        TEXT   NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    run_attempts BIGINT NOT NULL DEFAULT 0,
    -- Unix ms of the next attempt (pending/failed only).
    due_at       BIGINT,
    -- Unix ms until which a worker holds the job; NULL when nobody does.
    lease_until  BIGINT,
    last_error   TEXT,
    created_at   TEXT   NOT NULL,
    updated_at   TEXT   NOT NULL,
    -- One delivery per event and destination, however often (and on however many nodes)
    -- the pipeline runs.
    UNIQUE (event_id, destination)
);
CREATE INDEX deliveries_due ON deliveries (due_at) WHERE state IN ('pending', 'failed');
CREATE INDEX deliveries_by_state ON deliveries (state, seq);
CREATE INDEX deliveries_by_destination ON deliveries (destination, seq);

CREATE TABLE delivery_attempts (
    delivery_id TEXT   NOT NULL,
    number      BIGINT NOT NULL,
    started_at  TEXT   NOT NULL,
    duration_ms BIGINT NOT NULL,
    status      BIGINT,
    error       TEXT,
    response    TEXT,
    PRIMARY KEY (delivery_id, number)
);

CREATE TABLE disabled_destinations (
    name        TEXT PRIMARY KEY,
    reason      TEXT NOT NULL,
    disabled_at TEXT NOT NULL
);

CREATE TABLE classifications (
    cache_key  TEXT PRIMARY KEY,
    label      TEXT NOT NULL,
    model      TEXT NOT NULL,
    created_at TEXT NOT NULL
);
