-- Leases for several nodes on one database. A node that claims a delivery or steps an
-- escalation writes its id and an expiry; it renews the expiry of everything it holds every
-- third of the lease, so when a node dies its work is free again one lease later.
ALTER TABLE deliveries ADD COLUMN lease_owner TEXT;
ALTER TABLE escalations ADD COLUMN lease_owner TEXT;
-- Unix ms; NULL when no node is stepping the escalation.
ALTER TABLE escalations ADD COLUMN lease_until BIGINT;
CREATE INDEX escalations_leased ON escalations (lease_until) WHERE lease_until IS NOT NULL;
CREATE INDEX deliveries_by_lease_owner ON deliveries (lease_owner) WHERE lease_until IS NOT NULL;
