-- Phone escalations: the persisted state machine, its timeline, the call legs, and the
-- dedupe record of carrier webhooks.

CREATE TABLE escalations (
    -- Insertion order; the cursor of `GET /v1/escalations`.
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT    NOT NULL UNIQUE,
    event_id    TEXT    NOT NULL,
    pipeline    TEXT    NOT NULL,
    destination TEXT    NOT NULL,
    policy      TEXT    NOT NULL,
    -- JSON, fixed at creation: the call slots, the connect target, the briefing context.
    plan        TEXT    NOT NULL,
    -- JSON of the state machine; rewritten after every transition.
    state       TEXT    NOT NULL,
    -- active | connected | acknowledged | unreached | cancelled | failed
    status      TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    ended_at    TEXT,
    -- One escalation per event and destination, however often a pipeline runs.
    UNIQUE (event_id, destination)
);
CREATE INDEX escalations_by_status ON escalations (status, seq);

CREATE TABLE escalation_timeline (
    escalation_id TEXT    NOT NULL,
    n             INTEGER NOT NULL,
    at            TEXT    NOT NULL,
    -- command | webhook | decision | note
    kind          TEXT    NOT NULL,
    detail        TEXT    NOT NULL,
    PRIMARY KEY (escalation_id, n)
);

-- Every leg Klaxon dialled, so a webhook finds its escalation even without client_state.
CREATE TABLE call_legs (
    call_control_id TEXT    PRIMARY KEY,
    escalation_id   TEXT    NOT NULL,
    attempt         INTEGER NOT NULL,
    leg             TEXT    NOT NULL,
    created_at      TEXT    NOT NULL
);

-- Carrier webhook ids already handled: Telnyx redelivers, and a duplicate must change nothing.
CREATE TABLE voice_webhooks (
    id          TEXT PRIMARY KEY,
    received_at TEXT NOT NULL
);
