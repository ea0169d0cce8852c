-- The content each referral was first rendered with (its create). Any other content for that
-- referral is rendered as an update, even when the create has not settled yet: two requests of a
-- merged episode rendered seconds apart once went to the recipient as two creates.
CREATE TABLE referral_first_render (
    referral_id    TEXT PRIMARY KEY,
    content_digest TEXT NOT NULL,
    rendered_at    TEXT NOT NULL
);
