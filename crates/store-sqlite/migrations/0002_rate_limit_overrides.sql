-- Per-principal rate limits set by administrators (PUT /v1/admin/rate-limits/{subject}).
CREATE TABLE rate_limit_overrides (
    subject    TEXT PRIMARY KEY,
    "limit"    INTEGER NOT NULL CHECK ("limit" > 0),
    period_ms  INTEGER NOT NULL CHECK (period_ms > 0),
    burst      INTEGER NOT NULL CHECK (burst > 0),
    updated_by TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
