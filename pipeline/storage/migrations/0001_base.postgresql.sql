-- 0001_base (PostgreSQL): the general tables the stages share. Keep in step with 0001_base.sqlite.sql.

-- Audit records, append-only; the audit issue extends this table. The sink inserts with
-- ON CONFLICT (audit_id) DO NOTHING, so a replayed record is dropped.
CREATE TABLE audit_record (
    audit_id        TEXT PRIMARY KEY,
    kafka_partition INTEGER,             -- the audit topic partition and offset it was read from
    kafka_offset    BIGINT,
    kind            TEXT,
    recorded_at     TEXT,                -- ISO-8601 UTC, when the stage recorded it
    person_token    TEXT,
    referral_id     TEXT,
    body            BYTEA,               -- the Avro-encoded AuditEvent
    inserted_at     TEXT DEFAULT (to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
);

-- The provider inbox: what the inbox connector delivered, per recipient.
CREATE TABLE inbox_item (
    delivery_id  TEXT PRIMARY KEY,
    recipient_id TEXT NOT NULL,
    referral_id  TEXT NOT NULL,
    message_id   TEXT,
    content_type TEXT,
    payload      BYTEA,
    received_at  TEXT
);
CREATE INDEX inbox_item_recipient ON inbox_item (recipient_id);

-- The current state of each referral; track is its one writer. `revision` increases with
-- each change (optimistic concurrency: UPDATE ... WHERE revision = :seen).
CREATE TABLE referral_state (
    referral_id  TEXT PRIMARY KEY,
    state        TEXT NOT NULL,
    recipient_id TEXT,
    person_token TEXT,
    updated_at   TEXT,
    revision     INTEGER NOT NULL DEFAULT 1
);
