-- Keep each call webhook until the engine has acted on it. Mirrors sqlite/0004.
ALTER TABLE voice_webhooks ADD COLUMN body TEXT;
ALTER TABLE voice_webhooks ADD COLUMN processed_at TEXT;
CREATE INDEX voice_webhooks_unprocessed ON voice_webhooks (received_at) WHERE processed_at IS NULL;
