-- Every message a recipient acknowledged (the ledger keeps only the last one of each referral).
-- A replay of an earlier message, after a later one of its referral settled, is known by its id and
-- its result record is produced again: a crash between its send and its result (a deliver batch
-- with several updates of one referral) once lost that record (round 7's fault campaign).
CREATE TABLE delivery_sent (
    message_id  TEXT PRIMARY KEY,
    referral_id TEXT NOT NULL,
    settled_at  TEXT NOT NULL
);
INSERT INTO delivery_sent (message_id, referral_id, settled_at)
    SELECT sent_message_id, referral_id, updated_at FROM delivery_ledger WHERE sent_message_id IS NOT NULL;
