-- 0004_consent (portable SQL: the same on SQLite and PostgreSQL): the consent registry of record, the holds (the outreach worklist) and
-- the disclosures that rest on a consent.

-- One row per consent, its current facts (a ConsentRecord as JSON) and the FHIR Consent as received.
CREATE TABLE consent_record (
    consent_id   TEXT PRIMARY KEY,
    person_token TEXT NOT NULL,
    key_version  INTEGER NOT NULL,
    status       TEXT NOT NULL,
    body         TEXT NOT NULL,
    resource     TEXT,
    updated_at   TEXT NOT NULL
);
CREATE INDEX consent_record_person ON consent_record (person_token, key_version);

-- Per person: the version of the consent set, and the version last produced to the compacted
-- `consent` topic (published_version < version: still to produce; the registry retries).
CREATE TABLE consent_person (
    person_token      TEXT NOT NULL,
    key_version       INTEGER NOT NULL,
    version           INTEGER NOT NULL,
    published_version INTEGER NOT NULL DEFAULT 0,
    changed_by        TEXT,
    updated_at        TEXT NOT NULL,
    PRIMARY KEY (person_token, key_version)
);

-- Status 'held' → 'released' | 'cancelling' (a sweep produced nothing yet) → 'cancelled'.
-- Requests held for want of a legal basis, one per referral (person, episode, service, recipient).
-- The outreach worklist reads the open ones: status 'held', oldest first, with their expiry.
CREATE TABLE consent_hold (
    referral_id    TEXT PRIMARY KEY,
    request_id     TEXT NOT NULL,
    person_token   TEXT NOT NULL,
    key_version    INTEGER NOT NULL,
    recipient_id   TEXT NOT NULL,
    recipient_kind TEXT NOT NULL,
    purpose        TEXT NOT NULL,
    service        TEXT NOT NULL,
    programme_id   TEXT,
    reasons        TEXT,
    request        TEXT NOT NULL,
    status         TEXT NOT NULL,
    held_at        TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    closed_at      TEXT,
    close_reason   TEXT,
    closed_by      TEXT  -- the message or sweep that closed it: a replay of it repeats its outputs
);
CREATE INDEX consent_hold_open ON consent_hold (status, expires_at);
CREATE INDEX consent_hold_person ON consent_hold (person_token, key_version, status);

-- Referrals sent on a consent basis: what a revocation or an expiry must cancel.
CREATE TABLE consent_use (
    referral_id  TEXT PRIMARY KEY,
    person_token TEXT NOT NULL,
    key_version  INTEGER NOT NULL,
    consent_id   TEXT NOT NULL,
    delivery     TEXT NOT NULL,
    status       TEXT NOT NULL,
    used_at      TEXT NOT NULL,
    closed_at    TEXT,
    closed_by    TEXT
);
CREATE INDEX consent_use_person ON consent_use (person_token, key_version, status);
