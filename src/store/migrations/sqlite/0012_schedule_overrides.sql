-- On-call overrides: someone covers a schedule over [start_ms, end_ms), whatever its layers
-- say. Schedules themselves live in the settings; an override names one by its name. The
-- latest added wins where two overlap, so created_at_ms is part of the answer.
CREATE TABLE schedule_overrides (
    id TEXT PRIMARY KEY,
    schedule TEXT NOT NULL,
    person TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    note TEXT,
    created_at_ms INTEGER NOT NULL,
    CHECK (end_ms > start_ms)
);
CREATE INDEX schedule_overrides_by_end ON schedule_overrides (end_ms);
