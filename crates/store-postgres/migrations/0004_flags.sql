-- Feature flags (PUT /v1/admin/flags/{key}) and the audit trail of every change to them.
-- Flags are few and read whole into memory by each instance; lists and variants are JSON.
CREATE TABLE flags (
    key                text PRIMARY KEY,
    description        text,
    enabled            boolean NOT NULL,
    -- hundredths of a percent: 2500 is 25 %
    rollout_hundredths integer NOT NULL CHECK (rollout_hundredths BETWEEN 0 AND 10000),
    allow_list         jsonb NOT NULL DEFAULT '[]',
    deny_list          jsonb NOT NULL DEFAULT '[]',
    variants           jsonb NOT NULL DEFAULT '[]',
    off_variant        text,
    version            bigint NOT NULL CHECK (version > 0),
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    updated_by         text NOT NULL
);

-- Kept after a flag is deleted: no foreign key to flags.
CREATE TABLE flag_changes (
    id       uuid PRIMARY KEY,
    flag_key text NOT NULL,
    action   text NOT NULL CHECK (action IN ('created', 'replaced', 'updated', 'deleted')),
    actor    text NOT NULL,
    at       timestamptz NOT NULL,
    before   jsonb,
    after    jsonb
);
CREATE INDEX flag_changes_flag_key_idx ON flag_changes (flag_key, id);
