-- 0008_people (portable SQL: the same on SQLite and PostgreSQL): the local accounts of the people who
-- use the web service and the command line, and their server-side sessions (pipeline/people).

-- One row per person. `roles` is a comma-separated list (pipeline/people/roles.py); a provider is
-- bound to one organisation (its recipient id in the directory). `password_hash` is an argon2id
-- PHC string; `totp_secret` is set when the account uses a second factor, `totp_last_step` is the
-- last time step accepted (a code is never accepted twice). After repeated failures the account is
-- locked until `locked_until`.
CREATE TABLE person_account (
    username        TEXT PRIMARY KEY,
    display_name    TEXT NOT NULL,
    roles           TEXT NOT NULL,
    organisation_id TEXT,
    password_hash   TEXT NOT NULL,
    totp_secret     TEXT,
    totp_last_step  BIGINT,
    disabled        INTEGER NOT NULL DEFAULT 0,
    failed_count    INTEGER NOT NULL DEFAULT 0,
    locked_until    TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

-- Server-side sessions: the cookie carries a random token, the table only its SHA-256, so a copy
-- of the database opens no session. `csrf_token` is the session's synchroniser token for forms.
CREATE TABLE person_session (
    token_hash   TEXT PRIMARY KEY,
    username     TEXT NOT NULL REFERENCES person_account (username),
    csrf_token   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    closed_at    TEXT
);
CREATE INDEX person_session_user ON person_session (username);
