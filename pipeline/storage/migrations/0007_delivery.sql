-- 0007_delivery (portable SQL): the delivery ledger, one row per referral (a referral names one
-- recipient). It holds the one send in flight (a lease), what the recipient holds (the digest and
-- message id of the last message it acknowledged, and the endpoint it went to: a cancellation goes
-- there), and sends that ended ambiguous (no ACK: resent later with the same message id, flagged).
CREATE TABLE delivery_ledger (
    referral_id      TEXT PRIMARY KEY,
    recipient_id     TEXT NOT NULL,
    person_token     TEXT NOT NULL,
    state            TEXT NOT NULL,          -- in-flight | sent | ambiguous | failed
    message_id       TEXT NOT NULL,          -- the message in flight or last settled
    content_digest   TEXT NOT NULL,
    lease_until      TEXT,
    revision         INTEGER NOT NULL DEFAULT 0,
    attempts         INTEGER NOT NULL DEFAULT 0,
    sent_message_id  TEXT,                   -- what the recipient holds (NULL: nothing yet)
    sent_digest      TEXT,
    sent_action      TEXT,
    endpoint_kind    TEXT,                   -- where it went
    endpoint_address TEXT,
    decision         TEXT,                   -- the Decision it was sent on (JSON): a cancellation cites it
    detail           TEXT NOT NULL DEFAULT '',
    updated_at       TEXT NOT NULL
);
CREATE INDEX delivery_ledger_person ON delivery_ledger (person_token);
CREATE INDEX delivery_ledger_open ON delivery_ledger (state);
