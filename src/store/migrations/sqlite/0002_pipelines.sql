-- Pipelines: each event's pipeline run, the deliveries it created, and the model cache.

-- NULL: no pipeline takes this event type. 'pending': accepted, pipeline not yet run (the
-- runner picks these up again after a restart). 'done': `pipeline` holds the trace.
ALTER TABLE events ADD COLUMN pipeline_state TEXT;
ALTER TABLE events ADD COLUMN pipeline TEXT;
CREATE INDEX events_pipeline_pending ON events (seq) WHERE pipeline_state = 'pending';

CREATE TABLE deliveries (
    -- Insertion order; the cursor of `GET /v1/deliveries`.
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT    NOT NULL UNIQUE,
    event_id     TEXT    NOT NULL,
    pipeline     TEXT    NOT NULL,
    destination  TEXT    NOT NULL,
    -- The exact JSON body; fixed at creation so retries and replays send the same bytes.
    body         TEXT    NOT NULL,
    -- pending | failed | succeeded | dead
    state        TEXT    NOT NULL,
    -- Attempts over the delivery's life, and since creation or the last replay.
    attempts     INTEGER NOT NULL DEFAULT 0,
    run_attempts INTEGER NOT NULL DEFAULT 0,
    -- Unix ms of the next attempt (pending/failed only).
    due_at       INTEGER,
    -- Unix ms until which a worker holds the job; NULL when nobody does.
    lease_until  INTEGER,
    last_error   TEXT,
    created_at   TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL,
    -- One delivery per event and destination, however often the pipeline runs.
    UNIQUE (event_id, destination)
);
CREATE INDEX deliveries_due ON deliveries (due_at) WHERE state IN ('pending', 'failed');
CREATE INDEX deliveries_by_state ON deliveries (state, seq);
CREATE INDEX deliveries_by_destination ON deliveries (destination, seq);

CREATE TABLE delivery_attempts (
    delivery_id TEXT    NOT NULL,
    number      INTEGER NOT NULL,
    started_at  TEXT    NOT NULL,
    duration_ms INTEGER NOT NULL,
    status      INTEGER,
    error       TEXT,
    response    TEXT,
    PRIMARY KEY (delivery_id, number)
);

-- Destinations switched off by a `410 Gone`; deliveries to them are dead-lettered until a
-- user enables them again.
CREATE TABLE disabled_destinations (
    name        TEXT PRIMARY KEY,
    reason      TEXT NOT NULL,
    disabled_at TEXT NOT NULL
);

-- Classification results, keyed by a hash of (model, prompt, labels, input), so identical
-- inputs cost one model call, across restarts too.
CREATE TABLE classifications (
    cache_key  TEXT PRIMARY KEY,
    label      TEXT NOT NULL,
    model      TEXT NOT NULL,
    created_at TEXT NOT NULL
);
