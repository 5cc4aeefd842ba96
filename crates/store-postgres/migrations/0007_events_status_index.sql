-- Events by status (GET /v1/events?status=cancelled), in id order for keyset pages: a rare
-- status otherwise costs a read of the whole table.
-- Not CONCURRENTLY: sqlx's migrator holds an advisory lock for the database while it runs,
-- and a concurrent build waits for every older transaction, among them another instance's
-- (or a parallel test's) wait for that lock: a deadlock, which leaves an invalid index
-- behind. A plain build holds writes to events for as long as it takes (a fraction of a
-- second at 100,000 events; reads go on).
CREATE INDEX events_status_idx ON events (status, id);
