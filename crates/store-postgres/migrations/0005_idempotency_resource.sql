-- What a request with an Idempotency-Key wrote, recorded in the write's own transaction:
-- a retry after a lost response replays it instead of writing again. Nullable, so the
-- release before this one keeps working.
ALTER TABLE idempotency_keys ADD COLUMN resource text;
