-- Every message a send was claimed for, and how its last send ended (in-flight, sent, ambiguous,
-- retry, failed); the ledger keeps only the last message of each referral. A replay of an earlier
-- message, after a later one of its referral settled, is known by its id: a sent one is never sent
-- again and its result record is produced again; one whose send was never confirmed (no answer, or a
-- crash before the settling) gets an "unconfirmed" disclosure record, since the recipient may hold it.
-- Round 7's and 8's fault campaigns lost those records (a crash before the results; a superseded send).
CREATE TABLE delivery_message (
    message_id  TEXT PRIMARY KEY,
    referral_id TEXT NOT NULL,
    state       TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
INSERT INTO delivery_message (message_id, referral_id, state, updated_at)
    SELECT sent_message_id, referral_id, 'sent', updated_at FROM delivery_ledger WHERE sent_message_id IS NOT NULL;
