-- The audit trail of personal data (GET /v1/admin/audit): who changed a volunteer, and who
-- was shown contact details. The API folds requests into entries (one per caller, action,
-- route and query a second) and writes them off the request path; purged by age
-- (MUSTER_AUDIT_RETENTION).
CREATE TABLE audit_log (
    id            uuid PRIMARY KEY,
    at            timestamptz NOT NULL,
    last_at       timestamptz NOT NULL,
    subject       text NOT NULL,
    action        text NOT NULL,
    route         text NOT NULL,
    volunteer_ids jsonb NOT NULL,
    count         bigint NOT NULL,
    query         text,
    request_ids   text NOT NULL,  -- space-separated (request ids hold no spaces)
    build         text NOT NULL
);
CREATE INDEX audit_log_last_at_idx ON audit_log (last_at);
CREATE INDEX audit_log_subject_idx ON audit_log (subject, id);
-- ?volunteer_id=: entries whose volunteer_ids hold it
CREATE INDEX audit_log_volunteers_idx ON audit_log USING gin (volunteer_ids jsonb_path_ops);
