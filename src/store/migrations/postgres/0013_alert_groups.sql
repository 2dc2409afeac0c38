-- Alert groups. Mirrors sqlite/0013_alert_groups.sql.
CREATE TABLE alert_groups (
    source         TEXT   NOT NULL,
    dedup_key      TEXT   NOT NULL,
    -- firing | acknowledged | resolved
    status         TEXT   NOT NULL,
    episode        BIGINT NOT NULL,
    summary        TEXT   NOT NULL,
    severity       TEXT,
    notifications  BIGINT NOT NULL,
    opened_at      TEXT   NOT NULL,
    updated_at     TEXT   NOT NULL,
    settle         TEXT,
    settle_episode BIGINT,
    PRIMARY KEY (source, dedup_key)
);
CREATE INDEX alert_groups_open ON alert_groups (updated_at) WHERE status <> 'resolved';
CREATE INDEX alert_groups_to_settle ON alert_groups (source, dedup_key) WHERE settle IS NOT NULL;
