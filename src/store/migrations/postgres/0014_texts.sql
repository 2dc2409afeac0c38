-- Text messages (SMS) sent for escalations, and the message webhooks already handled.
-- Mirrors sqlite/0014_texts.sql: the primary key on (escalation, attempt) lets a call slot
-- text its person once, whichever node runs the step (Telnyx Messaging has no `command_id`).
CREATE TABLE texts (
    escalation_id TEXT   NOT NULL,
    attempt       BIGINT NOT NULL,
    to_number     TEXT   NOT NULL,
    code          TEXT   NOT NULL,
    message_id    TEXT,
    status        TEXT   NOT NULL,
    -- The node id of the claimer (as in dials.node).
    node          TEXT   NOT NULL,
    created_at    TEXT   NOT NULL,
    updated_at    TEXT   NOT NULL,
    PRIMARY KEY (escalation_id, attempt)
);
CREATE UNIQUE INDEX texts_by_message ON texts (message_id);
CREATE INDEX texts_by_number ON texts (to_number);

CREATE TABLE text_webhooks (
    id          TEXT PRIMARY KEY,
    received_at TEXT NOT NULL
);
