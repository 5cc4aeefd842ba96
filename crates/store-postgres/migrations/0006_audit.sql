-- The audit trail of personal data (GET /v1/admin/audit): who changed a volunteer, and who
-- was shown contact details. Written in batches off the request path; purged by age
-- (MUSTER_AUDIT_RETENTION).
CREATE TABLE audit_log (
    id            uuid PRIMARY KEY,
    at            timestamptz NOT NULL,
    subject       text NOT NULL,
    action        text NOT NULL,
    route         text NOT NULL,
    volunteer_ids jsonb NOT NULL,
    count         bigint NOT NULL,
    query         text,
    request_id    text,
    build         text NOT NULL
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_subject_idx ON audit_log (subject, id);
-- which entries name a volunteer (?volunteer_id=)
CREATE TABLE audit_volunteers (
    volunteer_id uuid NOT NULL,
    audit_id     uuid NOT NULL,
    PRIMARY KEY (volunteer_id, audit_id)
);
CREATE INDEX audit_volunteers_audit_idx ON audit_volunteers (audit_id);
