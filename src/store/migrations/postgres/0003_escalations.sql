-- Phone escalations. Mirrors sqlite/0003_escalations.sql.

CREATE TABLE escalations (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT   NOT NULL UNIQUE,
    event_id    TEXT   NOT NULL,
    pipeline    TEXT   NOT NULL,
    destination TEXT   NOT NULL,
    policy      TEXT   NOT NULL,
    plan        TEXT   NOT NULL,
    state       TEXT   NOT NULL,
    -- active | connected | acknowledged | unreached | cancelled | failed
    status      TEXT   NOT NULL,
    created_at  TEXT   NOT NULL,
    updated_at  TEXT   NOT NULL,
    ended_at    TEXT,
    -- One escalation per event and destination, whichever node runs the pipeline.
    UNIQUE (event_id, destination)
);
CREATE INDEX escalations_by_status ON escalations (status, seq);

CREATE TABLE escalation_timeline (
    escalation_id TEXT   NOT NULL,
    n             BIGINT NOT NULL,
    at            TEXT   NOT NULL,
    kind          TEXT   NOT NULL,
    detail        TEXT   NOT NULL,
    PRIMARY KEY (escalation_id, n)
);

CREATE TABLE call_legs (
    call_control_id TEXT   PRIMARY KEY,
    escalation_id   TEXT   NOT NULL,
    attempt         BIGINT NOT NULL,
    leg             TEXT   NOT NULL,
    created_at      TEXT   NOT NULL
);

-- Carrier webhook ids already handled, by any node: a redelivery changes nothing.
CREATE TABLE voice_webhooks (
    id          TEXT PRIMARY KEY,
    received_at TEXT NOT NULL
);
