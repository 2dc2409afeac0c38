-- Node liveness. A node holds the deliveries it claimed for as long as it is alive: it
-- renews one row here every third of its lease, instead of renewing every job it holds
-- (thousands of index-wide row rewrites per heartbeat under load). When a node dies its row
-- stops being renewed, and one lease later every delivery it held is free for the others.
-- A node that stops cleanly expires its row at once, so its leftovers are free at once.
CREATE TABLE nodes (
    id          TEXT   PRIMARY KEY,
    -- Unix ms; the node counts as dead from then on.
    alive_until BIGINT NOT NULL,
    started_at  TEXT   NOT NULL
);
-- deliveries.lease_until is SQLite's (one node, time-bound claims); PostgreSQL leaves it NULL
-- and reads the holder's liveness here. The per-owner index only served per-job renewal.
DROP INDEX deliveries_by_lease_owner;
UPDATE deliveries SET lease_until = NULL WHERE lease_until IS NOT NULL;
