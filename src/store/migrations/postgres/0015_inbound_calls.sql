-- Calls to Klaxon's own number (live call routing): one row per caller's leg. `state` is the
-- JSON of the call's machine (what the caller heard, chose and left); `escalation_id` is the
-- escalation a press of 1 started, whose "connect" bridges to this very leg. Nothing about
-- a call lives in memory: every webhook is applied to this row.
CREATE TABLE inbound_calls (
    id              TEXT PRIMARY KEY,
    -- The caller's leg; a second `call.initiated` for it finds the row and changes nothing.
    call_control_id TEXT NOT NULL UNIQUE,
    caller          TEXT NOT NULL,
    called          TEXT NOT NULL,
    state           TEXT NOT NULL,
    -- `active`, or how the call ended: `connected`, `message`, `hung_up`.
    status          TEXT NOT NULL,
    escalation_id   TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    ended_at        TEXT
);
CREATE INDEX inbound_calls_by_escalation ON inbound_calls (escalation_id);
