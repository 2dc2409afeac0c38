-- Every outbound dial, claimed before the carrier is asked to place it, by whichever node.
-- Mirrors sqlite/0010_dials.sql: the primary key, not a lease or the carrier's de-duplication
-- of `command_id`, is what lets a given dial go out once.
CREATE TABLE dials (
    escalation_id   TEXT   NOT NULL,
    attempt         BIGINT NOT NULL,
    -- A (the person rung) or B (the connect target), as in call_legs.
    leg             TEXT   NOT NULL,
    -- 1 for A; for B the connect try within the attempt.
    n               BIGINT NOT NULL,
    command_id      TEXT   NOT NULL,
    -- The node id of the claimer (as in lease_owner).
    node            TEXT   NOT NULL,
    claimed_at      TEXT   NOT NULL,
    call_control_id TEXT,
    PRIMARY KEY (escalation_id, attempt, leg, n)
);
CREATE INDEX dials_by_command ON dials (escalation_id, command_id);
