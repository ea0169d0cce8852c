-- 0011_report (portable SQL): programme reports and the overdose surveillance feed (issue 26).
-- De-identified facts only: no names, dates of birth, addresses or person tokens. Kept past the
-- episode window (reports cover past months); nothing here points back to a person.

-- One row per recognised call (an incident: its CAD record and its EMS runs share one row).
-- categories: comma-separated; pathway: ems-led | fire-led | police-led | self | dispatch-only.
CREATE TABLE report_call (
    call_id     TEXT PRIMARY KEY,   -- a digest of the incident key
    occurred_at TEXT NOT NULL,      -- ISO-8601 UTC
    month       TEXT NOT NULL,      -- YYYY-MM
    area        TEXT NOT NULL,
    pathway     TEXT NOT NULL,
    categories  TEXT NOT NULL,
    fatal       INTEGER NOT NULL
);
CREATE INDEX report_call_month ON report_call (month, area);

-- One row per referral request: its pathway and area, for the closed loop's referral_state rows.
CREATE TABLE report_request (
    request_id  TEXT PRIMARY KEY,
    month       TEXT NOT NULL,
    area        TEXT NOT NULL,
    pathway     TEXT NOT NULL
);

-- The overdose surveillance feed (ODMAP's fields), as produced to surveillance.overdose.
CREATE TABLE surveillance_overdose (
    report_id      TEXT PRIMARY KEY,
    occurred_at    TEXT NOT NULL,   -- to the hour
    area           TEXT NOT NULL,
    grid_cell      TEXT NOT NULL,
    latitude       REAL,            -- the grid cell's centre
    longitude      REAL,
    fatal          INTEGER NOT NULL,
    naloxone_given INTEGER NOT NULL,
    naloxone_doses INTEGER NOT NULL,
    opioid         INTEGER NOT NULL,
    body           TEXT NOT NULL    -- the record as JSON
);
CREATE INDEX surveillance_overdose_area ON surveillance_overdose (area, occurred_at);

-- Spike alerts: an area's 24-hour count over its threshold, once per area and window start hour.
CREATE TABLE surveillance_spike (
    area        TEXT NOT NULL,
    window_end  TEXT NOT NULL,
    count       INTEGER NOT NULL,
    threshold   INTEGER NOT NULL,
    raised_at   TEXT NOT NULL,
    notified_at TEXT,
    PRIMARY KEY (area, window_end)
);
