#!/usr/bin/env python3
"""Parsing and reporting for bench/run (standard library only).

  report.py wrk FILE key=value...        one JSON line from a wrk --latency output
  report.py pgbench FILE key=value...    one JSON line from a pgbench output
  report.py hyperfine FILE key=value...  one JSON line per command in a hyperfine JSON export
  report.py md DIR                       DIR/results.md (and the same on stdout) from DIR/results.jsonl

`key=value` adds a field (numbers are parsed as numbers); `key:=JSON` adds a JSON value.
"""
import json
import os
import re
import sys


def extras(args):
    out = {}
    for a in args:
        if ":=" in a:
            k, v = a.split(":=", 1)
            out[k] = json.loads(v)
            continue
        k, v = a.split("=", 1)
        for conv in (int, float):
            try:
                v = conv(v)
                break
            except ValueError:
                pass
        out[k] = v
    return out


def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", v)
    return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[m.group(2)]


def parse_wrk(path, extra):
    txt = open(path).read() if os.path.exists(path) else ""
    pct = {p: ms(v) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", txt, re.M)}
    rps = re.search(r"Requests/sec:\s+([\d.]+)", txt)
    tot = re.search(r"(\d+) requests in ([\d.]+)(\w+)", txt)
    non2 = re.search(r"Non-2xx or 3xx responses: (\d+)", txt)
    se = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", txt)
    row = {"kind": "wrk", "rps": float(rps.group(1)) if rps else 0.0,
           "requests": int(tot.group(1)) if tot else 0,
           "duration_s": ms(tot.group(2) + tot.group(3)) / 1000 if tot else None,
           "p50_ms": pct.get("50"), "p90_ms": pct.get("90"), "p99_ms": pct.get("99"),
           "non2xx": int(non2.group(1)) if non2 else 0,
           "sock_errors": sum(map(int, se.groups())) if se else 0}
    row.update(extra)
    max_err = float(row.pop("max_err_pct", 1.0))
    if row.get("status") is None:
        bad = row["non2xx"] + row["sock_errors"]
        if row["requests"] == 0:
            row["status"] = "FAILED"
            row["reason"] = "no request completed"
        elif bad * 100.0 / row["requests"] > max_err:
            row["status"] = "FAILED"
            row["reason"] = f"{bad} of {row['requests']} requests failed (non-2xx or socket error), over {max_err}%"
        else:
            row["status"] = "ok"
    if row.get("rows_created") is not None and row.get("duration_s"):
        row["rows_per_s"] = row["rows_created"] / row["duration_s"]
    if row.get("sent_rows") and row.get("rows_settled") is not None and row["status"] == "ok":
        # rows sent minus rows stored, beyond what requests in flight at the end and failed
        # requests account for: writes that were answered 2xx and are not in the database
        missing = row["sent_rows"] - row["rows_settled"]
        unexplained = missing - row.get("in_flight_rows", 0) - row["non2xx"] * row.get("batch_size", 1)
        row["rows_missing"] = missing
        if unexplained > 0:
            row["status"] = "LOST-WRITES"
            row["reason"] = (f"the script sent {row['sent_rows']} rows, the database gained {row['rows_settled']}: "
                             f"{unexplained} more are missing than the {row.get('in_flight_rows', 0)} of requests "
                             f"in flight at the end and the {row['non2xx']} non-2xx answers can explain")
    return row


def parse_pgbench(path, extra):
    txt = open(path).read() if os.path.exists(path) else ""
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", txt)
    lat = re.search(r"latency average = ([\d.]+) ms", txt)
    fail = re.search(r"number of failed transactions: (\d+)", txt)
    row = {"kind": "pgbench", "target": "pgbench", "tps": float(tps.group(1)) if tps else 0.0,
           "lat_avg_ms": float(lat.group(1)) if lat else None, "failed": int(fail.group(1)) if fail else 0}
    row.update(extra)
    return row


def parse_hyperfine(path, extra):
    rows = []
    for r in json.load(open(path))["results"]:
        row = {"kind": "startup", "target": r["command"], "mean_s": r["mean"], "stddev_s": r["stddev"],
               "min_s": r["min"], "max_s": r["max"]}
        row.update(extra)
        rows.append(row)
    return rows


# ---------------------------------------------------------------- Markdown report
# the pgbench scripts doing the same database work as each HTTP scenario
PEER_SCENARIO = {"get-id-warm": "get-by-id", "get-id-nocache": "get-by-id", "get-id-redis": "get-by-id",
                 "list-20": "list-20", "list-20-nocache": "list-20", "post-create": "post-create",
                 "get-by-id": "get-by-id", "hello": None}
PGB_PEERS = {"get-by-id": "select-pk-c8-prepared", "list-20": "list20-c8-prepared", "post-create": "insert-c8-prepared"}
PGB_MUSTER = {"get-by-id": "muster-select-pk-c8-prepared", "list-20": "muster-list20-zip-c8-prepared",
              "post-create": "muster-insert-best"}


def f(x, n=2, suffix=""):
    return "-" if x is None else f"{x:.{n}f}{suffix}"


def ratio(a, b, pct=True):
    if not a or not b:
        return None
    return a / b * 100 if pct else a / b


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return None if not n else xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def md(d):
    rows = [json.loads(line) for line in open(f"{d}/results.jsonl") if line.strip()]
    wrk = [r for r in rows if r["kind"] == "wrk"]
    for r in wrk:  # peers.sh rows carry no status: judge them by the same rule
        if "status" not in r:
            bad = r.get("non2xx", 0) + r.get("sock_errors", 0)
            if not r.get("requests") or bad * 100.0 / r["requests"] > 1.0:
                r["status"] = "FAILED"
                r["reason"] = f"{bad} of {r.get('requests', 0)} requests failed (non-2xx or socket error)"
            else:
                r["status"] = "ok"
    rounds = sorted({r.get("round", 1) for r in rows if r["kind"] in ("wrk", "pgbench")}) or [1]
    multi = len(rounds) > 1
    srv = [r for r in rows if r["kind"] == "server"]
    after = {r["target"]: r for r in rows if r["kind"] == "server-after"}
    info = next((r for r in rows if r["kind"] == "info"), {})
    st = [r for r in rows if r["kind"] == "startup"]

    class Round:  # the measurements of one round: ratios only ever pair rows of the same round
        def __init__(self, rnd):
            self.rnd = rnd
            self.wrk = [r for r in wrk if r.get("round", 1) == rnd]
            self.pgb = {r["scenario"]: r for r in rows if r["kind"] == "pgbench" and r.get("round", 1) == rnd}
            best = max((r for k, r in self.pgb.items() if k.startswith("muster-insert-")),
                       key=lambda r: r["tps"], default=None)
            self.pgb_best = {"muster-insert-best": best} if best else {}
            hello = self.find("hello", "hello")
            self.hello_rps = hello and hello["rps"]
            self.plat = {s: self.find("platformatic", s) for s in ("get-by-id", "list-20", "post-create")}

        def find(self, target, scen):
            return next((r for r in self.wrk if r.get("target") == target and r.get("scenario") == scen
                         and r.get("status", "ok") == "ok"), None)

    by_round = {rnd: Round(rnd) for rnd in rounds}
    out = []
    p = out.append
    p(f"# Muster benchmark, {info.get('date_utc', '?')}\n")
    p(f"Muster {info.get('muster_version', '?')}; wrk -t{info.get('threads')} -c{info.get('conn')} "
      f"-d{info.get('dur')}s after a {info.get('warm')}s warm-up; {info.get('machine', '')}; "
      f"data: {info.get('data', '?')}.\n")
    for n in info.get("notes", []):
        p(f"- {n}")
    if info.get("notes"):
        p("")

    p("## Throughput and latency\n")
    p("Ratios are same-run" + (" and same-round" if multi else "") + ": `vs hello` = req/s ÷ the bare axum hello "
      "server; `vs pgbench` = req/s ÷ the pgbench script doing the same database work (prepared, 8 clients; for the "
      "insert on Muster's schema the better of 8 and 16 = its pool size; peers' schema / Muster's own schema); "
      "`vs Platformatic` = req/s ÷ Platformatic DB on the same scenario.\n")
    rcol = "round | " if multi else ""
    p(f"| {rcol}target | scenario | status | req/s | rows/s | p50 ms | p99 ms | non-2xx | sock err | RSS idle MiB | "
      "RSS max MiB | vs hello | vs pgbench (peers) | vs pgbench (Muster schema) | vs Platformatic |")
    p("|" + "---|" * (3 + multi) + "---:|" * 12)
    srv_idle = {(r["target"], r.get("instance"), r.get("round", 1)): r.get("rss_idle_kb") for r in srv}
    for r in wrk:
        t, s = r["target"], r["scenario"]
        rd = by_round[r.get("round", 1)]
        rc = f"{rd.rnd} | " if multi else ""
        peer_s = PEER_SCENARIO.get(s, s)
        if r.get("status") == "not-run":
            p(f"| {rc}{t} | {s} | **NOT RUN** | - | - | - | - | - | - | - | - | - | - | - | - |")
            continue
        rps = r["rps"] if r.get("status", "ok") == "ok" else None
        idle = srv_idle.get((t, r.get("instance"), rd.rnd))
        rss_max = r.get("rss_max_kb")
        pg_peers = rd.pgb.get(PGB_PEERS.get(peer_s, ""), {}).get("tps")
        pg_muster = {**rd.pgb, **rd.pgb_best}.get(PGB_MUSTER.get(peer_s, ""), {}).get("tps")
        pl = rd.plat.get(peer_s)
        status = r.get("status", "ok")
        status = "ok" if status == "ok" else f"**{status}**"
        p(f"| {rc}{t} | {s} | {status} | {r['rps']:.0f} | {f(r.get('rows_per_s'), 0)} | {f(r.get('p50_ms'))} | "
          f"{f(r.get('p99_ms'))} | {r['non2xx']} | {r['sock_errors']} | {f(idle and idle / 1024, 0)} | "
          f"{f(rss_max and rss_max / 1024, 0)} | {f(ratio(rps, rd.hello_rps), 1, '%')} | "
          f"{f(ratio(rps, pg_peers), 1, '%') if t != 'hello' else '-'} | "
          f"{f(ratio(rps, pg_muster), 1, '%') if t == 'muster' else '-'} | "
          f"{f(ratio(rps, pl and pl['rps'], pct=False), 2, '×') if t != 'platformatic' and pl else '-'} |")
    p("")
    failed = [r for r in wrk if r.get("status", "ok") != "ok"]
    if failed:
        p("Scenarios without a valid measurement (their numbers are not comparable):\n")
        for r in failed:
            extra = ""
            if r.get("status_tally"):
                extra = f"; status codes seen: {json.dumps(r['status_tally'])}"
            if r.get("sample_status"):
                extra += f"; sample request answered {r['sample_status']}"
            p(f"- {r['target']} {r['scenario']}: {r.get('status')}: {r.get('reason', '')}{extra}")
        p("")

    checks = [r for r in rows if r["kind"] == "check"]
    if checks:
        p("## Do 2xx writes land? (200 sequential POSTs after each server's load)\n")
        p(f"| {rcol}server | answered 201 | rows stored | pool connections idle in transaction | result |")
        p("|" + "---|" * (1 + multi) + "---:|---:|---:|---|")
        for r in checks:
            res = "ok" if r["rows_gained"] == r["answered_201"] == r["posts"] else "**WRITES LOST**"
            rc = f"{r.get('round', 1)} | " if multi else ""
            p(f"| {rc}muster {r['instance']} | {r['answered_201']}/{r['posts']} | {r['rows_gained']} | "
              f"{r['idle_in_transaction']} | {res} |")
        p("")

    pgb_rows = [r for r in rows if r["kind"] == "pgbench"]
    if pgb_rows:
        p("## pgbench (the database limit)\n")
        p(f"| {rcol}script | database | protocol | clients | tps | avg latency ms | failed |")
        p("|" + "---|" * (3 + multi) + "---:|" * 4)
        for r in pgb_rows:
            rc = f"{r.get('round', 1)} | " if multi else ""
            p(f"| {rc}{r['scenario']} | {r.get('database', 'peers')} | {r.get('mode')} | {r.get('clients')} | "
              f"{r['tps']:.0f} | {f(r.get('lat_avg_ms'), 3)} | {r.get('failed')} |")
        p("")

    if srv or st:
        p("## Start-up and memory\n")
    if st:
        p("Start-up to first 200, hyperfine (process start → first HTTP 200 on a real read → kill). "
          "Muster's probe polls every 5 ms; the peers' probe (peers.sh) every 20 ms.\n")
        p("| server | runs | mean ms | stddev ms | min ms | max ms |")
        p("|---|---:|---:|---:|---:|---:|")
        for r in st:
            p(f"| {r['target']} | {r.get('runs', 5)} | {r['mean_s'] * 1000:.0f} | {r['stddev_s'] * 1000:.0f} | "
              f"{r['min_s'] * 1000:.0f} | {r['max_s'] * 1000:.0f} |")
        p("")
    if srv:
        p(f"| {rcol}server | instance | start-up to first 200 ms (timed loop) | RSS idle MiB | RSS max under load MiB | "
          "VmHWM MiB | RSS after MiB |")
        p("|" + "---|" * (2 + multi) + "---:|" * 5)
        for r in srv:
            a = after.get(r["target"], {}) if r["target"] != "muster" else r
            inst = r.get("instance", "-")
            mx = max([w.get("rss_max_kb") or 0 for w in wrk if w["target"] == r["target"]
                      and w.get("instance") == r.get("instance") and w.get("round", 1) == r.get("round", 1)] or [0])
            rc = f"{r.get('round', 1)} | " if multi else ""
            p(f"| {rc}{r['target']} | {inst} | {r['startup_s'] * 1000:.0f} | {r['rss_idle_kb'] / 1024:.0f} | "
              f"{f(mx and mx / 1024, 0)} | {f(r.get('vmhwm_kb') and r['vmhwm_kb'] / 1024, 0)} | "
              f"{f(a.get('rss_after_kb') and a['rss_after_kb'] / 1024, 0)} |")
        p("")

    # ------------------------------------------------------------ targets
    def measures(rd):  # each target's value in one round (None: not measured there)
        warm = rd.find("muster", "get-id-warm")
        off = rd.find("muster", "get-id-nocache")
        lst = rd.find("muster", "list-20")
        lst_off = rd.find("muster", "list-20-nocache")
        cre = rd.find("muster", "post-create")
        bat = rd.find("muster", "batch-create")
        plat_rps = {k: v and v["rps"] for k, v in rd.plat.items()}
        ins = [rd.pgb.get(k, {}).get("tps") for k in ("muster-insert-c8-prepared", "muster-insert-c16-prepared")]
        ins = max([x for x in ins if x] or [0]) or None
        m_rss = [w.get("rss_max_kb") for w in rd.wrk if w["target"] == "muster" and w.get("rss_max_kb")]
        # the batch scenario holds CONN batches of BATCH_SIZE rows at once: show the others apart
        m_rss1 = [w.get("rss_max_kb") for w in rd.wrk if w["target"] == "muster" and w.get("rss_max_kb")
                  and w["scenario"] != "batch-create"]  # batch-create runs last on its server
        return {
            "warm": ratio(warm and warm["rps"], rd.hello_rps),
            "off": ratio(off and off["rps"], plat_rps["get-by-id"], False),
            "off_p99": off and off.get("p99_ms"),
            "list": ratio(lst and lst["rps"], plat_rps["list-20"], False),
            "list_off": ratio(lst_off and lst_off["rps"], plat_rps["list-20"], False),
            "create": ratio(cre and cre["rps"], ins),
            "create_peers": ratio(cre and cre["rps"], rd.pgb.get("insert-c8-prepared", {}).get("tps")),
            "batch": bat and bat.get("rows_per_s"),
            "rss": max(m_rss) / 1024 if m_rss else None,
            "rss1": max(m_rss1) / 1024 if m_rss1 else None,
        }

    per_round = [measures(by_round[rnd]) for rnd in rounds]
    p("## Targets (issue: wrk -t2 -c64, same run)\n")
    if multi:
        p(f"{len(rounds)} rounds, alternating which side runs first (odd rounds Muster first, even rounds the "
          "baselines and peers first), so a drift in the machine's speed does not favour one side. Each ratio pairs "
          "rows of one round; the value is the median of the rounds, the rounds' values follow.\n")
        p("| target | measured (median) | rounds | needed | result |")
        p("|---|---:|---|---:|---|")
    else:
        p("| target | measured | needed | result |")
        p("|---|---:|---:|---|")
    verdicts = []

    def why(scen):  # why a Muster scenario has no valid number
        r = next((r for r in wrk if r["target"] == "muster" and r["scenario"] == scen), None)
        if r is None:
            return "not measured"
        if r.get("status") == "ok":
            return "its baseline was not measured"
        codes = r.get("status_tally") or {}
        return f"{r.get('status')}" + (f": answered {', '.join(sorted(codes))}" if codes else "")

    def show(name, value, needed, ok, fmt, scen=None, each=None):
        if value is None:
            res = f"n/a ({why(scen) if scen else 'not measured'})"
        else:
            res = "met" if ok(value) else "**missed**"
        verdicts.append(res)
        shown = "-" if value is None else fmt(value)
        if multi:
            listed = ", ".join("-" if v is None else fmt(v) for v in (each or []))
            p(f"| {name} | {shown} | {listed} | {needed} | {res} |")
        else:
            p(f"| {name} | {shown} | {needed} | {res} |")

    def target(name, key, needed, ok, fmt, scen=None):
        each = [m[key] for m in per_round]
        show(name, median([v for v in each if v is not None]), needed, ok, fmt, scen, each)

    pct = lambda v: f"{v:.1f}%"  # noqa: E731
    times = lambda v: f"{v:.2f}×"  # noqa: E731
    # GET warm vs hello: from the interleaved pairs when there are any (bench_pairs in bench/run:
    # both sides seconds apart), else from each round's two rows
    pairs = [100.0 * r["muster_rps"] / r["hello_rps"] for r in rows
             if r["kind"] == "pair" and r.get("muster_rps") and r.get("hello_rps")]
    if pairs:
        show("GET by id, cache warm, vs hello (pairs measured in turn)", median(pairs), "≥ 50%", lambda v: v >= 50,
             pct, "get-id-warm", pairs)
    else:
        target("GET by id, cache warm, vs hello", "warm", "≥ 50%", lambda v: v >= 50, pct, "get-id-warm")
    target("GET by id, cache off, vs Platformatic", "off", "≥ 2.5×", lambda v: v >= 2.5, times, "get-id-nocache")
    target("GET by id, cache off, p99", "off_p99", "< 10 ms", lambda v: v < 10, lambda v: f"{v:.2f} ms",
           "get-id-nocache")
    target("List 20 (filtered, cache on) vs Platformatic (unfiltered list-20)", "list", "≥ 2.5×",
           lambda v: v >= 2.5, times, "list-20")
    target("List 20 (filtered, cache off) vs Platformatic (unfiltered list-20)", "list_off", "≥ 2.5×",
           lambda v: v >= 2.5, times, "list-20-nocache")
    target("Create vs pgbench insert (Muster schema, the better of 8 and 16 clients)", "create", "≥ 70%",
           lambda v: v >= 70, pct, "post-create")
    target("Create vs pgbench insert (peers schema, 8 clients)", "create_peers", "≥ 70%", lambda v: v >= 70, pct,
           "post-create")
    target("Batch create rows/s", "batch", "≥ 20,000", lambda v: v >= 20000, lambda v: f"{v:,.0f}", "batch-create")
    # memory is a ceiling, not a typical value: the worst round counts
    rss_each = [m["rss"] for m in per_round]
    show("Muster RSS under load (max of all scenarios)", max([v for v in rss_each if v is not None], default=None),
         "< 64 MiB", lambda v: v < 64, lambda v: f"{v:.0f} MiB", each=rss_each)
    rss1_each = [m["rss1"] for m in per_round]
    show("Muster RSS under load, all but batch-create", max([v for v in rss1_each if v is not None], default=None),
         "< 64 MiB", lambda v: v < 64, lambda v: f"{v:.0f} MiB", each=rss1_each)
    m_st = next((r for r in st if r["target"] == "muster"), None)
    show("Muster start-up to first 200 (hyperfine mean)", m_st and m_st["mean_s"] * 1000, "< 50 ms",
         lambda v: v < 50, lambda v: f"{v:.0f} ms", each=[m_st and m_st["mean_s"] * 1000])
    p("")
    if pairs:
        each = [m["warm"] for m in per_round]
        p("GET warm vs hello, the pairs: each is one pair's ratio (hello and Muster's get-id-warm, "
          "one after the other, alternating which goes first); a multi-round run lists every round's pairs. "
          "From the round rows instead (the get-id-warm and hello rows, minutes apart): "
          + ", ".join("-" if v is None else pct(v) for v in each) + ".\n")
    p(f"{sum(v == 'met' for v in verdicts)} met, {sum(v.startswith('**') for v in verdicts)} missed, "
      f"{sum(v.startswith('n/a') for v in verdicts)} not measured.")
    text = "\n".join(out) + "\n"
    open(f"{d}/results.md", "w").write(text)
    sys.stdout.write(text)


def main():
    cmd, rest = sys.argv[1], sys.argv[2:]
    if cmd == "wrk":
        print(json.dumps(parse_wrk(rest[0], extras(rest[1:]))))
    elif cmd == "pgbench":
        print(json.dumps(parse_pgbench(rest[0], extras(rest[1:]))))
    elif cmd == "hyperfine":
        for r in parse_hyperfine(rest[0], extras(rest[1:])):
            print(json.dumps(r))
    elif cmd == "md":
        md(rest[0])
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
