-- Per-principal rate limits set by administrators (PUT /v1/admin/rate-limits/{subject}).
CREATE TABLE rate_limit_overrides (
    subject    text PRIMARY KEY,
    "limit"    bigint NOT NULL CHECK ("limit" > 0),
    period_ms  bigint NOT NULL CHECK (period_ms > 0),
    burst      bigint NOT NULL CHECK (burst > 0),
    updated_by text NOT NULL,
    updated_at timestamptz NOT NULL
);
