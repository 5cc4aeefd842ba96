-- pgbench on Muster's own schema: the first page of 20 volunteers in one ZIP code, id order
\set z random(1, 6)
SELECT * FROM volunteers
WHERE zip_code = (ARRAY['02139','60614','80205','94612','30310','78702'])[:z]
ORDER BY id LIMIT 21;
