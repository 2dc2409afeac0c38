-- Every outbound dial, claimed before the carrier is asked to place it: "never ring twice"
-- rests on this primary key, not on one process's memory or on the carrier dropping a
-- repeated `command_id`. A second claim of the same dial is refused; a recovery re-sends the
-- claimed command (same `command_id`) only while the leg it placed is unknown.
CREATE TABLE dials (
    escalation_id   TEXT    NOT NULL,
    attempt         INTEGER NOT NULL,
    -- A (the person rung) or B (the connect target), as in call_legs.
    leg             TEXT    NOT NULL,
    -- Which dial of this leg in this attempt: always 1 for A; for B the connect try (a
    -- failed connect may be tried again from the menu).
    n               INTEGER NOT NULL,
    command_id      TEXT    NOT NULL,
    -- Who claimed it: the process that owns this database file.
    node            TEXT    NOT NULL,
    claimed_at      TEXT    NOT NULL,
    -- The leg the carrier placed, once recorded; NULL while unknown.
    call_control_id TEXT,
    PRIMARY KEY (escalation_id, attempt, leg, n)
);
CREATE INDEX dials_by_command ON dials (escalation_id, command_id);
