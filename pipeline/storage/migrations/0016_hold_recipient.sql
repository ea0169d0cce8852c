-- A held request is decided again when the person's consents change: keep every recipient
-- type the first decision used (a Part 2 programme, a co-responder team), not only its kind.
ALTER TABLE consent_hold ADD COLUMN recipient_part2 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE consent_hold ADD COLUMN recipient_co_responder INTEGER NOT NULL DEFAULT 0;
