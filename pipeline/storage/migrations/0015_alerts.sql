-- 0015_alerts: which co-responder team was alerted for which CAD incident (pipeline/alerts.py).
-- One row per (incident, team): the same incident never alerts one team twice; later versions
-- of the incident update the row (`last_version`), and the call's close withdraws it.
-- state: sent | withdrawn.
CREATE TABLE dispatch_alert (
    dispatch_centre TEXT NOT NULL,
    incident_number TEXT NOT NULL,
    recipient_id    TEXT NOT NULL,
    first_version   INTEGER NOT NULL,
    last_version    INTEGER NOT NULL,
    state           TEXT NOT NULL,
    alerted_at      TEXT NOT NULL,
    PRIMARY KEY (dispatch_centre, incident_number, recipient_id)
);
