-- Feature flags (PUT /v1/admin/flags/{key}) and the audit trail of every change to them.
-- Flags are few and read whole into memory by each instance; lists and variants are JSON.
CREATE TABLE flags (
    key                TEXT NOT NULL PRIMARY KEY,
    description        TEXT,
    enabled            INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    -- hundredths of a percent: 2500 is 25 %
    rollout_hundredths INTEGER NOT NULL CHECK (rollout_hundredths BETWEEN 0 AND 10000),
    allow_list         TEXT NOT NULL DEFAULT '[]',
    deny_list          TEXT NOT NULL DEFAULT '[]',
    variants           TEXT NOT NULL DEFAULT '[]',
    off_variant        TEXT,
    version            INTEGER NOT NULL CHECK (version > 0),
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    updated_by         TEXT NOT NULL
) STRICT;

-- Kept after a flag is deleted: no foreign key to flags.
CREATE TABLE flag_changes (
    id       BLOB NOT NULL PRIMARY KEY,
    flag_key TEXT NOT NULL,
    action   TEXT NOT NULL CHECK (action IN ('created', 'replaced', 'updated', 'deleted')),
    actor    TEXT NOT NULL,
    at       TEXT NOT NULL,
    before   TEXT,
    after    TEXT
) STRICT;
CREATE INDEX flag_changes_flag_key_idx ON flag_changes (flag_key, id);
