-- A provider's report on a referral that track has not seen yet: its answer overtook the deliver
-- stage's own `requested` status (delayed by a crash, a full disk, a backlog). The edge already
-- acknowledged it, so it waits here and is applied right after the referral's first status.
CREATE TABLE referral_status_parked (
    event_id    TEXT PRIMARY KEY,
    referral_id TEXT NOT NULL,
    body        TEXT NOT NULL,
    parked_at   TEXT NOT NULL
);
CREATE INDEX referral_status_parked_referral ON referral_status_parked (referral_id);
