-- The audit trail of personal data (GET /v1/admin/audit): who changed a volunteer, and who
-- was shown contact details. The API folds requests into entries (one per caller, action,
-- route and query a second) and writes them off the request path; purged by age
-- (MUSTER_AUDIT_RETENTION).
CREATE TABLE audit_log (
    id            BLOB NOT NULL PRIMARY KEY,
    at            TEXT NOT NULL,
    last_at       TEXT NOT NULL,
    subject       TEXT NOT NULL,
    action        TEXT NOT NULL,
    route         TEXT NOT NULL,
    volunteer_ids TEXT NOT NULL,
    count         INTEGER NOT NULL,
    query         TEXT,
    request_ids   TEXT NOT NULL,  -- space-separated (request ids hold no spaces)
    build         TEXT NOT NULL
) STRICT;
CREATE INDEX audit_log_last_at_idx ON audit_log (last_at);
CREATE INDEX audit_log_subject_idx ON audit_log (subject, id);
