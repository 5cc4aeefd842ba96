#!/usr/bin/env bash
# usage: startup-probe.sh URL AUTH CMD...
# Starts CMD, polls URL every 5 ms until it answers 200, then kills CMD by its PID.
# Exits 0 only if a 200 came. hyperfine times the whole thing: start-up to first 200.
set -u
url=$1; auth=$2; shift 2
"$@" >/dev/null 2>&1 &
pid=$!
code=000
for _ in $(seq 4000); do
  code=$(curl -s -o /dev/null -w '%{http_code}' ${auth:+-H "Authorization: $auth"} "$url")
  [[ $code == 200 ]] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.005
done
kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
[[ $code == 200 ]]
