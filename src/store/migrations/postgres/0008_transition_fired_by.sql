-- Which event a transition last let through: the same event run again after a crash (its
-- pipeline result was never committed) passes again, so the crash cannot swallow the call.
ALTER TABLE transitions ADD COLUMN fired_by TEXT;
