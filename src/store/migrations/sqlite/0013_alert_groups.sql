-- Alert groups: one row per alert an alert source keeps sending (`[[alert_sources]]`), keyed
-- by the sender's de-duplication key (an Alertmanager or Grafana fingerprint, a PagerDuty
-- dedup_key). It decides, in the same transaction for every notification, whether the alert
-- opens (a new episode, which rings) or repeats (which does not), and remembers which
-- escalations a resolve or an acknowledge still has to settle.
CREATE TABLE alert_groups (
    -- The alert source's name.
    source        TEXT    NOT NULL,
    dedup_key     TEXT    NOT NULL,
    -- firing | acknowledged | resolved
    status        TEXT    NOT NULL,
    -- How many times the alert opened; the opening event's idempotency key carries it, so a
    -- repeat of an open alert stores nothing new and starts no second escalation.
    episode       INTEGER NOT NULL,
    summary       TEXT    NOT NULL,
    severity      TEXT,
    -- Notifications recorded in this episode: the opening one and those that changed the
    -- alert (a repeat of an open alert is answered from reads and not counted).
    notifications INTEGER NOT NULL,
    opened_at     TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL,
    -- resolved | acknowledged while the escalations of episode `settle_episode` are still
    -- to be told; cleared once they have been (or never started).
    settle         TEXT,
    settle_episode INTEGER,
    PRIMARY KEY (source, dedup_key)
);
CREATE INDEX alert_groups_open ON alert_groups (updated_at) WHERE status <> 'resolved';
CREATE INDEX alert_groups_to_settle ON alert_groups (source, dedup_key) WHERE settle IS NOT NULL;
