-- pgbench on Muster's own schema: insert one volunteer as `POST /v1/volunteers` does (all
-- of Muster's indexes, a time-ordered id like its UUIDv7, a unique e-mail)
\set c random(1, :ncand)
INSERT INTO volunteers (id, first_name, last_name, email, email_normalized, phone, zip_code,
                        candidate_id, tags, version, created_at, updated_at)
SELECT overlay(overlay(md5(random()::text) PLACING lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') FROM 1 FOR 12) PLACING '7' FROM 13 FOR 1)::uuid,
       'Bench', 'Pgbench', e, lower(e), '+16175550100', '02139',
       (SELECT id FROM bench.candidates WHERE n = :c), '["canvasser"]', 1, now(), now()
FROM (SELECT 'pgb-' || nextval('bench.email_seq') || '@example.org' AS e) s;
