-- Muster's PostgreSQL schema, version 1.
-- Migrations only ever expand (new tables, nullable columns, indexes built CONCURRENTLY in
-- their own migration) so the release before them keeps working during a rolling deploy;
-- removals wait until no running release reads the old shape.

CREATE TABLE candidates (
    id            uuid PRIMARY KEY,
    name          text NOT NULL,
    office        text NOT NULL,
    district      text,
    party         text,
    election_date date,
    status        text NOT NULL CHECK (status IN ('active', 'withdrawn', 'won', 'lost')),
    website       text,
    version       bigint NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE INDEX candidates_updated_at_idx ON candidates (updated_at);

CREATE TABLE volunteers (
    id               uuid PRIMARY KEY,
    first_name       text NOT NULL,
    last_name        text NOT NULL,
    email            text NOT NULL,
    -- lower-cased email: uniqueness and lookups ignore case
    email_normalized text NOT NULL,
    phone            text,
    zip_code         text,
    candidate_id     uuid CONSTRAINT volunteers_candidate_id_fkey REFERENCES candidates (id),
    tags             jsonb NOT NULL DEFAULT '[]',
    version          bigint NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE UNIQUE INDEX volunteers_email_key ON volunteers (email_normalized);
CREATE INDEX volunteers_candidate_id_idx ON volunteers (candidate_id);
CREATE INDEX volunteers_zip_code_idx ON volunteers (zip_code);
CREATE INDEX volunteers_tags_idx ON volunteers USING gin (tags);
CREATE INDEX volunteers_updated_at_idx ON volunteers (updated_at);

CREATE TABLE events (
    id           uuid PRIMARY KEY,
    candidate_id uuid NOT NULL CONSTRAINT events_candidate_id_fkey REFERENCES candidates (id),
    title        text NOT NULL,
    description  text,
    event_type   text NOT NULL CHECK (event_type IN ('canvass', 'phone_bank', 'text_bank', 'rally',
                                                     'fundraiser', 'meeting', 'training', 'other')),
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL,
    timezone     text NOT NULL,
    location     jsonb,
    virtual_url  text,
    capacity     integer CHECK (capacity > 0),
    visibility   text NOT NULL CHECK (visibility IN ('public', 'private')),
    status       text NOT NULL CHECK (status IN ('scheduled', 'cancelled', 'completed')),
    version      bigint NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    CONSTRAINT events_window_check CHECK (ends_at > starts_at)
);
CREATE INDEX events_candidate_id_idx ON events (candidate_id);
CREATE INDEX events_starts_at_idx ON events (starts_at);
CREATE INDEX events_updated_at_idx ON events (updated_at);

CREATE TABLE attendances (
    id            uuid PRIMARY KEY,
    event_id      uuid NOT NULL CONSTRAINT attendances_event_id_fkey REFERENCES events (id),
    volunteer_id  uuid NOT NULL CONSTRAINT attendances_volunteer_id_fkey REFERENCES volunteers (id),
    status        text NOT NULL CHECK (status IN ('registered', 'waitlisted', 'cancelled', 'attended', 'no_show')),
    checked_in_at timestamptz,
    version       bigint NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    CONSTRAINT attendances_event_volunteer_key UNIQUE (event_id, volunteer_id)
);
CREATE INDEX attendances_volunteer_id_idx ON attendances (volunteer_id);
-- seat counting and "oldest waitlisted first"
CREATE INDEX attendances_event_status_idx ON attendances (event_id, status, updated_at);
CREATE INDEX attendances_updated_at_idx ON attendances (updated_at);

CREATE TABLE idempotency_keys (
    principal   text NOT NULL,
    key         text NOT NULL,
    fingerprint text NOT NULL,
    response    jsonb,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (principal, key)
);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
