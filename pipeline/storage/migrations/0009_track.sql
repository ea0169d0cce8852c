-- 0009_track (portable SQL): the closed loop. The state machine's history, the deadlines it
-- arms, and escalations (a declined or silent referral asks the next recipient).

-- Every report track received, applied or not, append-only (one row per status event).
-- outcome: applied | repeat | refused (with the reason).
CREATE TABLE referral_status_history (
    referral_id     TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    occurred_at     TEXT NOT NULL,
    recorded_at     TEXT NOT NULL,
    from_state      TEXT,
    to_state        TEXT NOT NULL,
    source          TEXT NOT NULL,
    reported_by     TEXT NOT NULL,
    business_status TEXT,
    reason          TEXT,
    outcome         TEXT NOT NULL,
    PRIMARY KEY (referral_id, event_id)
);
CREATE INDEX referral_status_history_at ON referral_status_history (referral_id, recorded_at);

-- The current row names what the referral is about (the request, service, programme).
ALTER TABLE referral_state ADD COLUMN request_id TEXT;
ALTER TABLE referral_state ADD COLUMN service TEXT;
ALTER TABLE referral_state ADD COLUMN programme TEXT;
ALTER TABLE referral_state ADD COLUMN business_status TEXT;
ALTER TABLE referral_state ADD COLUMN created_at TEXT;
CREATE INDEX referral_state_state ON referral_state (state);
CREATE INDEX referral_state_recipient ON referral_state (recipient_id);

-- Deadlines armed when a referral enters a state (pipeline/track/deadlines.yaml).
-- status: open | met | missed.
CREATE TABLE referral_deadline (
    referral_id TEXT NOT NULL,
    name        TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    due_at      TEXT NOT NULL,
    status      TEXT NOT NULL,
    closed_at   TEXT,
    PRIMARY KEY (referral_id, name)
);
CREATE INDEX referral_deadline_due ON referral_deadline (status, due_at);

-- A request escalated past recipients that declined or stayed silent. status: escalated
-- (a revision went back to routing) | exhausted (no one left to ask: outreach must act).
CREATE TABLE referral_escalation (
    request_id   TEXT PRIMARY KEY,
    person_token TEXT,
    excluded     TEXT NOT NULL,
    status       TEXT NOT NULL,
    reason       TEXT,
    updated_at   TEXT NOT NULL
);
