-- Each attempt at an Idempotency-Key claims it with a token of its own (PostgreSQL's
-- migration 0008 says why). Nullable, so the release before this one keeps working.
ALTER TABLE idempotency_keys ADD COLUMN claim BLOB;
