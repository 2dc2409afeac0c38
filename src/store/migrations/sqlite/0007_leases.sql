-- Leases for several nodes on one database (used by PostgreSQL; kept here so both dialects
-- have one schema). A single SQLite node never needs them: it is the only worker.
ALTER TABLE deliveries ADD COLUMN lease_owner TEXT;
ALTER TABLE escalations ADD COLUMN lease_owner TEXT;
ALTER TABLE escalations ADD COLUMN lease_until INTEGER;
