-- Errors that browsers and apps report (POST /v1/client-errors), kept for the monitor.
-- Bounded by age and row count; the server purges on an interval.
CREATE TABLE client_reports (
    id          BLOB NOT NULL PRIMARY KEY,
    received_at TEXT NOT NULL,
    level       TEXT NOT NULL CHECK (level IN ('fatal', 'error', 'warning', 'info', 'debug')),
    message     TEXT NOT NULL,
    stack       TEXT,
    url         TEXT,
    user_agent  TEXT,
    release     TEXT,
    subject     TEXT NOT NULL,
    request_id  TEXT
) STRICT;
CREATE INDEX client_reports_received_at_idx ON client_reports (received_at);
