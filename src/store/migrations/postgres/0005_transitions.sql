-- `transition` pipeline steps. Mirrors sqlite/0005_transitions.sql.
CREATE TABLE transitions (
    step      TEXT    NOT NULL,
    key       TEXT    NOT NULL,
    holds     BOOLEAN NOT NULL,
    fired_at  BIGINT,
    PRIMARY KEY (step, key)
);
