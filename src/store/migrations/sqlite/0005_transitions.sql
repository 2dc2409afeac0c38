-- `transition` pipeline steps: the last value of each step's condition per object, so an
-- event passes only when the condition becomes true (a stream of "changed" webhooks for one
-- ticket rings once).
CREATE TABLE transitions (
    -- "<pipeline>/<step index>"
    step      TEXT    NOT NULL,
    -- The object's key (e.g. the ticket id).
    key       TEXT    NOT NULL,
    holds     INTEGER NOT NULL,
    -- Unix ms of the last time the step let an event through.
    fired_at  INTEGER,
    PRIMARY KEY (step, key)
);
