-- Events by status (GET /v1/events?status=cancelled), in id order for keyset pages: the
-- same index as PostgreSQL's migration 0006.
CREATE INDEX events_status_idx ON events (status, id);
