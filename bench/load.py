"""Load from another process on loopback: wrk when it can be had, else a small threaded Python
load generator (slower; the report says which one was used).

A run sends a rotating list of requests (each with its own session cookie, method and body) and
returns requests/s, latency percentiles and a count of responses by status class.
"""

from __future__ import annotations

import http.client
import json
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

    @property
    def ok(self) -> bool:
        return not any(self.status.get(k) for k in ("3xx", "4xx", "5xx")) and not self.socket_errors


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
end
function done(summary, latency, requests)
  local c = {0, 0, 0, 0}
  for _, t in ipairs(threads) do
    c[1] = c[1] + t:get("s2"); c[2] = c[2] + t:get("s3")
    c[3] = c[3] + t:get("s4"); c[4] = c[4] + t:get("s5")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%%d,"duration_us":%%d,"p50":%%d,"p95":%%d,"p99":%%d,"mean":%%f,"max":%%d,' ..
    '"s2":%%d,"s3":%%d,"s4":%%d,"s5":%%d,"connect":%%d,"read":%%d,"write":%%d,"timeout":%%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.mean, latency.max, c[1], c[2], c[3], c[4],
    e.connect, e.read, e.write, e.timeout))
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
    wrk = ensure_wrk()
    if wrk:
        return _run_wrk(wrk, base, reqs, seconds, connections, threads)
    return _run_python(base, reqs, seconds, connections)


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
    )


def _run_python(base, reqs, seconds, connections) -> Result:
    """Fallback: one thread per connection, HTTP/1.1 keep-alive, same rotation as the Lua."""
    parts = urlsplit(base)
    deadline = time.perf_counter() + seconds
    lat: list[float] = []
    status = {"2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0}
    errors = [0]
    lock = threading.Lock()

    def worker(offset: int):
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        n = offset
        mine, counts = [], {"2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0}
        while time.perf_counter() < deadline:
            r = reqs[n % len(reqs)]
            n += 1
            t = time.perf_counter()
            try:
                conn.request(r.method, r.path, body=r.body or None, headers=r.headers)
                resp = conn.getresponse()
                resp.read()
            except (OSError, http.client.HTTPException):
                errors[0] += 1
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
                continue
            mine.append(time.perf_counter() - t)
            counts[f"{resp.status // 100}xx"] = counts.get(f"{resp.status // 100}xx", 0) + 1
        with lock:
            lat.extend(mine)
            for k, v in counts.items():
                status[k] = status.get(k, 0) + v

    started = time.perf_counter()
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    took = time.perf_counter() - started
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1000 if lat else 0.0

    return Result(
        requests=len(lat),
        seconds=took,
        rps=len(lat) / took,
        p50_ms=pct(50),
        p95_ms=pct(95),
        p99_ms=pct(99),
        mean_ms=sum(lat) / len(lat) * 1000 if lat else 0.0,
        max_ms=lat[-1] * 1000 if lat else 0.0,
        status=status,
        socket_errors=errors[0],
        tool="python",
    )
