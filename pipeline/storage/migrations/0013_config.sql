-- 0013_config (portable SQL): versions of the detection rules, routing rules, provider directory and
-- consent policy installed with `handoff config apply` (pipeline/config). The highest `seq` of a
-- kind is the version in force; every worker polls for it and switches at a batch boundary.
-- `files` is the JSON object {relative path: text} of every file the version is made of, exactly
-- as validated; `version` is the loader's own version string, the one stamped on outputs.
CREATE TABLE config_version (
    kind         TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    version      TEXT NOT NULL,
    digest       TEXT NOT NULL,
    entry        TEXT NOT NULL,
    files        TEXT NOT NULL,
    installed_at TEXT NOT NULL,
    installed_by TEXT NOT NULL,
    proposal_id  TEXT,
    PRIMARY KEY (kind, seq)
);

-- A dry run's candidate and its shadow-replay report (`handoff config apply --dry-run`), for an
-- admin to review on /admin/config and apply from there. state: proposed | applied | superseded.
CREATE TABLE config_proposal (
    proposal_id  TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    version      TEXT NOT NULL,
    digest       TEXT NOT NULL,
    entry        TEXT NOT NULL,
    files        TEXT NOT NULL,
    base_version TEXT NOT NULL,
    report       TEXT NOT NULL,
    proposed_at  TEXT NOT NULL,
    proposed_by  TEXT NOT NULL,
    state        TEXT NOT NULL,
    applied_seq  INTEGER
);
