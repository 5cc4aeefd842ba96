-- The audit trail of personal data (GET /v1/admin/audit): who changed a volunteer, and who
-- was shown contact details. Written in batches off the request path; purged by age
-- (MUSTER_AUDIT_RETENTION).
CREATE TABLE audit_log (
    id            BLOB NOT NULL PRIMARY KEY,
    at            TEXT NOT NULL,
    subject       TEXT NOT NULL,
    action        TEXT NOT NULL,
    route         TEXT NOT NULL,
    volunteer_ids TEXT NOT NULL,
    count         INTEGER NOT NULL,
    query         TEXT,
    request_id    TEXT,
    build         TEXT NOT NULL
) STRICT;
CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_subject_idx ON audit_log (subject, id);
-- which entries name a volunteer (?volunteer_id=)
CREATE TABLE audit_volunteers (
    volunteer_id BLOB NOT NULL,
    audit_id     BLOB NOT NULL,
    PRIMARY KEY (volunteer_id, audit_id)
) STRICT;
CREATE INDEX audit_volunteers_audit_idx ON audit_volunteers (audit_id);
