-- Muster's SQLite schema, version 1: the PostgreSQL schema in SQLite's dialect.
-- Migrations only ever expand (new tables, nullable columns, new indexes) so the release
-- before them keeps working during a rolling deploy; removals wait until no running
-- release reads the old shape.
--
-- Tables are STRICT so a value bound with the wrong type is refused instead of stored
-- under another affinity, where comparisons would silently stop matching.
-- ids are 16-byte BLOBs (sqlx's uuid encoding): memcmp order is UUIDv7 creation order,
-- which keyset pagination (ORDER BY id, id > ?) relies on.
-- Timestamps are TEXT in sqlx's chrono encoding (RFC 3339, always +00:00, shortest of
-- 0/3/6/9 fraction digits); with one offset and a canonical form, text order is time order.
-- JSON is TEXT, checked to be JSON.
-- Foreign keys keep SQLite's default action, which like PostgreSQL's refuses deleting a
-- referenced row; an explicit ON DELETE RESTRICT would report it as a trigger failure
-- (1811) instead of SQLITE_CONSTRAINT_FOREIGNKEY (787), the code the store maps.

CREATE TABLE candidates (
    id            BLOB NOT NULL PRIMARY KEY,
    name          TEXT NOT NULL,
    office        TEXT NOT NULL,
    district      TEXT,
    party         TEXT,
    election_date TEXT,
    status        TEXT NOT NULL CHECK (status IN ('active', 'withdrawn', 'won', 'lost')),
    website       TEXT,
    version       INTEGER NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
) STRICT;
CREATE INDEX candidates_updated_at_idx ON candidates (updated_at);

CREATE TABLE volunteers (
    id               BLOB NOT NULL PRIMARY KEY,
    first_name       TEXT NOT NULL,
    last_name        TEXT NOT NULL,
    email            TEXT NOT NULL,
    -- lower-cased email: uniqueness and lookups ignore case
    email_normalized TEXT NOT NULL,
    phone            TEXT,
    zip_code         TEXT,
    candidate_id     BLOB REFERENCES candidates (id),
    tags             TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(tags) AND json_type(tags) = 'array'),
    version          INTEGER NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX volunteers_email_key ON volunteers (email_normalized);
CREATE INDEX volunteers_candidate_id_idx ON volunteers (candidate_id);
CREATE INDEX volunteers_zip_code_idx ON volunteers (zip_code);
-- no GIN in SQLite: the tag filter scans json_each per row
CREATE INDEX volunteers_updated_at_idx ON volunteers (updated_at);

CREATE TABLE events (
    id           BLOB NOT NULL PRIMARY KEY,
    candidate_id BLOB NOT NULL REFERENCES candidates (id),
    title        TEXT NOT NULL,
    description  TEXT,
    event_type   TEXT NOT NULL CHECK (event_type IN ('canvass', 'phone_bank', 'text_bank', 'rally',
                                                     'fundraiser', 'meeting', 'training', 'other')),
    starts_at    TEXT NOT NULL,
    ends_at      TEXT NOT NULL,
    timezone     TEXT NOT NULL,
    location     TEXT CHECK (location IS NULL OR json_valid(location)),
    virtual_url  TEXT,
    capacity     INTEGER CHECK (capacity > 0),
    visibility   TEXT NOT NULL CHECK (visibility IN ('public', 'private')),
    status       TEXT NOT NULL CHECK (status IN ('scheduled', 'cancelled', 'completed')),
    version      INTEGER NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    CONSTRAINT events_window_check CHECK (ends_at > starts_at)
) STRICT;
CREATE INDEX events_candidate_id_idx ON events (candidate_id);
CREATE INDEX events_starts_at_idx ON events (starts_at);
CREATE INDEX events_updated_at_idx ON events (updated_at);

CREATE TABLE attendances (
    id            BLOB NOT NULL PRIMARY KEY,
    event_id      BLOB NOT NULL REFERENCES events (id),
    volunteer_id  BLOB NOT NULL REFERENCES volunteers (id),
    status        TEXT NOT NULL CHECK (status IN ('registered', 'waitlisted', 'cancelled', 'attended', 'no_show')),
    checked_in_at TEXT,
    version       INTEGER NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    CONSTRAINT attendances_event_volunteer_key UNIQUE (event_id, volunteer_id)
) STRICT;
CREATE INDEX attendances_volunteer_id_idx ON attendances (volunteer_id);
-- seat counting and "oldest waitlisted first"
CREATE INDEX attendances_event_status_idx ON attendances (event_id, status, updated_at);
CREATE INDEX attendances_updated_at_idx ON attendances (updated_at);

CREATE TABLE idempotency_keys (
    principal   TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    response    TEXT CHECK (response IS NULL OR json_valid(response)),
    created_at  TEXT NOT NULL,
    PRIMARY KEY (principal, key)
) STRICT;
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
