#!/usr/bin/env python3
"""bench/soak.py: the fault soak. Started by bench/soak (which builds the binary); see
bench/README.md, "Fault soak".

Two `muster serve` instances share a private PostgreSQL cluster and a private Redis, both
started here on free ports (the machine's shared PostgreSQL and Redis are never touched).
The instances reach both through small TCP proxies in this script (HangProxy), for the whole
soak. A bounded, paced client sends an 80/20 read/write mix to both instances while this
script kills Redis and restarts it, stops PostgreSQL and starts it again (faults that close
connections), then black-holes Redis and then PostgreSQL at their proxies (faults that hang:
nothing forwarded either way, no connection closed, new ones accepted but not connected)
and resumes them. Afterwards it checks, against the database itself:

  - every write the client saw acknowledged (201 with an id) is stored: 0 lost;
  - no logical write (one Idempotency-Key) produced two rows;
  - no 5xx, and no request without an answer, outside the PostgreSQL outage windows
    [stop issued or black hole begun, PostgreSQL back + SOAK_RECOVERY_MAX];
  - /ready stays 200 ("degraded") while Redis is down, goes 503 while PostgreSQL is down,
    and is never 503 outside those windows;
  - recovery: /ready 200 and a 201 write on each instance within SOAK_RECOVERY_MAX (5 s,
    the issue's bound) of PostgreSQL accepting connections again, and of each resume;
  - PostgreSQL black-holed: every request answered within acquire + statement timeout + 1.5 s,
    its 5xx all 503 problems; /ready 503 within that bound of the black hole's start;
  - Redis black-holed: no 5xx, no request without an answer, /ready 200 throughout;
  - memory bounded: each instance's RSS during the hangs grows less than SOAK_RSS_GROWTH_MAX
    over its peak before the first fault;
  - a write held by a key left "in progress" by an outage (409) is acknowledged within
    SOAK_RETRY_MAX of the outage's end.

Prints the figures, writes them as JSON, exits 1 if a criterion failed (2 if the soak could
not be set up). Only processes started here are stopped, by PID (PostgreSQL by its data
directory); temporary directories are removed.
"""

import http.client
import json
import mmap
import os
import pwd
import random
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone


def env_f(name, default):
    return float(os.environ.get(name, default))


def duration_s(text):
    """A Muster duration ("500ms", "2s", "1m", "1h") in seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*", text)
    if not m:
        sys.exit(f"not a duration like 500ms, 2s or 1m: {text!r}")
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]


SCALE = env_f("SOAK_SCALE", 1)
WARMUP = max(3.0, env_f("SOAK_WARMUP", 10) * SCALE)
REDIS_DOWN = max(3.0, env_f("SOAK_REDIS_DOWN", 15) * SCALE)
BETWEEN = max(3.0, env_f("SOAK_BETWEEN", 10) * SCALE)
PG_DOWN = max(3.0, env_f("SOAK_PG_DOWN", 10) * SCALE)
REDIS_HANG = max(3.0, env_f("SOAK_REDIS_HANG", 10) * SCALE)
PG_HANG = max(3.0, env_f("SOAK_PG_HANG", 10) * SCALE)
AFTER = max(6.0, env_f("SOAK_AFTER", 15) * SCALE)
# not scaled: how long retried writes still waiting when the load stops may go on. A write
# whose key an outage left "in progress" (409 + Retry-After) should get through within
# SOAK_RETRY_MAX of the outage's end; a binary that takes such a key over only after
# muster_store::ABANDONED_AFTER_SECS (60 s) leaves it unresolved here (SOAK_SETTLE=75 waits it out)
SETTLE = env_f("SOAK_SETTLE", 20)
RETRY_MAX = env_f("SOAK_RETRY_MAX", 10)  # outage's end to a held write's 201, seconds
RSS_GROWTH_MAX = env_f("SOAK_RSS_GROWTH_MAX", 64)  # MiB over the peak before the first fault
WORKERS = int(os.environ.get("SOAK_WORKERS", 8))
RATE = env_f("SOAK_RATE", 200)  # offered requests/s over all workers (0: as fast as they can)
READ_PCT = env_f("SOAK_READ_PCT", 80)
RECOVERY_MAX = env_f("SOAK_RECOVERY_MAX", 5)  # the issue's bound, seconds
PG_STOP_MODE = os.environ.get("SOAK_PG_STOP_MODE", "immediate")
HTTP_TIMEOUT = env_f("SOAK_HTTP_TIMEOUT", 15)
ACQUIRE_TIMEOUT = os.environ.get("SOAK_DB_ACQUIRE_TIMEOUT", "1s")
STATEMENT_TIMEOUT = os.environ.get("SOAK_DB_STATEMENT_TIMEOUT", "2s")
# how soon a request must be answered while PostgreSQL hangs: a connection from the pool,
# one store operation and the half second Muster waits past the statement timeout
# (MUSTER_DB_STATEMENT_TIMEOUT), and 1 s of slack for a busy machine
HANG_BOUND = duration_s(ACQUIRE_TIMEOUT) + duration_s(STATEMENT_TIMEOUT) + 0.5 + 1.0
RSS_EVERY = 0.5
# what the writes create, by weight: volunteers (unique e-mail), attendances (unique event and
# volunteer pair) and events (nothing unique but the title this script gives: duplicates show)
MIX = {k: float(v) for k, v in (kv.split("=") for kv in
                                os.environ.get("SOAK_MIX", "volunteer=60,attendance=25,event=15").split(","))}
if not MIX or set(MIX) - {"volunteer", "attendance", "event"} or sum(MIX.values()) <= 0:
    sys.exit("SOAK_MIX: weights of volunteer, attendance, event, e.g. volunteer=60,attendance=25,event=15")
READY_EVERY = 0.1
SEED = int(os.environ.get("SOAK_SEED", random.randrange(1 << 30)))
MUSTER = os.environ["MUSTER_BIN"]
STAMP = os.environ.get("SOAK_STAMP") or datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
BENCH = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.environ.get("SOAK_RESULTS") or os.path.join(BENCH, "results", f"soak-{STAMP}")
JSON_OUT = os.environ.get("SOAK_JSON") or RESULTS.rstrip("/") + ".json"
KEEP_TMP = os.environ.get("SOAK_KEEP_TMP") == "1"

RUN = f"{STAMP.lower()}-{SEED % 10000:04d}"  # in every e-mail, title and key of this run
JWT_SECRET = "muster-soak-jwt-secret-0123456789abcdef"
SUB = "soak-load"
DB = "muster_soak"

T0 = time.monotonic()


def now():
    return time.monotonic() - T0


def reset_clock():
    """Time 0 of the figures: the start of the load."""
    global T0
    T0 = time.monotonic()


def log(msg):
    print(f"[soak {datetime.now(timezone.utc).strftime('%H:%M:%S')} +{now():6.1f}s] {msg}", file=sys.stderr, flush=True)


class SetupError(Exception):
    pass


# ------------------------------------------------------------------ processes we own
OWNED = []  # cleanup callbacks, run in reverse order


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bin():
    if os.environ.get("PG_BIN"):
        return os.environ["PG_BIN"]
    base = "/usr/lib/postgresql"
    if os.path.isdir(base):
        versions = sorted((v for v in os.listdir(base) if v.isdigit()), key=int, reverse=True)
        for v in versions:
            if os.path.exists(f"{base}/{v}/bin/initdb"):
                return f"{base}/{v}/bin"
    initdb = shutil.which("initdb")
    if initdb:
        return os.path.dirname(os.path.realpath(initdb))
    raise SetupError("no PostgreSQL server binaries (initdb) found; set PG_BIN")


class Postgres:
    """A private cluster in a temporary directory, run as the `postgres` OS user when we are root."""

    def __init__(self, tmp):
        self.bin = pg_bin()
        self.port = free_port()
        self.data = os.path.join(tmp, "pgdata")
        self.sock = os.path.join(tmp, "pgsock")
        self.logfile = os.path.join(tmp, "postgres.log")
        os.makedirs(self.sock)
        self.as_user = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            pw = pwd.getpwnam("postgres")
            for p in (tmp, self.sock):
                os.chown(p, pw.pw_uid, pw.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.running = False

    def _run(self, *args, timeout=120):
        r = subprocess.run(self.as_user + [f"{self.bin}/{args[0]}", *args[1:]], capture_output=True, text=True,
                           timeout=timeout)
        if r.returncode != 0:
            raise SetupError(f"{args[0]} failed ({r.returncode}): {r.stderr.strip() or r.stdout.strip()}")
        return r

    def init(self):
        self._run("initdb", "-D", self.data, "--username=postgres", "-A", "trust", "-E", "UTF8", "--no-sync",
                  "--no-instructions")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            # defaults otherwise: fsync and synchronous_commit stay on, so a 2xx means durable
            f.write("\n# muster soak\nlisten_addresses = '127.0.0.1'\nmax_connections = 100\n"
                    "shared_buffers = 32MB\nlog_min_messages = warning\nlog_line_prefix = '%m [%p] '\n")

    def start(self):
        self._run("pg_ctl", "-D", self.data, "-l", self.logfile, "-w", "-t", "120",
                  "-o", f"-p {self.port} -k {self.sock}", "start", timeout=150)
        self.running = True

    def stop(self, mode):
        self.running = False
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop", timeout=90)

    def pid(self):
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def psql(self, sql, db=DB):
        r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                            "-p", str(self.port), "-U", "postgres", "-d", db, "-c", sql],
                           capture_output=True, text=True, timeout=120, env={**os.environ, "PGCONNECT_TIMEOUT": "5"})
        if r.returncode != 0:
            raise SetupError(f"psql failed: {r.stderr.strip()}")
        return [line.split("|") for line in r.stdout.splitlines() if line]

    def accepting(self):
        """True when a session gets to ReadyForQuery (the startup protocol, trust auth): PostgreSQL
        answers queries. A refused connection or "the database system is starting up" is False."""
        params = b"user\0postgres\0database\0" + DB.encode() + b"\0\0"
        msg = (8 + len(params)).to_bytes(4, "big") + (196608).to_bytes(4, "big") + params
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(msg)
                buf = b""
                while True:
                    while len(buf) < 5:
                        chunk = s.recv(4096)
                        if not chunk:
                            return False
                        buf += chunk
                    kind, size = buf[:1], int.from_bytes(buf[1:5], "big")
                    if kind == b"Z":
                        s.sendall(b"X\0\0\0\4")
                        return True
                    if kind == b"E":
                        return False
                    while len(buf) < 1 + size:
                        chunk = s.recv(4096)
                        if not chunk:
                            return False
                        buf += chunk
                    buf = buf[1 + size:]
        except OSError:
            return False

    def watch_return(self, out, stop):
        """From the moment start is issued: out['t'] = when the first session that reached
        ReadyForQuery began (probes every 10 ms): the earliest PostgreSQL is known to be back."""
        while not stop.is_set():
            t = now()
            if self.accepting():
                out["t"] = t
                return
            time.sleep(0.01)

    def url(self):
        return f"postgres://postgres@127.0.0.1:{self.port}/{DB}"


class Redis:
    def __init__(self, logpath):
        self.port = free_port()
        self.logpath = logpath
        self.proc = None

    def start(self):
        exe = shutil.which("redis-server")
        if not exe:
            raise SetupError("redis-server not found")
        logf = open(self.logpath, "a")
        self.proc = subprocess.Popen([exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"],
                                     stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        logf.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SetupError(f"redis-server exited with {self.proc.returncode} (see {self.logpath})")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise SetupError("redis-server did not answer PING within 20 s")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()  # SIGKILL, by PID
            self.proc.wait()


class HangProxy:
    """A TCP proxy on a free port of 127.0.0.1 in front of a server there (PostgreSQL, Redis).

    It forwards bytes both ways, a thread per direction of each connection. hang() black-holes
    it: nothing is forwarded either way and no connection is closed; what a side sends is
    held (a pump keeps the one chunk it read, the rest waits in the kernel's buffers) and a new
    connection is accepted but not connected upstream. resume() forwards what was held and
    carries on; connections accepted meanwhile are connected then (one whose client gave up
    meanwhile is just closed). An end of stream is forwarded like data (after what was sent
    before it, so not while hung), an error closes both sides. When the server refuses the
    upstream connection (stopped or killed) the client's connection is reset."""

    def __init__(self, name, upstream_port):
        self.name = name
        self.upstream = ("127.0.0.1", upstream_port)
        self.flowing = threading.Event()
        self.flowing.set()
        self.closed = False
        self.lock = threading.Lock()
        self.socks = set()
        self.pairs = 0  # connections open through the proxy (or accepted and waiting)
        self.stats = {"accepted": 0, "held_connects": 0, "given_up_while_held": 0, "upstream_refused": 0,
                      "max_open": 0, "bytes": 0}
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(256)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        threading.Thread(target=self._accept, name=f"proxy-{name}", daemon=True).start()

    def hang(self):
        self.flowing.clear()

    def resume(self):
        self.flowing.set()

    def close(self):
        self.closed = True
        self.flowing.set()
        with self.lock:
            socks = list(self.socks)
        for sk in [self.lsock] + socks:
            try:
                sk.close()
            except OSError:
                pass

    def _track(self, sk):
        with self.lock:
            self.socks.add(sk)

    def _drop(self, *socks):
        for sk in socks:
            with self.lock:
                self.socks.discard(sk)
            try:
                sk.close()
            except OSError:
                pass

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c.settimeout(None)
            with self.lock:
                self.stats["accepted"] += 1
                self.pairs += 1
                self.stats["max_open"] = max(self.stats["max_open"], self.pairs)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    @staticmethod
    def _gave_up(sk):
        """True when the client closed (or reset) a connection we hold, unread data or not."""
        try:
            p = select.poll()
            p.register(sk, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
            return bool(p.poll(0))
        except (OSError, ValueError):
            return True

    def _serve(self, c):
        self._track(c)
        u = None
        try:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if not self.flowing.is_set():
                with self.lock:
                    self.stats["held_connects"] += 1
                while not self.flowing.wait(0.1):
                    if self._gave_up(c):
                        with self.lock:
                            self.stats["given_up_while_held"] += 1
                        return
            if self.closed:
                return
            try:
                u = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                with self.lock:
                    self.stats["upstream_refused"] += 1
                # a reset on close: as near to "connection refused" as an accepted connection gets
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
        except OSError:
            return
        finally:
            if u is None:
                with self.lock:
                    self.pairs -= 1
                self._drop(c)
        u.settimeout(None)
        u.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._track(u)
        pair = {"done": 0, "lock": threading.Lock()}
        threading.Thread(target=self._pump, args=(c, u, pair), daemon=True).start()
        self._pump(u, c, pair)

    def _pump(self, src, dst, pair):
        clean = False
        try:
            while True:
                try:
                    data = src.recv(65536)
                except OSError:
                    data = None  # reset: forwarded as a close of both sides
                while not self.flowing.wait(0.5):  # black-holed: hold it
                    pass
                if self.closed or not data:
                    clean = data == b""
                    break
                dst.sendall(data)
                with self.lock:
                    self.stats["bytes"] += len(data)
        except OSError:
            pass
        finally:
            with pair["lock"]:
                pair["done"] += 1
                last = pair["done"] == 2
            try:
                if clean and not last:
                    dst.shutdown(socket.SHUT_WR)  # the end of this direction, as usual
            except OSError:
                pass
            if not clean and not last:
                for sk in (src, dst):  # an error: both sides close (this wakes the other pump)
                    try:
                        sk.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            if last:
                with self.lock:
                    self.pairs -= 1
                self._drop(src, dst)


class Muster:
    def __init__(self, name, env, rundir):
        self.name = name
        self.env = env
        self.logpath = os.path.join(rundir, f"muster-{name}.log")
        self.proc = None
        self.port = None
        self.admin = None
        self.ready = []  # (t_start, t_end, http status or None, body status)
        self.exit_code = None

    def start(self, cwd):
        logf = open(self.logpath, "a")
        self.proc = subprocess.Popen([MUSTER, "serve"], env=self.env, cwd=cwd, stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        logf.close()

    def wait_listening(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SetupError(f"muster {self.name} exited with {self.proc.returncode}: {tail(self.logpath)}")
            try:
                text = open(self.logpath).read()
            except OSError:
                text = ""
            m = re.search(r'"listen":"127\.0\.0\.1:(\d+)"', text)
            a = re.search(r'"admin_listen":"([^"]+)"', text)
            if m:
                self.port = int(m.group(1))
                self.admin = a.group(1) if a else None
                return
            time.sleep(0.05)
        raise SetupError(f"muster {self.name} did not start listening within {timeout} s: {tail(self.logpath)}")

    def terminate(self, timeout=40):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.exit_code = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.exit_code = "killed after %d s" % timeout
        elif self.proc:
            self.exit_code = self.proc.returncode


def binary_has(path, needle):
    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            return m.find(needle) >= 0
    except (OSError, ValueError):
        return None


def tail(path, n=5):
    try:
        return " | ".join(open(path).read().strip().splitlines()[-n:])
    except OSError:
        return "(no log)"


# ------------------------------------------------------------------ HTTP
class Client:
    """One keep-alive connection to one instance."""

    def __init__(self, inst, token):
        self.inst = inst
        self.token = token
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        hdrs = {"Authorization": f"Bearer {self.token}"} if path.startswith("/v1") else {}
        if body is not None:
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        reused = self.conn is not None
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.inst.port, timeout=HTTP_TIMEOUT)
        global IN_FLIGHT, MAX_IN_FLIGHT
        with REQ_LOCK:
            IN_FLIGHT += 1
            MAX_IN_FLIGHT = max(MAX_IN_FLIGHT, IN_FLIGHT)
        try:
            self.conn.request(method, path, body=body, headers=hdrs)
            r = self.conn.getresponse()
            data = r.read()
            h = {k.lower(): v for k, v in r.getheaders()}
            if h.get("connection", "").lower() == "close":
                self.close()
            return r.status, h, data, None
        except (OSError, http.client.HTTPException) as e:
            self.close()
            return None, {}, b"", f"{type(e).__name__}: {e}" + (" (reused connection)" if reused else "")
        finally:
            with REQ_LOCK:
                IN_FLIGHT -= 1

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
        self.conn = None


REQS = []  # every request: dict(t0, t1, inst, op, status, err, rid, key[, ctype])
REQ_LOCK = threading.Lock()
IN_FLIGHT = MAX_IN_FLIGHT = 0  # requests sent and not yet answered, over every client


def record(t0, t1, inst, op, status, err, hdrs, key=None):
    r = {"t0": round(t0, 4), "t1": round(t1, 4), "inst": inst.name, "op": op, "status": status, "err": err,
         "rid": hdrs.get("x-request-id"), "key": key}
    if status and status >= 400:
        r["ctype"] = hdrs.get("content-type")
    with REQ_LOCK:
        REQS.append(r)
    return r


# ------------------------------------------------------------------ logical writes
class Write:
    __slots__ = ("key", "kind", "path", "body", "email", "title", "attempts", "outcome", "id", "ack_t", "ack_inst",
                 "replayed", "due", "detail", "first_t", "event_id", "volunteer_id", "held", "held_t")

    def __init__(self, key, kind, path, body):
        self.key, self.kind, self.path, self.body = key, kind, path, body
        self.email = self.title = self.id = self.ack_t = self.ack_inst = self.detail = None
        self.event_id = self.volunteer_id = None
        self.attempts = []  # (t0, inst, status or "no answer")
        self.outcome = None  # acked | conflict | rejected | unresolved
        self.replayed = False
        self.due = 0.0
        self.first_t = None
        self.held = 0  # answers "409: this key is still being processed"
        self.held_t = []  # when each of those answers came


class Load:
    def __init__(self, instances, token, cand, events, rng):
        self.instances = instances
        self.token = token
        self.cand = cand
        self.events = events  # [(id, capacity)]
        self.rng = rng
        self.lock = threading.Lock()
        self.n = 0
        self.writes = []  # every logical write
        self.pending = []  # writes waiting for a retry
        self.in_flight = 0
        self.acked_volunteers = []  # ids, for reads
        self.free_volunteers = []  # acked ids not yet signed up anywhere
        self.stop = threading.Event()
        self.settle_deadline = None
        self.issues = []  # reads that contradict an acknowledged write, unexpected answers

    def next_n(self):
        with self.lock:
            self.n += 1
            return self.n

    def new_write(self, rng):
        n = self.next_n()
        key = f"soak-{RUN}-w{n}"
        kind = rng.choices(list(MIX), weights=list(MIX.values()))[0]
        if kind == "attendance":
            with self.lock:
                vol = self.free_volunteers.pop(rng.randrange(len(self.free_volunteers))) if self.free_volunteers else None
            if vol:
                ev = rng.choice(self.events)[0]
                w = Write(key, "attendance", "/v1/attendances", json.dumps({"event_id": ev, "volunteer_id": vol}))
                w.event_id, w.volunteer_id = ev, vol
                return w
            kind = "volunteer"  # nobody to sign up yet
        if kind == "event":
            title = f"soak {RUN} e{n}"
            day = 1 + n % 27
            body = {"candidate_id": self.cand, "title": title, "event_type": "canvass",
                    "starts_at": f"2027-03-{day:02d}T14:00:00Z", "ends_at": f"2027-03-{day:02d}T17:00:00Z",
                    "capacity": None}
            w = Write(key, "event", "/v1/events", json.dumps(body))
            w.title = title
            return w
        email = f"soak-{RUN}-{n}@example.org"
        body = {"first_name": "Soak", "last_name": f"W{n}", "email": email, "zip_code": "02139",
                "tags": ["soak"], "candidate_id": self.cand}
        w = Write(key, "volunteer", "/v1/volunteers", json.dumps(body))
        w.email = email
        return w

    def take_due(self):
        with self.lock:
            t = now()
            for i, w in enumerate(self.pending):
                if w.due <= t:
                    self.in_flight += 1
                    return self.pending.pop(i)
            return None

    def attempt(self, w, client):
        t0 = now()
        if w.first_t is None:
            w.first_t = t0
        status, h, data, err = client.request("POST", w.path, w.body.encode(), {"Idempotency-Key": w.key})
        t1 = now()
        record(t0, t1, client.inst, "POST " + w.kind, status, err, h, w.key)
        w.attempts.append((round(t0, 3), client.inst.name, status if status else "no answer"))
        retry_in = None
        if status == 201:
            try:
                w.id = json.loads(data)["id"]
            except (ValueError, KeyError):
                w.outcome, w.detail = "rejected", f"201 without an id: {data[:200]!r}"
                return
            w.outcome, w.ack_t, w.ack_inst = "acked", t1, client.inst.name
            w.replayed = h.get("idempotent-replayed") == "true"
            if w.kind == "volunteer":
                with self.lock:
                    self.acked_volunteers.append(w.id)
                    self.free_volunteers.append(w.id)
        elif status is None or status >= 500 or status == 429:
            n = len(w.attempts)
            retry_in = min(0.1 * 2 ** (n - 1), 1.0) * (0.5 + self.rng.random())
        elif status == 409 and "retry-after" in h:  # the same key still being processed
            w.held += 1
            w.held_t.append(round(t1, 3))
            try:
                retry_in = max(0.2, float(h["retry-after"]))
            except ValueError:
                retry_in = 1.0
        elif status == 409 and len(w.attempts) > 1:
            # an earlier attempt was stored although its answer was an error: in doubt, not acked
            w.outcome, w.detail = "conflict", data[:300].decode("utf-8", "replace")
        else:
            w.outcome, w.detail = "rejected", f"{status}: {data[:300].decode('utf-8', 'replace')}"
            with self.lock:
                self.issues.append({"t": round(t1, 3), "inst": client.inst.name, "what": f"POST {w.kind} {w.key}",
                                    "status": status, "rid": h.get("x-request-id"),
                                    "body": data[:300].decode("utf-8", "replace")})
        if retry_in is not None:
            w.due = now() + retry_in
            with self.lock:
                self.pending.append(w)

    def read(self, rng, client):
        roll = rng.random()
        with self.lock:
            vid = rng.choice(self.acked_volunteers) if self.acked_volunteers else None
        if roll < 0.5 and vid:
            op, path = "GET volunteer", f"/v1/volunteers/{vid}"
        elif roll < 0.75:
            op, path = "GET volunteers", "/v1/volunteers?limit=20&tag=soak"
        else:
            op, path = "GET event attendances", f"/v1/events/{rng.choice(self.events)[0]}/attendances?limit=20"
        t0 = now()
        status, h, data, err = client.request("GET", path)
        t1 = now()
        record(t0, t1, client.inst, op, status, err, h)
        if status is not None and 400 <= status < 500:
            with self.lock:
                self.issues.append({"t": round(t1, 3), "inst": client.inst.name, "what": f"{op} {path}",
                                    "status": status, "rid": h.get("x-request-id"),
                                    "body": data[:300].decode("utf-8", "replace"),
                                    "note": "an acknowledged volunteer was not found" if status == 404 and op ==
                                    "GET volunteer" else "unexpected client error"})

    def worker(self, wid):
        rng = random.Random(SEED * 1000 + wid)
        clients = [Client(i, self.token) for i in self.instances]
        turn = wid % len(clients)
        interval = WORKERS / RATE if RATE > 0 else 0.0
        next_t = time.monotonic() + rng.random() * interval
        while True:
            stopping = self.stop.is_set()
            if stopping:
                with self.lock:
                    if (not self.pending) or now() >= self.settle_deadline:
                        break
            if interval:
                delay = next_t - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                next_t = max(next_t + interval, time.monotonic() - interval)
            w = self.take_due()
            if w is None:
                if stopping:
                    time.sleep(0.05)
                    continue
                if rng.random() * 100 < READ_PCT:
                    self.read(rng, clients[turn])
                    turn = (turn + 1) % len(clients)
                    continue
                w = self.new_write(rng)
                with self.lock:
                    self.writes.append(w)
                    self.in_flight += 1
            try:
                self.attempt(w, clients[turn])
            finally:
                with self.lock:
                    self.in_flight -= 1
            turn = (turn + 1) % len(clients)
        for c in clients:
            c.close()


def ready_poller(inst, stop):
    c = Client(inst, None)
    while not stop.is_set():
        t0 = now()
        status, _, data, err = c.request("GET", "/ready")
        t1 = now()
        body = None
        if status is not None:
            try:
                body = json.loads(data).get("status")
            except ValueError:
                body = "?"
        inst.ready.append((round(t0, 4), round(t1, 4), status, body if status else err))
        time.sleep(max(0.0, READY_EVERY - (t1 - t0)))
    c.close()


def proc_sample(pid):
    """(VmRSS in KiB, threads, open file descriptors) of a process, or None once it is gone."""
    try:
        rss = threads = None
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("Threads:"):
                    threads = int(line.split()[1])
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        return rss, threads, fds
    except (OSError, ValueError):
        return None


def rss_sampler(instances, proxies, stop, out):
    """Every RSS_EVERY s for the whole soak: each instance's RSS, threads and descriptors, and
    the connections open through each proxy."""
    while not stop.is_set():
        t = now()
        for inst in instances:
            got = proc_sample(inst.proc.pid)
            if got and got[0] is not None:
                out.append({"t": round(t, 3), "inst": inst.name, "rss_kib": got[0], "threads": got[1],
                            "fds": got[2], **{f"{p.name}_conns": p.pairs for p in proxies}})
        stop.wait(RSS_EVERY)


# ------------------------------------------------------------------ setup helpers
def api(client, method, path, body, expect=201, tries=50):
    last = None
    for _ in range(tries):
        status, h, data, err = client.request(method, path, json.dumps(body).encode() if body is not None else None)
        if status == expect:
            return json.loads(data) if data else None
        last = f"{status or err}: {data[:200]!r}"
        time.sleep(0.2)
    raise SetupError(f"{method} {path}: {last}")


def wait_ready(instances, timeout=60):
    deadline = time.monotonic() + timeout
    for inst in instances:
        c = Client(inst, None)
        while True:
            status, _, data, _ = c.request("GET", "/ready")
            if status == 200 and json.loads(data).get("status") == "ready":
                break
            if time.monotonic() > deadline:
                raise SetupError(f"muster {inst.name}: /ready not 200 \"ready\" within {timeout} s "
                                 f"(last: {status} {data[:200]!r})")
            time.sleep(0.1)
        c.close()


# ------------------------------------------------------------------ analysis
def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(round(p / 100 * len(v) + 0.5)) - 1))]


def ms(x):
    return None if x is None else round(x * 1000, 1)


def transitions(samples):
    """Compress /ready samples into (time answered, status, body status) runs."""
    out = []
    for t0, t1, status, body in samples:
        key = (status, body if status else "no answer")
        if not out or (out[-1][1], out[-1][2]) != key:
            out.append((t1, key[0], key[1]))
    return out


def analyse(marks, load, instances, db, duration, rss, proxies):
    w_start = marks["pg_stop"]
    pg_up = marks["pg_up"]
    w_end = pg_up + RECOVERY_MAX
    rh, rr = marks["redis_hang"], marks["redis_resume"]  # Redis black-holed .. resumed
    ph, pr = marks["pg_hang"], marks["pg_resume"]  # PostgreSQL black-holed .. resumed
    # PostgreSQL's outages: (begins, PostgreSQL back); a window adds SOAK_RECOVERY_MAX to the end
    outages = [(w_start, pg_up), (ph, pr)]
    windows = [(a, b + RECOVERY_MAX) for a, b in outages]
    overlaps = lambda r, a, b: r["t0"] <= b and r["t1"] >= a
    in_window = lambda r: any(overlaps(r, a, b) for a, b in windows)  # overlaps an outage window

    phases = [("warm-up", 0, marks["redis_kill"]), ("Redis down", marks["redis_kill"], marks["redis_up"]),
              ("Redis back", marks["redis_up"], marks["pg_stop"]), ("PostgreSQL down", marks["pg_stop"], pg_up),
              ("PostgreSQL back", pg_up, rh), ("Redis black-holed", rh, rr), ("Redis resumed", rr, ph),
              ("PostgreSQL black-holed", ph, pr), ("PostgreSQL resumed", pr, marks["load_stop"]),
              ("settle (retries only)", marks["load_stop"], 1e9)]
    reqs = sorted(REQS, key=lambda r: r["t0"])
    phase_rows = []
    for name, a, b in phases + [("all", 0, 1e9)]:
        rs = [r for r in reqs if a <= r["t0"] < b]
        lat = [r["t1"] - r["t0"] for r in rs]
        lat2 = [r["t1"] - r["t0"] for r in rs if r["status"] and r["status"] < 300]
        lat5 = [r["t1"] - r["t0"] for r in rs if r["status"] and r["status"] >= 500]
        phase_rows.append({
            "phase": name, "from_s": round(a, 2), "to_s": round(min(b, duration), 2), "requests": len(rs),
            "2xx": sum(1 for r in rs if r["status"] and r["status"] < 300),
            "4xx": sum(1 for r in rs if r["status"] and 400 <= r["status"] < 500),
            "5xx": sum(1 for r in rs if r["status"] and r["status"] >= 500),
            "no_answer": sum(1 for r in rs if not r["status"]),
            "writes_201": sum(1 for r in rs if r["status"] == 201),
            "p50_ms": ms(pct(lat, 50)), "p99_ms": ms(pct(lat, 99)),
            "p50_2xx_ms": ms(pct(lat2, 50)), "p99_2xx_ms": ms(pct(lat2, 99)),
            "p50_5xx_ms": ms(pct(lat5, 50)), "max_5xx_ms": ms(max(lat5) if lat5 else None),
        })
    bad = [r for r in reqs if (r["status"] is None or r["status"] >= 500)]
    bad_in = [r for r in bad if in_window(r)]
    bad_out = [r for r in bad if not in_window(r)]
    five_in = [r for r in bad_in if r["status"]]
    five_out = [r for r in bad_out if r["status"]]
    noans_out = [r for r in bad_out if not r["status"]]
    status_counts = {}
    for r in reqs:
        k = str(r["status"] or "no answer")
        status_counts[k] = status_counts.get(k, 0) + 1
    after_up = [r for r in bad if pg_up <= r["t1"] < rh]
    last_5xx_after_up = max((r["t1"] - pg_up for r in after_up), default=None)
    last_5xx_after_resume = max((r["t1"] - pr for r in bad if r["t1"] >= pr), default=None)

    # ---- the hangs
    lat_of = lambda rs: [r["t1"] - r["t0"] for r in rs]
    r_rs = [r for r in reqs if overlaps(r, rh, rr)]
    r_lat = lat_of(r_rs)
    redis_hang = {
        "from_s": round(rh, 3), "to_s": round(rr, 3), "requests": len(r_rs),
        "5xx": sum(1 for r in r_rs if r["status"] and r["status"] >= 500),
        "no_answer": sum(1 for r in r_rs if not r["status"]),
        "p50_ms": ms(pct(r_lat, 50)), "p99_ms": ms(pct(r_lat, 99)), "max_ms": ms(max(r_lat, default=None)),
        "examples": [r for r in r_rs if not r["status"] or r["status"] >= 500][:10],
    }
    p_rs = [r for r in reqs if overlaps(r, ph, pr)]
    p_fail = [r for r in p_rs if not r["status"] or r["status"] >= 500]
    p_not503 = [r for r in p_fail if r["status"] and (r["status"] != 503 or not (r.get("ctype") or "").startswith(
        "application/problem+json"))]
    p_slow = [r for r in p_rs if r["status"] and r["t1"] - r["t0"] > HANG_BOUND]
    first_503 = min((r["t1"] for r in p_rs if r["status"] == 503 and r["t1"] >= ph), default=None)
    pg_hang = {
        "from_s": round(ph, 3), "to_s": round(pr, 3), "bound_s": HANG_BOUND, "requests": len(p_rs),
        "2xx": sum(1 for r in p_rs if r["status"] and r["status"] < 300),
        "503_problem": sum(1 for r in p_fail if r["status"] and r not in p_not503),
        "other_5xx": len(p_not503), "no_answer": sum(1 for r in p_fail if not r["status"]),
        "over_bound": len(p_slow),
        "failed_p99_ms": ms(pct(lat_of(p_fail), 99)), "failed_max_ms": ms(max(lat_of(p_fail), default=None)),
        "all_p99_ms": ms(pct(lat_of(p_rs), 99)), "all_max_ms": ms(max(lat_of(p_rs), default=None)),
        "first_503_after_start_s": None if first_503 is None else round(first_503 - ph, 3),
        "examples": (p_not503 + [r for r in p_fail if not r["status"]] + p_slow)[:10],
    }

    # ---- writes against the database
    vol_rows = {email: vid for vid, email in db["volunteers"]}
    ev_rows = {}
    for eid, title in db["events"]:
        ev_rows.setdefault(title, []).append(eid)
    att_rows = {(e, v): aid for aid, e, v in db["attendances"]}
    all_ids = {vid for vid, _ in db["volunteers"]} | {eid for eid, _ in db["events"]} | {a for a, _, _ in db["attendances"]}
    outcomes = {}
    lost, dup, unacked_stored, retried = [], [], 0, 0
    for w in load.writes:
        outcomes[w.outcome or "unresolved"] = outcomes.get(w.outcome or "unresolved", 0) + 1
        if len(w.attempts) > 1:
            retried += 1
        if w.kind == "volunteer":
            stored = [vol_rows[w.email]] if w.email in vol_rows else []
        elif w.kind == "event":
            stored = ev_rows.get(w.title, [])
        else:
            stored = [att_rows[(w.event_id, w.volunteer_id)]] if (w.event_id, w.volunteer_id) in att_rows else []
        if len(stored) > 1:
            dup.append({"key": w.key, "kind": w.kind, "rows": stored, "attempts": w.attempts})
        if w.outcome == "acked":
            if w.id not in all_ids or w.id not in stored:
                lost.append({"key": w.key, "kind": w.kind, "acked_id": w.id, "acked_at_s": round(w.ack_t, 3),
                             "instance": w.ack_inst, "stored_rows_for_this_write": stored, "attempts": w.attempts})
        elif stored:
            unacked_stored += 1
    acked = [w for w in load.writes if w.outcome == "acked"]
    by_kind = {}
    for w in load.writes:
        k = by_kind.setdefault(w.kind, {"issued": 0, "acked": 0})
        k["issued"] += 1
        k["acked"] += w.outcome == "acked"
    attempts_all = sum(len(w.attempts) for w in load.writes)
    resolve_times = [w.ack_t - w.first_t for w in load.writes if w.outcome == "acked" and len(w.attempts) > 1]
    # writes whose key stayed "in progress" (409) although nothing was running it any more
    held = [w for w in load.writes if w.held]
    # ... after an outage: from the outage's end (PostgreSQL back) to the write's 201, for each
    # write with a 409 "in progress" between an outage's end and the next outage's beginning
    held_after = []  # (write, outage end, seconds to its 201 or None)
    for w in held:
        for i, (_, end) in enumerate(outages):
            nxt = outages[i + 1][0] if i + 1 < len(outages) else 1e9
            if any(end <= t < nxt for t in w.held_t):
                held_after.append((w, end, None if w.outcome != "acked" else w.ack_t - end))
                break
    held_after_s = [x for _, _, x in held_after if x is not None]
    held_slowest_first = sorted(held_after, key=lambda h: -(1e9 if h[2] is None else h[2]))
    held_unacked = sum(1 for _, _, x in held_after if x is None)

    # capacity: seats held never exceed an event's capacity
    over = []
    seats = {e: n for e, n in db["seats"]}
    for eid, cap in load.events:
        if cap is not None and int(seats.get(eid, 0)) > cap:
            over.append({"event": eid, "capacity": cap, "seats": int(seats[eid])})

    # ---- readiness and recovery per instance
    ready = {}
    for inst in instances:
        s = inst.ready
        outside = [x for x in s if x[2] != 200 and not any(x[0] <= b and x[1] >= a for a, b in windows)]
        redis_phase = [x for x in s if marks["redis_kill"] <= x[0] and x[1] <= marks["redis_up"]]
        in_pg = [x for x in s if w_start <= x[0] and x[1] <= pg_up]
        rec = next((x[1] - pg_up for x in s if x[1] >= pg_up and x[2] == 200), None)
        wrec = min((r["t1"] - pg_up for r in reqs
                    if r["inst"] == inst.name and r["status"] == 201 and r["t1"] >= pg_up), default=None)
        first_503 = next((x[1] - w_start for x in s if x[1] >= w_start and x[2] == 503), None)
        # the hangs: polls sent while Redis was black-holed; the first 503 once PostgreSQL was
        r_polls = [x for x in s if rh <= x[0] < rr]
        p_polls = [x for x in s if ph <= x[0] < pr]
        p_first_503 = next((x[1] - ph for x in s if x[1] >= ph and x[2] == 503), None)
        r_rec = next((x[1] - rr for x in s if x[1] >= rr and x[2] == 200 and x[3] == "ready"), None)
        p_rec = next((x[1] - pr for x in s if x[1] >= pr and x[2] == 200), None)
        # a write sent after the resume (one held through the hang and answered then proves little)
        first_201 = lambda t: min((r["t1"] - t for r in reqs if r["inst"] == inst.name and r["status"] == 201
                                   and r["t0"] >= t), default=None)
        r_wrec, p_wrec = first_201(rr), first_201(pr)
        rnd = lambda v: None if v is None else round(v, 3)
        ready[inst.name] = {
            "polls": len(s),
            "transitions": [{"t_s": round(t, 2), "status": st, "detail": b} for t, st, b in transitions(s)],
            "non200_outside_window": len(outside),
            "non200_outside_examples": [{"t_s": x[1], "status": x[2], "detail": x[3]} for x in outside[:5]],
            "redis_down_polls": len(redis_phase),
            "redis_down_200_degraded": sum(1 for x in redis_phase if x[2] == 200 and x[3] == "degraded"),
            "redis_down_not_200": sum(1 for x in redis_phase if x[2] != 200),
            "pg_down_polls": len(in_pg),
            "pg_down_503": sum(1 for x in in_pg if x[2] == 503),
            "first_503_after_pg_stop_s": None if first_503 is None else round(first_503, 3),
            "ready_recovery_s": None if rec is None else round(rec, 3),
            "write_recovery_s": None if wrec is None else round(wrec, 3),
            "redis_hang_polls": len(r_polls),
            "redis_hang_not_200": sum(1 for x in r_polls if x[2] != 200),
            "redis_hang_max_ms": ms(max((x[1] - x[0] for x in r_polls), default=None)),
            "redis_resume_ready_s": rnd(r_rec), "redis_resume_write_s": rnd(r_wrec),
            "pg_hang_polls": len(p_polls),
            "pg_hang_503": sum(1 for x in p_polls if x[2] == 503),
            "pg_hang_first_503_s": rnd(p_first_503),
            "pg_resume_ready_s": rnd(p_rec), "pg_resume_write_s": rnd(p_wrec),
            "exit_code_on_sigterm": inst.exit_code,
        }

    def ex(rs):
        return [{"t0_s": r["t0"], "t1_s": r["t1"], "inst": r["inst"], "op": r["op"], "status": r["status"],
                 "err": r["err"], "request_id": r["rid"], "key": r["key"]} for r in rs[:20]]

    # ---- memory: each instance's RSS during the hangs (until SOAK_RECOVERY_MAX after the resume,
    # when what was held is let go) against its peak before the first fault
    mib = lambda kib: None if kib is None else round(kib / 1024, 1)
    memory = {}
    for inst in instances:
        xs = [x for x in rss if x["inst"] == inst.name]
        before = [x for x in xs if x["t"] < marks["redis_kill"]]
        base = max((x["rss_kib"] for x in before), default=None)
        m = {"samples": len(xs), "before_first_fault_peak_mib": mib(base),
             "soak_peak_mib": mib(max((x["rss_kib"] for x in xs), default=None)),
             "last_mib": mib(xs[-1]["rss_kib"] if xs else None),
             "threads_before_max": max((x["threads"] for x in before), default=None),
             "fds_before_max": max((x["fds"] for x in before), default=None)}
        for name, a, b in (("redis_hang", rh, rr + RECOVERY_MAX), ("pg_hang", ph, pr + RECOVERY_MAX)):
            hs = [x for x in xs if a <= x["t"] <= b]
            peak = max((x["rss_kib"] for x in hs), default=None)
            m[f"{name}_peak_mib"] = mib(peak)
            m[f"{name}_growth_mib"] = None if peak is None or base is None else round((peak - base) / 1024, 1)
            m[f"{name}_threads_max"] = max((x["threads"] for x in hs), default=None)
            m[f"{name}_fds_max"] = max((x["fds"] for x in hs), default=None)
            for px in proxies:
                m[f"{name}_{px.name}_conns_max"] = max((x.get(f"{px.name}_conns", 0) for x in hs), default=None)
        memory[inst.name] = m
    growths = [m[k] for m in memory.values() for k in ("redis_hang_growth_mib", "pg_hang_growth_mib")]

    redis_writes = sum(1 for r in reqs if r["status"] == 201 and marks["redis_kill"] <= r["t1"] < marks["redis_up"])
    fig = {
        "window": {"pg_stop_s": round(w_start, 3), "pg_up_s": round(pg_up, 3), "grace_s": RECOVERY_MAX,
                   "end_s": round(w_end, 3)},
        "windows": [{"from_s": round(a, 3), "postgres_back_s": round(b, 3), "to_s": round(b + RECOVERY_MAX, 3),
                     "what": what} for (a, b), what in zip(outages, ("stopped", "black-holed"))],
        "redis_hang": {**redis_hang, "examples": ex(redis_hang["examples"])},
        "pg_hang": {**pg_hang, "examples": ex(pg_hang["examples"])},
        "memory": memory,
        "client": {"max_in_flight": MAX_IN_FLIGHT, "bound": WORKERS + len(instances),
                   "note": f"{WORKERS} workers and {len(instances)} /ready pollers, one request at a time each"},
        "proxies": {px.name: dict(px.stats) for px in proxies},
        "phases": phase_rows,
        "status_counts": status_counts,
        "errors": {"5xx_in_window": len(five_in), "5xx_outside_window": len(five_out),
                   "no_answer_in_window": len(bad_in) - len(five_in), "no_answer_outside_window": len(noans_out),
                   "500_in_window": sum(1 for r in five_in if r["status"] == 500),
                   "last_error_after_pg_up_s": None if last_5xx_after_up is None else round(last_5xx_after_up, 3),
                   "last_error_after_pg_resume_s": None if last_5xx_after_resume is None
                   else round(last_5xx_after_resume, 3),
                   "outside_window_examples": ex(bad_out)},
        "writes": {"logical": len(load.writes), "attempts": attempts_all, "retried": retried,
                   "acked": len(acked), "acked_replayed": sum(1 for w in acked if w.replayed),
                   "outcomes": outcomes, "by_kind": by_kind, "lost": len(lost), "lost_examples": lost[:20],
                   "duplicates": len(dup), "duplicate_examples": dup[:20],
                   "unacked_but_stored": unacked_stored,
                   "held_by_unfinished_key": len(held),
                   "held_after_an_outage": len(held_after),
                   "held_after_an_outage_unacked": held_unacked,
                   "held_resolved_after_outage_end_max_s": round(max(held_after_s), 3) if held_after_s else None,
                   "held_resolved_after_outage_end_p50_s": round(pct(held_after_s, 50), 3) if held_after_s else None,
                   "held_examples": [{"key": w.key, "kind": w.kind, "outcome": w.outcome, "409s": w.held,
                                      "first_attempt_s": w.attempts[0][0], "first_answer": w.attempts[0][2],
                                      "outage_end_s": round(end, 3),
                                      "acked_after_end_s": None if x is None else round(x, 3),
                                      "attempts": w.attempts if len(w.attempts) <= 6
                                      else w.attempts[:4] + w.attempts[-2:]}
                                     for w, end, x in held_slowest_first][:10],
                   "acked_during_redis_outage": redis_writes,
                   "max_attempts": max((len(w.attempts) for w in load.writes), default=0),
                   "retried_write_p50_s": None if not resolve_times else round(pct(resolve_times, 50), 3),
                   "retried_write_max_s": None if not resolve_times else round(max(resolve_times), 3),
                   "unresolved_examples": [{"key": w.key, "kind": w.kind, "attempts": w.attempts[-5:]}
                                           for w in load.writes if not w.outcome][:10],
                   "conflict_examples": [{"key": w.key, "kind": w.kind, "detail": w.detail, "attempts": w.attempts}
                                         for w in load.writes if w.outcome == "conflict"][:10],
                   "idempotency_keys_unfinished": db["keys_unfinished"],
                   "rows_in_db": {"volunteers": len(db["volunteers"]), "events": len(db["events"]),
                                  "attendances": len(db["attendances"])}},
        "capacity_exceeded": over,
        "issues": load.issues[:30],
        "issue_count": len(load.issues),
        "readiness": ready,
    }
    rec_ready = [v["ready_recovery_s"] for v in ready.values()]
    rec_write = [v["write_recovery_s"] for v in ready.values()]
    crit = [
        ("0 acknowledged writes lost", len(lost) == 0, f"{len(lost)} lost of {len(acked)} acknowledged"),
        ("no duplicate rows for one Idempotency-Key", len(dup) == 0, f"{len(dup)} duplicated"),
        ("no 5xx outside the PostgreSQL outage windows", len(five_out) == 0,
         f"{len(five_out)} outside, {len(five_in)} inside "
         + " and ".join(f"[{a:.1f}s, {b:.1f}s]" for a, b in windows)),
        ("every request answered outside the windows", len(noans_out) == 0, f"{len(noans_out)} without an answer"),
        ("/ready 200 \"degraded\" while Redis is down, on both",
         all(v["redis_down_200_degraded"] > 0 and v["redis_down_not_200"] == 0 for v in ready.values()),
         ", ".join(f"{k}: {v['redis_down_200_degraded']}/{v['redis_down_polls']} degraded, "
                   f"{v['redis_down_not_200']} not 200" for k, v in ready.items())),
        ("/ready 503 while PostgreSQL is down, on both", all(v["pg_down_503"] > 0 for v in ready.values()),
         ", ".join(f"{k}: {v['pg_down_503']}/{v['pg_down_polls']}" for k, v in ready.items())),
        ("/ready never 503 outside the windows", all(v["non200_outside_window"] == 0 for v in ready.values()),
         ", ".join(f"{k}: {v['non200_outside_window']}" for k, v in ready.items())),
        (f"/ready 200 on both within {RECOVERY_MAX:g} s of PostgreSQL returning",
         all(x is not None and x <= RECOVERY_MAX for x in rec_ready), f"{rec_ready} s"),
        (f"a write acknowledged by both within {RECOVERY_MAX:g} s of PostgreSQL returning",
         all(x is not None and x <= RECOVERY_MAX for x in rec_write), f"{rec_write} s"),
        ("writes acknowledged while Redis is down", redis_writes > 0, f"{redis_writes}"),
        ("Redis black-holed: no 5xx, every request answered",
         redis_hang["requests"] > 0 and redis_hang["5xx"] == 0 and redis_hang["no_answer"] == 0,
         f"{redis_hang['requests']} requests, {redis_hang['5xx']} 5xx, {redis_hang['no_answer']} without an answer; "
         f"p99 {redis_hang['p99_ms']} ms, max {redis_hang['max_ms']} ms"),
        ("/ready 200 while Redis is black-holed, on both",
         all(v["redis_hang_polls"] > 0 and v["redis_hang_not_200"] == 0 for v in ready.values()),
         ", ".join(f"{k}: {v['redis_hang_not_200']}/{v['redis_hang_polls']} not 200 (slowest "
                   f"{v['redis_hang_max_ms']} ms)" for k, v in ready.items())),
        (f"PostgreSQL black-holed: every request answered within {HANG_BOUND:g} s, its 5xx 503 problems",
         pg_hang["requests"] > 0 and pg_hang["no_answer"] == 0 and pg_hang["other_5xx"] == 0
         and pg_hang["over_bound"] == 0,
         f"{pg_hang['requests']} requests: {pg_hang['no_answer']} without an answer, {pg_hang['over_bound']} "
         f"over {HANG_BOUND:g} s, {pg_hang['503_problem']} 503 problems, {pg_hang['other_5xx']} other 5xx; "
         f"failed p99 {pg_hang['failed_p99_ms']} ms max {pg_hang['failed_max_ms']} ms; first 503 "
         f"{pg_hang['first_503_after_start_s']} s after the start"),
        (f"/ready 503 within {HANG_BOUND:g} s of PostgreSQL's black hole, on both",
         all(v["pg_hang_first_503_s"] is not None and v["pg_hang_first_503_s"] <= HANG_BOUND for v in ready.values()),
         ", ".join(f"{k}: {v['pg_hang_first_503_s']} s" for k, v in ready.items())),
        (f"RSS growth during the hangs under {RSS_GROWTH_MAX:g} MiB",
         bool(growths) and all(g is not None and g < RSS_GROWTH_MAX for g in growths),
         ", ".join(f"{k}: +{m['redis_hang_growth_mib']} MiB (Redis), +{m['pg_hang_growth_mib']} MiB (PostgreSQL) over "
                   f"{m['before_first_fault_peak_mib']} MiB" for k, m in memory.items())
         + f"; client at most {MAX_IN_FLIGHT} requests in flight (bounded: {WORKERS + len(instances)})"),
        (f"/ready 200 \"ready\" and a write acknowledged on both within {RECOVERY_MAX:g} s of Redis resuming",
         all(v[k] is not None and v[k] <= RECOVERY_MAX for v in ready.values()
             for k in ("redis_resume_ready_s", "redis_resume_write_s")),
         ", ".join(f"{k}: /ready {v['redis_resume_ready_s']} s, 201 {v['redis_resume_write_s']} s"
                   for k, v in ready.items())),
        (f"/ready 200 and a write acknowledged on both within {RECOVERY_MAX:g} s of PostgreSQL resuming",
         all(v[k] is not None and v[k] <= RECOVERY_MAX for v in ready.values()
             for k in ("pg_resume_ready_s", "pg_resume_write_s")),
         ", ".join(f"{k}: /ready {v['pg_resume_ready_s']} s, 201 {v['pg_resume_write_s']} s"
                   for k, v in ready.items())),
        (f"a write held by a key left in progress acknowledged within {RETRY_MAX:g} s of the outage's end",
         held_unacked == 0 and all(x < RETRY_MAX for x in held_after_s),
         f"{len(held_after)} writes held after an outage; slowest "
         + (f"{max(held_after_s):.2f} s" if held_after_s else "-") + f", {held_unacked} never acknowledged"),
        ("every retried write resolved", outcomes.get("unresolved", 0) == 0,
         f"{outcomes.get('unresolved', 0)} still unanswered after the {SETTLE:g} s settle"),
        ("no unexpected 4xx, no acknowledged row unreadable", len(load.issues) == 0, f"{len(load.issues)}"),
        ("no event over capacity", not over, f"{len(over)}"),
    ]
    fig["criteria"] = [{"criterion": c, "pass": bool(ok), "value": v} for c, ok, v in crit]
    fig["pass"] = all(ok for _, ok, _ in crit)
    return fig


def print_figures(fig, info):
    p = lambda s="": print(s, flush=True)
    p()
    p(f"Fault soak {info['run']}  ({info['muster_version']}; {info['machine']})")
    p(f"timeline: warm-up {WARMUP:g}s, Redis killed {REDIS_DOWN:g}s, then {BETWEEN:g}s, PostgreSQL stopped "
      f"({PG_STOP_MODE}) {PG_DOWN:g}s, then {BETWEEN:g}s, Redis black-holed {REDIS_HANG:g}s, then {BETWEEN:g}s, "
      f"PostgreSQL black-holed {PG_HANG:g}s, then {AFTER:g}s; {WORKERS} workers at {RATE:g} req/s offered, "
      f"{READ_PCT:g}% reads; 2 instances; acquire timeout {ACQUIRE_TIMEOUT}, statement timeout {STATEMENT_TIMEOUT}"
      + ("" if info["config"]["binary_knows_db_statement_timeout"] else " (not known to this binary)"))
    w = fig["window"]
    p(f"outage window: {w['pg_stop_s']}s (stop issued) .. {w['pg_up_s']}s (PostgreSQL accepting) "
      f"+ {w['grace_s']:g}s = {w['end_s']}s")
    w = fig["windows"][1]
    p(f"outage window: {w['from_s']}s (black hole) .. {w['postgres_back_s']}s (resumed) "
      f"+ {RECOVERY_MAX:g}s = {w['to_s']}s")
    p()
    cols = ["phase", "requests", "2xx", "4xx", "5xx", "no_answer", "writes_201", "p50_ms", "p99_ms", "p99_2xx_ms",
            "p50_5xx_ms"]
    rows = [[str(r[c]) if r[c] is not None else "-" for c in cols] for r in fig["phases"]]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
    p("  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(cols)))
    for r in rows:
        p("  ".join(x.ljust(widths[i]) if i == 0 else x.rjust(widths[i]) for i, x in enumerate(r)))
    p(f"status codes: {fig['status_counts']}")
    e = fig["errors"]
    p(f"5xx: {e['5xx_in_window']} in the window ({e['500_in_window']} of them 500), {e['5xx_outside_window']} outside; "
      f"no answer: {e['no_answer_in_window']} in, {e['no_answer_outside_window']} outside; last error after "
      f"PostgreSQL returned: " + ("none" if e['last_error_after_pg_up_s'] is None else
                                   f"{e['last_error_after_pg_up_s']}s"))
    wr = fig["writes"]
    p(f"writes: {wr['logical']} logical ({wr['by_kind']}), {wr['attempts']} attempts, {wr['retried']} retried "
      f"(max {wr['max_attempts']} attempts, retried p50 {wr['retried_write_p50_s']}s max {wr['retried_write_max_s']}s); "
      f"acked {wr['acked']} ({wr['acked_replayed']} replayed); outcomes {wr['outcomes']}")
    p(f"        held by a key left 'in progress' (409 + Retry-After): {wr['held_by_unfinished_key']} writes, "
      f"{wr['held_after_an_outage']} after an outage"
      + (f", acknowledged {wr['held_resolved_after_outage_end_p50_s']}s (p50) .. "
         f"{wr['held_resolved_after_outage_end_max_s']}s (max) after the outage's end"
         if wr['held_resolved_after_outage_end_max_s'] is not None else "")
      + (f", {wr['held_after_an_outage_unacked']} of them never acknowledged"
         if wr['held_after_an_outage_unacked'] else ""))
    p(f"        LOST {wr['lost']}, duplicates {wr['duplicates']}, unacknowledged but stored {wr['unacked_but_stored']}, "
      f"acked during the Redis outage {wr['acked_during_redis_outage']}, idempotency keys left unfinished "
      f"{wr['idempotency_keys_unfinished']}; rows {wr['rows_in_db']}")
    for name, r in fig["readiness"].items():
        trans = " -> ".join(f"{t['status'] or 'x'} {t['detail']}@{t['t_s']}" for t in r["transitions"])
        p(f"/ready {name}: {r['polls']} polls; {trans}")
        p(f"        recovery after PostgreSQL returned: /ready {r['ready_recovery_s']}s, first 201 "
          f"{r['write_recovery_s']}s; first 503 {r['first_503_after_pg_stop_s']}s after the stop; "
          f"exit on SIGTERM: {r['exit_code_on_sigterm']}")
        p(f"        Redis black-holed: {r['redis_hang_not_200']}/{r['redis_hang_polls']} polls not 200 (slowest "
          f"{r['redis_hang_max_ms']} ms); after the resume /ready \"ready\" {r['redis_resume_ready_s']}s, first 201 "
          f"{r['redis_resume_write_s']}s")
        p(f"        PostgreSQL black-holed: first 503 {r['pg_hang_first_503_s']}s after the start, "
          f"{r['pg_hang_503']}/{r['pg_hang_polls']} polls 503; after the resume /ready 200 "
          f"{r['pg_resume_ready_s']}s, first 201 {r['pg_resume_write_s']}s")
    h = fig["redis_hang"]
    p(f"Redis black-holed [{h['from_s']}s, {h['to_s']}s]: {h['requests']} requests, {h['5xx']} 5xx, "
      f"{h['no_answer']} without an answer; latency p50 {h['p50_ms']} ms, p99 {h['p99_ms']} ms, max {h['max_ms']} ms")
    h = fig["pg_hang"]
    p(f"PostgreSQL black-holed [{h['from_s']}s, {h['to_s']}s]: {h['requests']} requests, {h['2xx']} 2xx, "
      f"{h['503_problem']} 503 problems, {h['other_5xx']} other 5xx, {h['no_answer']} without an answer, "
      f"{h['over_bound']} answered after more than {h['bound_s']:g} s; failed: p99 {h['failed_p99_ms']} ms, max "
      f"{h['failed_max_ms']} ms; all: p99 {h['all_p99_ms']} ms, max {h['all_max_ms']} ms; first 503 "
      f"{h['first_503_after_start_s']}s after the start")
    for name, m in fig["memory"].items():
        p(f"memory {name}: RSS peak {m['before_first_fault_peak_mib']} MiB before the first fault, "
          f"{m['redis_hang_peak_mib']} MiB Redis black-holed, {m['pg_hang_peak_mib']} MiB PostgreSQL black-holed, "
          f"{m['soak_peak_mib']} MiB in all, {m['last_mib']} MiB at the end; threads {m['threads_before_max']} / "
          f"{m['redis_hang_threads_max']} / {m['pg_hang_threads_max']}, descriptors {m['fds_before_max']} / "
          f"{m['redis_hang_fds_max']} / {m['pg_hang_fds_max']} (before / Redis hang / PostgreSQL hang)")
    c = fig["client"]
    p(f"client: at most {c['max_in_flight']} requests in flight (bounded at {c['bound']}: {c['note']}); proxies: "
      + "; ".join(f"{k} {v}" for k, v in fig["proxies"].items()))
    if fig["issues"]:
        p(f"issues ({fig['issue_count']}): " + json.dumps(fig["issues"][:5]))
    if e["outside_window_examples"]:
        p("errors outside the window (first 5): " + json.dumps(e["outside_window_examples"][:5]))
    p()
    for c in fig["criteria"]:
        p(f"  {'PASS' if c['pass'] else 'FAIL'}  {c['criterion']}: {c['value']}")
    p()
    p(("PASS" if fig["pass"] else "FAIL") + f"  (figures: {JSON_OUT})")


# ------------------------------------------------------------------ main
def main():
    os.makedirs(RESULTS, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="muster-soak-")
    pg = redis = None
    instances, proxies, rss = [], [], []
    stop_ready = threading.Event()
    code = 2
    try:
        log(f"run {RUN}, seed {SEED}; logs in {RESULTS}; scratch {tmp}")
        pg = Postgres(tmp)
        pg.init()
        pg.start()
        log(f"private PostgreSQL on 127.0.0.1:{pg.port} (pid {pg.pid()})")
        pg.psql(f"CREATE DATABASE {DB}", db="postgres")
        redis = Redis(os.path.join(RESULTS, "redis.log"))
        redis.start()
        log(f"private Redis on 127.0.0.1:{redis.port} (pid {redis.proc.pid})")
        # the instances reach both through a proxy that can hang (the checks here go direct)
        pg_proxy, redis_proxy = HangProxy("postgres", pg.port), HangProxy("redis", redis.port)
        proxies = [pg_proxy, redis_proxy]
        log(f"proxies: PostgreSQL 127.0.0.1:{pg_proxy.port}, Redis 127.0.0.1:{redis_proxy.port}")

        base_env = {k: v for k, v in os.environ.items() if not k.startswith("MUSTER_")}
        base_env.update({
            "MUSTER_DATABASE_URL": f"postgres://postgres@127.0.0.1:{pg_proxy.port}/{DB}",
            "MUSTER_REDIS_URL": f"redis://127.0.0.1:{redis_proxy.port}",
            "MUSTER_JWT_SECRET": JWT_SECRET, "MUSTER_RATE_LIMIT": "100000/s",
            "MUSTER_DB_ACQUIRE_TIMEOUT": ACQUIRE_TIMEOUT, "MUSTER_DB_STATEMENT_TIMEOUT": STATEMENT_TIMEOUT,
            "MUSTER_LISTEN": "127.0.0.1:0",
            "MUSTER_ADMIN_LISTEN": "127.0.0.1:0", "MUSTER_LOG": "info", "MUSTER_LOG_FORMAT": "json",
        })
        # a binary from before that setting ignores the variable (unknown MUSTER_* variables are
        # not an error); its settings table is in the binary, so look there
        statement_known = binary_has(MUSTER, b"MUSTER_DB_STATEMENT_TIMEOUT")
        if not statement_known:
            log("this binary does not know MUSTER_DB_STATEMENT_TIMEOUT: PostgreSQL's hang is bounded "
                "only by its other timeouts")
        mig = subprocess.run([MUSTER, "migrate"], env=base_env, cwd=tmp, capture_output=True, text=True, timeout=120)
        if mig.returncode != 0:
            raise SetupError(f"muster migrate failed: {mig.stderr.strip()[-500:]}")
        tok = subprocess.run([MUSTER, "token", "--sub", SUB, "--scope", "read write", "--ttl", "2h"], env=base_env,
                             cwd=tmp, capture_output=True, text=True, timeout=60)
        if tok.returncode != 0:
            raise SetupError(f"muster token failed: {tok.stderr.strip()}")
        token = tok.stdout.strip()
        version = subprocess.run([MUSTER, "--version"], capture_output=True, text=True).stdout.strip()

        for name in ("a", "b"):
            inst = Muster(name, base_env, RESULTS)
            inst.start(tmp)  # cwd without a muster.toml
            instances.append(inst)
        for inst in instances:
            inst.wait_listening()
            log(f"muster {inst.name}: 127.0.0.1:{inst.port} (pid {inst.proc.pid}, admin {inst.admin})")
        wait_ready(instances)

        rng = random.Random(SEED)
        c = Client(instances[0], token)
        cand = api(c, "POST", "/v1/candidates", {"name": f"Soak {RUN}", "office": "Mayor"})["id"]
        events = []
        for i, cap in enumerate([20, 50, None, None]):
            ev = api(c, "POST", "/v1/events", {"candidate_id": cand, "title": f"soak {RUN} setup {i}",
                                                "event_type": "canvass", "starts_at": "2027-02-01T14:00:00Z",
                                                "ends_at": "2027-02-01T17:00:00Z", "capacity": cap})
            events.append((ev["id"], cap))
        c.close()

        load = Load(instances, token, cand, events, rng)
        marks = {}

        def mark(name):
            marks[name] = now()
            log(name.replace("_", " "))

        pollers = [threading.Thread(target=ready_poller, args=(i, stop_ready), daemon=True) for i in instances]
        pollers.append(threading.Thread(target=rss_sampler, args=(instances, proxies, stop_ready, rss), daemon=True))
        workers = [threading.Thread(target=load.worker, args=(i,), daemon=True) for i in range(WORKERS)]
        reset_clock()
        for t in pollers + workers:
            t.start()
        mark("load_start")
        time.sleep(WARMUP)
        mark("redis_kill")
        redis.kill()
        time.sleep(REDIS_DOWN)
        mark("redis_start")
        redis.start()
        mark("redis_up")
        time.sleep(BETWEEN)
        mark("pg_stop")
        pg.stop(PG_STOP_MODE)
        mark("pg_stopped")
        time.sleep(max(0.0, PG_DOWN - (marks["pg_stopped"] - marks["pg_stop"])))
        mark("pg_start")
        back, stop_watch = {}, threading.Event()
        watcher = threading.Thread(target=pg.watch_return, args=(back, stop_watch), daemon=True)
        watcher.start()
        pg.start()
        mark("pg_ctl_start_returned")
        watcher.join(10)
        stop_watch.set()
        # "PostgreSQL returned": the first session that got through began then; pg_ctl -w only
        # looks every 0.1 s, so its return may be later
        marks["pg_up"] = min(back.get("t", marks["pg_ctl_start_returned"]), marks["pg_ctl_start_returned"])
        log(f"pg up (accepting sessions from +{marks['pg_up']:.3f}s)")
        time.sleep(BETWEEN)
        # faults that hang: nothing forwarded, nothing closed (the mark comes first: the hang
        # begins after it; the resume's mark too: the outage ends after it, never before)
        mark("redis_hang")
        redis_proxy.hang()
        time.sleep(REDIS_HANG)
        mark("redis_resume")
        redis_proxy.resume()
        time.sleep(BETWEEN)
        mark("pg_hang")
        pg_proxy.hang()
        time.sleep(PG_HANG)
        mark("pg_resume")
        pg_proxy.resume()
        time.sleep(AFTER)
        load.settle_deadline = now() + SETTLE
        load.stop.set()
        mark("load_stop")
        for t in workers:
            t.join(SETTLE + HTTP_TIMEOUT + 10)
        mark("settled")
        stop_ready.set()
        for t in pollers:
            t.join(HTTP_TIMEOUT + 5)
        duration = now()
        log(f"{len(REQS)} requests; {len(load.writes)} logical writes; stopping muster (SIGTERM)")
        for inst in instances:
            inst.terminate()

        db = {
            "volunteers": pg.psql(f"SELECT id, email_normalized FROM volunteers WHERE email_normalized LIKE 'soak-{RUN}-%'"),
            "events": pg.psql(f"SELECT id, title FROM events WHERE title LIKE 'soak {RUN} e%'"),
            "attendances": pg.psql("SELECT id, event_id, volunteer_id FROM attendances"),
            "seats": pg.psql("SELECT event_id, count(*) FROM attendances WHERE status IN ('registered', 'attended') "
                             "GROUP BY event_id"),
            "keys_unfinished": int(pg.psql(f"SELECT count(*) FROM idempotency_keys WHERE key LIKE 'soak-{RUN}-%' "
                                           "AND response IS NULL")[0][0]),
        }
        fig = analyse(marks, load, instances, db, duration, rss, proxies)
        machine = f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"
        info = {"run": RUN, "seed": SEED, "date_utc": STAMP, "muster_version": version, "machine": machine,
                "muster_bin": MUSTER,
                "config": {"scale": SCALE, "warmup_s": WARMUP, "redis_down_s": REDIS_DOWN, "between_s": BETWEEN,
                           "pg_down_s": PG_DOWN, "redis_hang_s": REDIS_HANG, "pg_hang_s": PG_HANG,
                           "after_s": AFTER, "settle_max_s": SETTLE, "workers": WORKERS,
                           "rate": RATE, "read_pct": READ_PCT, "mix": MIX, "recovery_max_s": RECOVERY_MAX,
                           "retry_max_s": RETRY_MAX, "rss_growth_max_mib": RSS_GROWTH_MAX,
                           "pg_stop_mode": PG_STOP_MODE, "db_acquire_timeout": ACQUIRE_TIMEOUT,
                           "db_statement_timeout": STATEMENT_TIMEOUT,
                           "binary_knows_db_statement_timeout": statement_known, "hang_bound_s": HANG_BOUND,
                           "http_timeout_s": HTTP_TIMEOUT, "postgres_bin": pg.bin},
                "marks_s": {k: round(v, 3) for k, v in marks.items()}, "duration_s": round(duration, 2),
                "logs": RESULTS}
        with open(JSON_OUT, "w") as f:
            json.dump({**info, **fig}, f, indent=1, default=str)
        with open(os.path.join(RESULTS, "requests.jsonl"), "w") as f:
            for r in REQS:
                f.write(json.dumps(r) + "\n")
        with open(os.path.join(RESULTS, "rss.jsonl"), "w") as f:
            for x in rss:
                f.write(json.dumps(x) + "\n")
        with open(os.path.join(RESULTS, "ready.jsonl"), "w") as f:
            for inst in instances:
                for s in inst.ready:
                    f.write(json.dumps({"inst": inst.name, "t0": s[0], "t1": s[1], "status": s[2], "detail": s[3]})
                            + "\n")
        print_figures(fig, info)
        code = 0 if fig["pass"] else 1
    except SetupError as e:
        log(f"SETUP FAILED: {e}")
        code = 2
    except KeyboardInterrupt:
        log("interrupted")
        code = 130
    finally:
        stop_ready.set()
        for inst in instances:
            try:
                inst.terminate(timeout=10)
            except Exception as e:  # noqa: BLE001 - cleanup goes on
                log(f"stopping muster {inst.name}: {e}")
        for p in proxies:
            p.close()
        if redis:
            redis.kill()
        if pg and pg.pid():
            try:
                pg.stop("immediate")
            except Exception as e:  # noqa: BLE001
                log(f"stopping the private PostgreSQL: {e}")
        if pg and os.path.exists(pg.logfile):
            shutil.copy(pg.logfile, os.path.join(RESULTS, "postgres.log"))
        if KEEP_TMP:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return code


if __name__ == "__main__":
    def on_term(*_):
        raise KeyboardInterrupt  # clean up as on Ctrl-C

    signal.signal(signal.SIGTERM, on_term)
    sys.exit(main())
