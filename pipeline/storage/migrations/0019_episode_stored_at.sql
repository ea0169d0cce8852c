-- Episode state's retention is counted from when Handoff last wrote a row (`stored_at`, the
-- stage's clock), not from the record's event times: a backfilled or replayed record from months
-- ago was purged within the hour of being stored, before its referral could be rendered again.
-- Rows written before this migration keep the time they were purged by until now.
ALTER TABLE episode_record ADD COLUMN stored_at TEXT;
UPDATE episode_record SET stored_at = received_at;
ALTER TABLE person_episode ADD COLUMN stored_at TEXT;
UPDATE person_episode SET stored_at = last_seen;
ALTER TABLE episode_request ADD COLUMN stored_at TEXT;
UPDATE episode_request SET stored_at = updated_at;
