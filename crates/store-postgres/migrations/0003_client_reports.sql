-- Errors that browsers and apps report (POST /v1/client-errors), kept for the monitor.
-- Bounded by age and row count; the server purges on an interval.
CREATE TABLE client_reports (
    id          uuid PRIMARY KEY,
    received_at timestamptz NOT NULL,
    level       text NOT NULL CHECK (level IN ('fatal', 'error', 'warning', 'info', 'debug')),
    message     text NOT NULL,
    stack       text,
    url         text,
    user_agent  text,
    release     text,
    subject     text NOT NULL,
    request_id  text
);
CREATE INDEX client_reports_received_at_idx ON client_reports (received_at);
