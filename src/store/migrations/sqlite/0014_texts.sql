-- Text messages (SMS) sent for escalations, and the message webhooks already handled.
--
-- A text is claimed here before Telnyx is asked to send it: the primary key on (escalation,
-- attempt) lets a given call slot text its person once, whichever process or node runs the
-- step. Telnyx Messaging has no `command_id`, so this key is the only guard against a
-- second copy.
CREATE TABLE texts (
    escalation_id TEXT    NOT NULL,
    -- The call slot (1-based) the text belongs to, as in dials.attempt.
    attempt       INTEGER NOT NULL,
    to_number     TEXT    NOT NULL,
    -- The short code a reply may quote ("ack 4kq7") when one number has several open.
    code          TEXT    NOT NULL,
    -- Telnyx's message id, once it accepted the message; NULL while unknown.
    message_id    TEXT,
    -- sending | queued | sent | delivered | sending_failed | delivery_failed |
    -- delivery_unconfirmed | failed (Telnyx refused it)
    status        TEXT    NOT NULL,
    -- Who claimed it: the process that owns this database file.
    node          TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL,
    PRIMARY KEY (escalation_id, attempt)
);
CREATE UNIQUE INDEX texts_by_message ON texts (message_id);
CREATE INDEX texts_by_number ON texts (to_number);

-- Message webhook ids already handled: Telnyx redelivers, and a duplicate must change nothing.
CREATE TABLE text_webhooks (
    id          TEXT PRIMARY KEY,
    received_at TEXT NOT NULL
);
