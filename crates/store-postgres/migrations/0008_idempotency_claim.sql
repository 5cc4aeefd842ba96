-- Each attempt at an Idempotency-Key claims it with a token of its own: releasing the claim
-- and recording what the request wrote only act while the row still holds that token, so a
-- request that outlived its claim can neither release its successor's claim nor write twice.
-- Nullable, so the release before this one (which claims without a token) keeps working.
ALTER TABLE idempotency_keys ADD COLUMN claim uuid;
