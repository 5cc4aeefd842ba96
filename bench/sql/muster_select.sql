-- pgbench on Muster's own schema: one volunteer by primary key (a random one of the ids
-- exported to bench.ids; the extra probe of that small table is part of the cost)
\set n random(1, :nids)
SELECT v.* FROM volunteers v WHERE v.id = (SELECT id FROM bench.ids WHERE n = :n);
