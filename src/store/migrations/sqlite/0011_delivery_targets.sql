-- What kind of destination each delivery goes to, as the worker routes it: a serialized
-- `destinations::Target` (`{"kind":"webhook"}`, `{"kind":"merge_ticket"}` …). Rows written
-- before this column existed were webhooks, except Merge write-back jobs, which were known
-- by their reserved destination names.
ALTER TABLE deliveries ADD COLUMN target TEXT NOT NULL DEFAULT '{"kind":"webhook"}';
UPDATE deliveries SET target = '{"kind":"merge_ticket"}'
WHERE destination IN ('merge.ticket-writeback', 'merge.ticket-writeback.call-ended');
UPDATE deliveries SET target = '{"kind":"merge_note"}'
WHERE destination IN ('merge.opportunity-note', 'merge.opportunity-note.call-ended');
