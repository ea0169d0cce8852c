-- A held referral keeps the routing rules and directory versions that chose its recipient: the
-- decision that releases it later is stamped with them (issue 24: versions on the outputs they shape).
ALTER TABLE consent_hold ADD COLUMN routing_version TEXT;
ALTER TABLE consent_hold ADD COLUMN directory_version TEXT;
