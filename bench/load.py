"""Load from another process on loopback: wrk when it can be had, else a small threaded Python
load generator (slower; the report says which one was used).

A run sends a rotating list of requests (each with its own session cookie, method and body, and
`Accept-Encoding` as a browser sends it) and returns requests/s, latency percentiles, a count of
responses by status class, and the sums of the X-Bench-* headers the app server adds in bench
mode (bench/measure.py: CPU, queries, rows, decryptions per request) and of the body bytes.

`run_python` (one keep-alive connection per thread, http.client) also keeps every latency: the
runner uses it for the p95 figures, so that short interleaved slices can be pooled.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class Req:
    path: str
    method: str = "GET"
    headers: dict = field(default_factory=dict)
    body: str = ""


# What Chromium sends: the app compresses pages for browsers (django.middleware.gzip).
ACCEPT_ENCODING = "gzip, deflate, br, zstd"

# X-Bench-* header -> key in Result.bench (bench/measure.py)
BENCH_HEADERS = {
    "X-Bench-CPU-ms": "cpu_ms",
    "X-Bench-Queries": "queries",
    "X-Bench-Rows": "rows",
    "X-Bench-Decrypts": "decrypts",
    "X-Bench-Encrypts": "encrypts",
}


def with_browser_headers(r: Req) -> Req:
    return Req(r.path, r.method, {"Accept-Encoding": ACCEPT_ENCODING, **r.headers}, r.body)


@dataclass
class Result:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    status: dict  # "2xx", "3xx", "4xx", "5xx" -> count
    socket_errors: int
    tool: str
    # Sums over the responses that carried X-Bench-* headers ("n" of them), plus "bytes" of body
    # as sent (compressed when the server compressed it).
    bench: dict = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)  # seconds; run_python only

    @property
    def ok(self) -> bool:
        return not any(self.status.get(k) for k in ("3xx", "4xx", "5xx")) and not self.socket_errors

    def per_request(self, key: str) -> float | None:
        """The mean of an X-Bench-* figure (or "bytes") per response, None when not measured."""
        if key == "bytes":
            return self.bench.get("bytes", 0) / self.requests if self.requests else None
        n = self.bench.get("n", 0)
        return self.bench.get(key, 0) / n if n else None


_WRK: str | None | bool = False  # False: not looked for yet


def ensure_wrk(log=print) -> str | None:
    """The wrk binary, installing Debian's package once if it is missing (root only)."""
    global _WRK
    if _WRK is not False:
        return _WRK  # type: ignore[return-value]
    path = shutil.which("wrk")
    if path is None and os.environ.get("KAP_BENCH_NO_INSTALL") != "1" and shutil.which("apt-get"):
        log("wrk is missing: installing it with `apt-get install -y wrk` (Debian package wrk)")
        cmd = ["apt-get", "install", "-y", "--no-install-recommends", "wrk"]
        if os.geteuid() != 0 and shutil.which("sudo"):
            cmd = ["sudo", "-n", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            subprocess.run(["apt-get", "update"], capture_output=True)
            proc = subprocess.run(cmd, capture_output=True, text=True)
        installed = [
            ln for ln in proc.stdout.splitlines() if ln.startswith(("Setting up", "Unpacking"))
        ]
        for line in installed:
            log(f"  apt-get: {line}")
        path = shutil.which("wrk")
        if path is None:
            log("  could not install wrk; falling back to the Python load generator")
    _WRK = path
    return path


def _lua_str(s: str) -> str:
    level = "=" * 4
    assert f"]{level}]" not in s
    return f"[{level}[{s}]{level}]"


LUA = r"""
local reqs = {%(reqs)s}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  s2, s3, s4, s5 = 0, 0, 0, 0
  bn, bcpu, bq, brows, bdec, benc, bbytes = 0, 0, 0, 0, 0, 0, 0
  formatted = {}
  for i, r in ipairs(reqs) do formatted[i] = wrk.format(r[1], r[2], r[3], r[4]) end
  n = 0
end
function request()
  n = n + 1
  return formatted[(n %% #formatted) + 1]
end
function response(status, headers, body)
  if status >= 500 then s5 = s5 + 1 elseif status >= 400 then s4 = s4 + 1
  elseif status >= 300 then s3 = s3 + 1 else s2 = s2 + 1 end
  bbytes = bbytes + #body
  local cpu = headers["X-Bench-CPU-ms"]
  if cpu then
    bn = bn + 1
    bcpu = bcpu + tonumber(cpu)
    bq = bq + tonumber(headers["X-Bench-Queries"] or 0)
    brows = brows + tonumber(headers["X-Bench-Rows"] or 0)
    bdec = bdec + tonumber(headers["X-Bench-Decrypts"] or 0)
    benc = benc + tonumber(headers["X-Bench-Encrypts"] or 0)
  end
end
function done(summary, latency, requests)
  local c = {0, 0, 0, 0}
  local b = {0, 0, 0, 0, 0, 0, 0}
  local names = {"bn", "bcpu", "bq", "brows", "bdec", "benc", "bbytes"}
  for _, t in ipairs(threads) do
    c[1] = c[1] + t:get("s2"); c[2] = c[2] + t:get("s3")
    c[3] = c[3] + t:get("s4"); c[4] = c[4] + t:get("s5")
    for i, name in ipairs(names) do b[i] = b[i] + t:get(name) end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%%d,"duration_us":%%d,"p50":%%d,"p95":%%d,"p99":%%d,"mean":%%f,"max":%%d,' ..
    '"s2":%%d,"s3":%%d,"s4":%%d,"s5":%%d,"connect":%%d,"read":%%d,"write":%%d,"timeout":%%d,' ..
    '"n":%%d,"cpu_ms":%%f,"queries":%%d,"rows":%%d,"decrypts":%%d,"encrypts":%%d,"bytes":%%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.mean, latency.max, c[1], c[2], c[3], c[4],
    e.connect, e.read, e.write, e.timeout, b[1], b[2], b[3], b[4], b[5], b[6], b[7]))
end
"""


def _lua(reqs: list[Req]) -> str:
    rows = []
    for r in reqs:
        headers = ", ".join(f"[ {_lua_str(k)} ] = {_lua_str(v)}" for k, v in r.headers.items())
        body = _lua_str(r.body) if r.body else "nil"
        rows.append(f"{{{_lua_str(r.method)}, {_lua_str(r.path)}, {{{headers}}}, {body}}}")
    return LUA % {"reqs": ",\n".join(rows)}


def run(
    base: str, reqs: list[Req], *, seconds: float, connections: int, threads: int = 1
) -> Result:
    reqs = [with_browser_headers(r) for r in reqs]
    wrk = ensure_wrk()
    if wrk:
        return _run_wrk(wrk, base, reqs, seconds, connections, threads)
    return run_python(base, reqs, seconds=seconds, connections=connections)


def _run_wrk(wrk, base, reqs, seconds, connections, threads) -> Result:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(_lua(reqs))
        script = f.name
    try:
        proc = subprocess.run(
            [
                wrk,
                f"-t{max(1, min(threads, connections))}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "30s",
                "-s",
                script,
                base,
            ],
            capture_output=True,
            text=True,
        )
    finally:
        os.unlink(script)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCHJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {proc.stdout}\n{proc.stderr}")
    d = json.loads(line[len("BENCHJSON ") :])
    secs = d["duration_us"] / 1e6
    return Result(
        requests=d["requests"],
        seconds=secs,
        rps=d["requests"] / secs,
        p50_ms=d["p50"] / 1000,
        p95_ms=d["p95"] / 1000,
        p99_ms=d["p99"] / 1000,
        mean_ms=d["mean"] / 1000,
        max_ms=d["max"] / 1000,
        status={"2xx": d["s2"], "3xx": d["s3"], "4xx": d["s4"], "5xx": d["s5"]},
        socket_errors=d["connect"] + d["read"] + d["write"] + d["timeout"],
        tool="wrk",
        bench={
            k: d[k] for k in ("n", "cpu_ms", "queries", "rows", "decrypts", "encrypts", "bytes")
        },
    )


def run_python(
    base: str, reqs: list[Req], *, seconds: float, connections: int = 1, min_requests: int = 0
) -> Result:
    """One thread per connection, HTTP/1.1 keep-alive, same rotation as the Lua. Runs for
    `seconds`, and on until `min_requests` responses have come back (all connections together)."""
    reqs = [with_browser_headers(r) for r in reqs]
    parts = urlsplit(base)
    deadline = time.perf_counter() + seconds
    lat: list[float] = []
    status = {"2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0}
    bench = {"n": 0, "bytes": 0, **{k: 0 for k in BENCH_HEADERS.values()}}
    errors = [0]
    done = [0]
    lock = threading.Lock()

    def worker(offset: int):
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        n = offset
        mine, counts = [], {"2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0}
        sums = dict.fromkeys(bench, 0)
        while time.perf_counter() < deadline or done[0] < min_requests:
            r = reqs[n % len(reqs)]
            n += 1
            t = time.perf_counter()
            try:
                conn.request(r.method, r.path, body=r.body or None, headers=r.headers)
                resp = conn.getresponse()
                body = resp.read()
            except (OSError, http.client.HTTPException):
                with lock:
                    errors[0] += 1
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
                if errors[0] > 1000:
                    break
                continue
            mine.append(time.perf_counter() - t)
            with lock:
                done[0] += 1
            counts[f"{resp.status // 100}xx"] = counts.get(f"{resp.status // 100}xx", 0) + 1
            sums["bytes"] += len(body)
            if resp.getheader("X-Bench-CPU-ms") is not None:
                sums["n"] += 1
                for header, key in BENCH_HEADERS.items():
                    sums[key] += float(resp.getheader(header) or 0)
        conn.close()
        with lock:
            lat.extend(mine)
            for k, v in counts.items():
                status[k] = status.get(k, 0) + v
            for k, v in sums.items():
                bench[k] += v

    started = time.perf_counter()
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    took = time.perf_counter() - started
    raw = list(lat)
    lat.sort()

    return Result(
        requests=len(lat),
        seconds=took,
        rps=len(lat) / took,
        p50_ms=percentile(lat, 50),
        p95_ms=percentile(lat, 95),
        p99_ms=percentile(lat, 99),
        mean_ms=sum(lat) / len(lat) * 1000 if lat else 0.0,
        max_ms=lat[-1] * 1000 if lat else 0.0,
        status=status,
        socket_errors=errors[0],
        tool="python",
        bench=bench,
        latencies=raw,
    )


def percentile(ordered: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of sorted latencies in seconds, in milliseconds."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1] * 1000
