-- 0003_episode (sqlite): the episode stage's state. Keep in step with the other dialect.

-- The latest version of every source record, by incident: what the episode of an
-- incident is made of, and what a rendered referral may draw on. PHI at rest: kept
-- for the episode window plus the referral's life, then purged (retention by received_at).
CREATE TABLE episode_record (
    topic          TEXT NOT NULL,        -- catalogue name: ems.run, dispatch.incident, field.referral
    record_id      TEXT NOT NULL,
    version        BIGINT NOT NULL,
    event_id       TEXT NOT NULL,
    incident_key   TEXT,                 -- dispatch centre + '|' + incident number
    body           BLOB NOT NULL,          -- the record, Avro single-object encoded
    received_at    TEXT NOT NULL,
    PRIMARY KEY (topic, record_id)
);
CREATE INDEX episode_record_incident ON episode_record (incident_key);

-- A person's episodes: records of one person within the window share one episode.
CREATE TABLE person_episode (
    person_token   TEXT NOT NULL,
    episode_id     TEXT NOT NULL,
    first_seen     TEXT NOT NULL,        -- ISO-8601 UTC, event time
    last_seen      TEXT NOT NULL,
    PRIMARY KEY (person_token, episode_id)
);

-- The merged referral request per (person token, episode, service): its revision grows
-- when a later record in the window changes what the request says.
CREATE TABLE episode_request (
    request_id     TEXT PRIMARY KEY,
    person_token   TEXT NOT NULL,
    episode_id     TEXT NOT NULL,
    service        TEXT NOT NULL,
    revision       INTEGER NOT NULL,
    digest         TEXT NOT NULL,
    body           BLOB NOT NULL,          -- the merged Referral, Avro single-object encoded
    updated_at     TEXT NOT NULL
);
CREATE INDEX episode_request_person ON episode_request (person_token);
