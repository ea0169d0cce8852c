-- 0010_outreach (PostgreSQL; the SQLite variant differs only in BLOB): the outreach team's contact attempts for a person on the worklist
-- (pipeline/outreach). One row per attempt; `subject` is the hold's referral id or the exhausted
-- request's id. outcome: reached | no-answer | left-message | wrong-number | not-found | declined | other.
CREATE TABLE contact_attempt (
    attempt_id   TEXT PRIMARY KEY,
    subject      TEXT NOT NULL,
    person_token TEXT NOT NULL,
    method       TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    note         TEXT,
    made_by      TEXT NOT NULL,
    made_at      TEXT NOT NULL
);
CREATE INDEX contact_attempt_subject ON contact_attempt (subject, made_at);

-- The signed artefact of a consent captured on the outreach page: an uploaded PDF or image, kept
-- with its SHA-256 (the Consent's artefact_ref is "sha256:<hex>"), who signed and in what capacity.
CREATE TABLE consent_artefact (
    sha256       TEXT PRIMARY KEY,
    consent_id   TEXT NOT NULL,
    content_type TEXT NOT NULL,
    body         BYTEA NOT NULL,
    signer       TEXT NOT NULL,
    capacity     TEXT NOT NULL,
    captured_by  TEXT NOT NULL,
    captured_at  TEXT NOT NULL
);
CREATE INDEX consent_artefact_consent ON consent_artefact (consent_id);
