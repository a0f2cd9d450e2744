"""`make bench`: serve the seeded databases under gunicorn, load them from another process on
loopback, and print each figure beside its baseline measured in the same run.

Needs `kap bench seed` first (see bench/README.md). Writes the table into bench/RESULTS.md
between the generated-section markers; what is written around them (analysis, before/after) is
kept. Prints figures; never fails for being slow (exit 1 only when it could not measure at all).

Environment: KAP_BENCH_SECONDS (each load run, default 10), KAP_BENCH_ONLY (comma-separated
sections: sqlite, inprocess, pdf, clinic, servers, browser), KAP_BENCH_DIR, KAP_BENCH_PG.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from bench import common, load
from bench.load import Req

SECONDS = float(os.environ.get("KAP_BENCH_SECONDS", "10"))
ONLY = {s for s in os.environ.get("KAP_BENCH_ONLY", "").split(",") if s}
NPROC = os.cpu_count() or 1
RUN = common.DATA / "run"
RESULTS = common.BENCH / "RESULTS.md"
BEGIN, END = "<!-- results:begin (written by bench/run.py) -->", "<!-- results:end -->"
GUNICORN = Path(sys.executable).parent / "gunicorn"
POOL_SIZE = int(os.environ.get("KAP_DB_POOL_SIZE", "8"))
SINCE_EVER = "1990-01-01"


def say(text: str = "") -> None:
    print(text, flush=True)


def wanted(section: str) -> bool:
    return not ONLY or section in ONLY


# --- Figures ------------------------------------------------------------------------------------


@dataclass
class Figure:
    name: str
    value: str
    baseline: str
    ratio: str
    target: str
    verdict: str  # "met", "MISSED", "n/a"
    note: str = ""


@dataclass
class Report:
    figures: list[Figure] = field(default_factory=list)
    details: list[str] = field(default_factory=list)

    def add(self, *args, **kwargs) -> Figure:
        f = Figure(*args, **kwargs)
        self.figures.append(f)
        say(f"  -> {f.name}: {f.value} vs {f.baseline} ({f.ratio}); target {f.target}: {f.verdict}")
        return f

    def detail(self, text: str) -> None:
        self.details.append(text)
        say(text)


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "MISSED")


def ms(x: float) -> str:
    return f"{x:,.1f} ms" if x < 100 else f"{x:,.0f} ms"


def run_line(r: load.Result) -> str:
    s = ", ".join(f"{k} {v}" for k, v in r.status.items() if v)
    return (
        f"{r.requests:,} requests in {r.seconds:.1f} s = {r.rps:,.1f}/s; p50 {ms(r.p50_ms)}, "
        f"p95 {ms(r.p95_ms)}, p99 {ms(r.p99_ms)}, max {ms(r.max_ms)}; {s}"
        + (f"; socket errors {r.socket_errors}" if r.socket_errors else "")
    )


# --- Machine ------------------------------------------------------------------------------------


def machine() -> dict:
    cpu = "unknown"
    mem = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, AttributeError):
        pass
    import sqlite3

    import django

    pg = "unknown"
    try:
        import psycopg

        with psycopg.connect(f"{common.PG_BASE}/postgres") as c:
            pg = c.execute("SHOW server_version").fetchone()[0]
    except Exception as e:  # noqa: BLE001 - reported, not fatal
        pg = f"unavailable ({e.__class__.__name__})"
    wrk = load.ensure_wrk(say)
    wrk_version = ""
    if wrk:
        out = subprocess.run([wrk, "-v"], capture_output=True, text=True)
        wrk_version = (out.stdout + out.stderr).splitlines()[0] if (out.stdout + out.stderr) else ""
    return {
        "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "nproc": NPROC,
        "memory": mem,
        "cpu": cpu,
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python": platform.python_version(),
        "django": django.get_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": pg,
        "load generator": wrk_version or "Python threads (wrk unavailable)",
        "each load run": f"{SECONDS:g} s",
    }


# --- App servers --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """gunicorn as `kap serve` runs it, one worker per core, against one seeded database."""

    def __init__(self, name: str, target: str, data_dir: Path, **env: str):
        self.name, self.target, self.data_dir = name, target, data_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = RUN / f"{name}.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            str(GUNICORN),
            "kap.wsgi:application",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(NPROC),
            "--threads",
            "4",
            "--access-logfile",
            "-",
            "--access-logformat",
            '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms',
        ]
        if (common.ROOT / "kap" / "lib" / "gunicorn_logging.py").exists():
            cmd += ["--logger-class", "kap.lib.gunicorn_logging.RedactingLogger"]
        self.cmd = cmd
        self.env = common.env_for(target, data_dir_override=data_dir, **env)
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        self.logfile = open(self.log, "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=common.ROOT,
            env=self.env,
            stdout=self.logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.time() + 90
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.log}")
            try:
                with urllib.request.urlopen(self.base + "/login/", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        else:
            raise RuntimeError(f"{self.name} did not answer; see {self.log}")
        say(
            f"  {self.name}: gunicorn, {NPROC} workers × 4 threads, on {self.base} (log {self.log})"
        )
        return self

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # this gunicorn master only; it stops its workers
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logfile.close()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def tool(target: str, data_dir: Path, *args: str, timeout: float = 900) -> dict:
    proc = subprocess.run(
        [common.PYTHON, "-m", "bench.tool", *args],
        cwd=common.ROOT,
        env=common.env_for(target, data_dir_override=data_dir),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCHJSON ")), None)
    if proc.returncode or line is None:
        raise RuntimeError(
            f"bench.tool {args[0]} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
        )
    return json.loads(line[len("BENCHJSON ") :])


def fresh_sqlite(name: str) -> Path:
    """A scratch copy of the seeded one-person database, so every run starts from the seed."""
    src = common.data_dir("one-person") / "kap.sqlite3"
    dest = RUN / name
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    shutil.copy2(src, dest / "kap.sqlite3")
    return dest


def cookie(sid: str, **extra: str) -> dict:
    parts = [f"sessionid={sid}", *(f"{k}={v}" for k, v in extra.items())]
    return {"Cookie": "; ".join(parts)}


def bench_run(base: str, reqs: list[Req], *, latency: bool) -> load.Result:
    """Warm for a second, then measure. latency=True: one connection (service time, p95);
    otherwise saturate: two connections per core per thread of wrk."""
    conns, threads = (1, 1) if latency else (4 * NPROC, NPROC)
    warm = load.run(base, reqs, seconds=1, connections=conns, threads=threads)
    seconds = SECONDS
    if latency and warm.rps * SECONDS < 30:
        # A slow page: run longer (up to 3×) so that the p95 rests on 30 or more requests.
        seconds = min(3 * SECONDS, max(SECONDS, 30 / max(warm.rps, 0.1)))
    return load.run(base, reqs, seconds=seconds, connections=conns, threads=threads)


def ratio_text(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b else "–"


# --- SQLite: one person ---------------------------------------------------------------------------


def section(title: str) -> None:
    say(f"\n== {title} ==  (load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})")


def sqlite_section(report: Report, manifest: dict) -> None:
    section("One person on SQLite (laptop)")
    people = manifest["people"]
    ten, year, month = (people[k]["email"] for k in ("ten-years", "one-year", "one-month"))
    data_dir = fresh_sqlite("one-person")
    sessions = tool("one-person", data_dir, "sessions", ten, year, month)
    sid = {e: sessions[e]["sessionid"] for e in (ten, year, month)}
    with Server("sqlite-one-person", "one-person", data_dir) as srv:
        # Today vs the 12-row baseline, saturated.
        base = bench_run(
            srv.base, [Req("/bench/baseline/", headers=cookie(sid[ten]))], latency=False
        )
        today = bench_run(srv.base, [Req("/", headers=cookie(sid[ten]))], latency=False)
        report.detail(f"baseline 12-row view (10-year person): {run_line(base)}")
        report.detail(f"Today (10-year person): {run_line(today)}")
        r = today.rps / base.rps
        report.add(
            "Today page requests/s (SQLite, 10-year person)",
            f"{today.rps:,.1f}/s",
            f"{base.rps:,.1f}/s (12-row view, same DB and middleware)",
            f"{r:.2f}×",
            "≥ 0.8×",
            verdict(today.ok and base.ok and r >= 0.8),
            "" if today.ok and base.ok else "non-2xx responses: see details",
        )

        # p95 with 10 years vs one month, one connection (service time, no queueing).
        for label, path in (("Today", "/"), ("timeline", "/timeline/"), ("trends", "/progress/")):
            big = bench_run(srv.base, [Req(path, headers=cookie(sid[ten]))], latency=True)
            small = bench_run(srv.base, [Req(path, headers=cookie(sid[month]))], latency=True)
            report.detail(f"{label} p95, 10 years: {run_line(big)}")
            report.detail(f"{label} p95, one month: {run_line(small)}")
            r = big.p95_ms / small.p95_ms
            report.add(
                f"{label} p95 with 10 years of data (SQLite)",
                ms(big.p95_ms),
                f"{ms(small.p95_ms)} (one month)",
                f"{r:.2f}×",
                "≤ 1.3×",
                verdict(big.ok and small.ok and r <= 1.3),
            )

        # Search over one person's words.
        path = f"/timeline/?q={common.SEARCH_WORD}"
        big = bench_run(srv.base, [Req(path, headers=cookie(sid[ten]))], latency=True)
        small = bench_run(srv.base, [Req(path, headers=cookie(sid[month]))], latency=True)
        report.detail(f"search p95, 10 years: {run_line(big)}")
        report.detail(f"search p95, one month: {run_line(small)}")
        r = big.p95_ms / small.p95_ms
        report.add(
            "search p95 over one person's text, 10 years (SQLite)",
            ms(big.p95_ms),
            f"{ms(small.p95_ms)} (one month)",
            f"{r:.2f}×",
            "≤ 3× and < 100 ms",
            verdict(big.ok and small.ok and r <= 3 and big.p95_ms < 100),
        )

        if wanted("browser"):
            browser_pages(report, srv, sessions[ten], sid[ten], sid[month])

        # Writes last: they add drafts to this scratch copy.
        autosave_section(report, srv, sessions)


def autosave_section(report: Report, srv: Server, sessions: dict) -> None:
    token = secrets.token_hex(16)  # a 32-character CSRF secret, sent as cookie and header
    fields = {
        "experienced-or-noticed": "A long walk by the river; the light on the water. " * 6,
        "felt-different": "Less rushing, more noticing. " * 6,
        "insight-emerged": "I can pause before I answer. " * 6,
        "means-for-my-life": "More room for the people I love. " * 6,
        "might-do-next": "Walk after lunch\nCall my sister",
    }
    pairs = [(v["sessionid"], s) for v in sessions.values() for s in v["completed_sessions"]]
    headers = lambda sid: {  # noqa: E731
        **cookie(sid, csrftoken=token),
        "X-CSRFToken": token,
        "HX-Request": "true",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    body = lambda s: urlencode({"session": s, **fields})  # noqa: E731
    inserts = [Req("/bench/insert/", "POST", headers(sid), body(s)) for sid, s in pairs]
    saves = [
        Req("/i/integration-worksheet/autosave/", "POST", headers(sid), body(s)) for sid, s in pairs
    ]
    log_before = len(srv.log_text())
    base = bench_run(srv.base, inserts, latency=False)
    save = bench_run(srv.base, saves, latency=False)
    log = srv.log_text()[log_before:]
    locked = len(re.findall(r"database is locked", log, re.I))
    errors = len(re.findall(r"^\S.* ERROR ", log, re.M))
    report.detail(f"bare insert view: {run_line(base)}")
    report.detail(
        f"worksheet autosave ({len(pairs)} drafts of 3 people, rotating): {run_line(save)}; "
        f"'database is locked' in the server log: {locked}; ERROR lines: {errors}"
    )
    r = save.rps / base.rps
    report.add(
        "worksheet save requests/s (SQLite)",
        f"{save.rps:,.1f}/s, 5xx: {save.status['5xx']}, locked: {locked}",
        f"{base.rps:,.1f}/s (bare insert view)",
        f"{r:.2f}×",
        "≥ 0.5×, zero 'database is locked'",
        verdict(r >= 0.5 and locked == 0 and save.status["5xx"] == 0 and save.ok),
    )


def browser_pages(report: Report, srv: Server, person: dict, sid: str, sid_small: str) -> None:
    from bench import browser

    if not browser.CHROMIUM.exists():
        report.add("bytes on first visit", "not measured", "", "", "≤ 60 KB", "n/a", "no Chromium")
        return
    s = person["completed_sessions"][0]
    client_pages = [
        ("Today", "/"),
        ("timeline", "/timeline/"),
        ("search", f"/timeline/?q={common.SEARCH_WORD}"),
        ("trends", "/progress/"),
        ("summary form", "/progress/summary/"),
        ("sessions", "/sessions/"),
        ("session", f"/sessions/{s}/"),
        ("worksheet", f"/i/integration-worksheet/?session={s}"),
        ("PHQ-9", "/i/phq9/"),
        ("action steps", "/steps/"),
        ("practices", "/practices/"),
        ("grounding practice", "/practices/grounding/"),
        ("guide", "/guide/"),
        ("crisis", "/crisis/"),
    ]
    pages = [("log in (anonymous)", srv.base + "/login/", None)]
    pages += [(f"{label} (10 years)", srv.base + path, sid) for label, path in client_pages]
    pages += [
        (f"{label} (one month)", srv.base + path, sid_small) for label, path in client_pages[:4]
    ]
    visits = browser.visit_all(pages)
    BROWSER_VISITS.extend(("client", v) for v in visits)


BROWSER_VISITS: list[tuple[str, object]] = []


def browser_figures(report: Report) -> None:
    if not BROWSER_VISITS:
        return
    visits = [v for _, v in BROWSER_VISITS]
    rows = [
        "| page | status | responses | total | JS | CSS | HTML | other origins |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for v in visits:
        rows.append(
            f"| {v.label} | {v.status} | {v.responses} | {v.bytes_total / 1024:,.1f} KB | "
            f"{v.bytes_js / 1024:,.1f} KB | {v.bytes_css / 1024:,.1f} KB | "
            f"{v.bytes_html / 1024:,.1f} KB | {v.other_origins} |"
        )
    report.detail(
        "Bytes on a first visit, Chromium, fresh context per page:\n\n" + "\n".join(rows) + "\n"
    )
    worst = max(visits, key=lambda v: v.bytes_total)
    worst_js = max(visits, key=lambda v: v.bytes_js)
    over = [v.label for v in visits if v.bytes_total > 60 * 1024]
    report.add(
        "bytes on first visit, heaviest page (Chromium)",
        f"{worst.bytes_total / 1024:,.1f} KB ({worst.label}); JS at most {worst_js.bytes_js / 1024:,.1f} KB",
        "2.5 MB (median web page)",
        f"{worst.bytes_total / (2.5 * 1024 * 1024):.3f}×",
        "≤ 60 KB, JS ≤ 25 KB",
        verdict(not over and worst_js.bytes_js <= 25 * 1024),
        ("over 60 KB: " + ", ".join(over)) if over else f"{len(visits)} pages",
    )


# --- In-process: queries per page, PDF ----------------------------------------------------------


CLIENT_PAGES = [
    ("Today", "/"),
    ("timeline", "/timeline/"),
    ("search", f"/timeline/?q={common.SEARCH_WORD}"),
    ("trends", "/progress/"),
    (
        "summary (everything)",
        f"/progress/summary/view/?since={SINCE_EVER}&"
        + "&".join(
            f"sections={s}"
            for s in (
                "intentions",
                "questions",
                "insights",
                "worksheet",
                "steps",
                "scores",
                "practices",
            )
        ),
    ),
    ("sessions", "/sessions/"),
    ("action steps", "/steps/"),
    ("questions", "/questions/"),
    ("practices", "/practices/"),
    ("worksheet form", "/i/integration-worksheet/"),
]


def queries_section(report: Report, manifest: dict) -> None:
    section("Queries per page, in-process (CaptureQueriesContext)")
    people = manifest["people"]
    data_dir = fresh_sqlite("one-person-inprocess")
    pairs = []
    for who in ("one-year", "ten-years"):
        pairs += [(label, people[who]["email"], url, False) for label, url in CLIENT_PAGES]
    out = tool("one-person", data_dir, "queries", "--pairs", json.dumps(pairs))["pages"]
    by = {(p["label"], p["email"]): p for p in out}
    rows = [
        "| page | queries, 1 year | queries, 10 years | CPU/request, 1 year | CPU, 10 years | HTML, 10 years |",
        "|---|---|---|---|---|---|",
    ]
    differ = []
    for label, _ in CLIENT_PAGES:
        a, b = by[(label, people["one-year"]["email"])], by[(label, people["ten-years"]["email"])]
        rows.append(
            f"| {label} | {a['queries']} | {b['queries']} | {a['cpu_ms']} ms | {b['cpu_ms']} ms | "
            f"{b['bytes'] / 1024:,.0f} KB |"
        )
        if a["queries"] != b["queries"] or a["status"] != 200 or b["status"] != 200:
            differ.append(
                f"{label} ({a['queries']} vs {b['queries']}, status {a['status']}/{b['status']})"
            )
    report.detail(
        "Queries per page, one person, 1 year vs 10 years (10× the data):\n\n"
        + "\n".join(rows)
        + "\n"
    )
    QUERY_ROWS.extend(differ)
    report.add(
        "queries per page, client pages (1 year vs 10 years)",
        f"{len(CLIENT_PAGES) - len(differ)} of {len(CLIENT_PAGES)} pages equal",
        "the same page with 1/10 the data",
        "–",
        "equal",
        verdict(not differ),
        "; ".join(differ),
    )


QUERY_ROWS: list[str] = []


def pdf_section(report: Report, manifest: dict) -> None:
    section("Summary PDF, 10 years vs 1 year (child processes)")
    people = manifest["people"]
    data_dir = fresh_sqlite("one-person-pdf")
    for since, what in ((SINCE_EVER, "everything"), ("", "since the last session (default)")):
        got = {}
        for who in ("one-year", "ten-years"):
            email = people[who]["email"]
            args = ["pdf", email] + (["--since", since] if since else [])
            timed = tool("one-person", data_dir, *args, timeout=1800)
            traced = tool("one-person", data_dir, *args, "--tracemalloc", timeout=3600)
            got[who] = (timed, traced)
            report.detail(
                f"summary PDF ({what}), {who}: {timed['status']} {timed['bytes'] / 1024:,.0f} KB, "
                f"{timed['pages']} pages, {timed['seconds']} s; peak RSS {timed['maxrss_after_kb'] / 1024:,.0f} MiB "
                f"(process before the PDF: {timed['maxrss_before_kb'] / 1024:,.0f} MiB); "
                f"Python peak allocation (tracemalloc) {traced['tracemalloc_peak_kb'] / 1024:,.1f} MiB"
            )
        (a, at), (b, bt) = got["one-year"], got["ten-years"]
        t = b["seconds"] / a["seconds"]
        rss = b["maxrss_after_kb"] / a["maxrss_after_kb"]
        tm = bt["tracemalloc_peak_kb"] / at["tracemalloc_peak_kb"]
        ok = a["status"] == b["status"] == 200
        report.add(
            f"summary PDF, {what}: 10 years vs 1 year",
            f"{b['seconds']:.2f} s, peak RSS {b['maxrss_after_kb'] / 1024:,.0f} MiB, Python peak {bt['tracemalloc_peak_kb'] / 1024:,.1f} MiB",
            f"{a['seconds']:.2f} s, {a['maxrss_after_kb'] / 1024:,.0f} MiB, {at['tracemalloc_peak_kb'] / 1024:,.1f} MiB",
            f"time {t:.1f}×, RSS {rss:.2f}×, Python peak {tm:.1f}×",
            "time ≤ 11×, peak memory ≤ 1.5×",
            verdict(ok and t <= 11 and rss <= 1.5),
            "memory verdict on whole-process peak RSS; Python peak shown for the growth itself",
        )


# --- PostgreSQL: the clinic ---------------------------------------------------------------------


def clinic_section(report: Report, big: dict, small: dict) -> None:
    section("Clinic on PostgreSQL: roster")
    got = {}
    for target, m in (("clinic", big), ("clinic-small", small)):
        data_dir = RUN / target
        therapist = m["therapist"]["email"]
        sessions = tool(target, data_dir, "sessions", "--otp", therapist)
        sid = sessions[therapist]["sessionid"]
        first = m["client_ids"][0]
        with Server(f"pg-{target}", target, data_dir) as srv:
            r = bench_run(srv.base, [Req("/care/", headers=cookie(sid))], latency=True)
            sat = bench_run(srv.base, [Req("/care/", headers=cookie(sid))], latency=False)
            if target == "clinic" and wanted("browser"):
                from bench import browser

                if browser.CHROMIUM.exists():
                    pages = [
                        ("roster (therapist, 10,000 clients)", "/care/"),
                        ("client page (therapist)", f"/care/clients/{first}/"),
                        ("pre-session brief (therapist)", f"/care/clients/{first}/brief/"),
                    ]
                    visits = browser.visit_all([(lbl, srv.base + p, sid) for lbl, p in pages])
                    BROWSER_VISITS.extend(("therapist", v) for v in visits)
        got[target] = r
        report.detail(f"roster p95, {m['clients']:,} clients: {run_line(r)}")
        report.detail(f"roster saturated, {m['clients']:,} clients: {run_line(sat)}")
        pairs = [
            ("roster", therapist, "/care/", True),
            ("roster sorted by PHQ-9", therapist, "/care/?sort=phq9", True),
            ("roster page 4", therapist, "/care/?page=4", True),
            ("client page", therapist, f"/care/clients/{first}/", True),
            ("brief", therapist, f"/care/clients/{first}/brief/", True),
            ("Today (client, 2 years)", m["journey_client"]["email"], "/", False),
            ("trends (client, 2 years)", m["journey_client"]["email"], "/progress/", False),
        ]
        q = tool(target, data_dir, "queries", "--pairs", json.dumps(pairs))["pages"]
        got[target + ":q"] = q
    a, b = got["clinic-small"], got["clinic"]
    r = b.p95_ms / a.p95_ms
    report.add(
        f"roster p95 with {big['clients']:,} clients (PostgreSQL)",
        ms(b.p95_ms),
        f"{ms(a.p95_ms)} ({small['clients']} clients)",
        f"{r:.2f}×",
        "≤ 1.3×",
        verdict(a.ok and b.ok and r <= 1.3),
    )
    rows = [
        f"| page | queries, {small['clients']} clients | queries, {big['clients']:,} clients "
        f"| CPU/request, {small['clients']} | CPU, {big['clients']:,} | wall, {small['clients']} | wall, {big['clients']:,} |",
        "|---|---|---|---|---|---|---|",
    ]
    differ = []
    for qa, qb in zip(got["clinic-small:q"], got["clinic:q"], strict=True):
        rows.append(
            f"| {qa['label']} | {qa['queries']} | {qb['queries']} | {qa['cpu_ms']} ms | {qb['cpu_ms']} ms "
            f"| {qa['ms']} ms | {qb['ms']} ms |"
        )
        if qa["queries"] != qb["queries"] or qa["status"] != 200 or qb["status"] != 200:
            differ.append(
                f"{qa['label']} ({qa['queries']} vs {qb['queries']}, status {qa['status']}/{qb['status']})"
            )
    report.detail(
        "Queries per page, clinic of 100 vs 10,000 (in-process):\n\n" + "\n".join(rows) + "\n"
    )
    report.add(
        "queries per page, therapist pages (100 vs 10,000 clients)",
        f"{len(rows) - 2 - len(differ)} of {len(rows) - 2} pages equal",
        "the same page with 1/100 the clients",
        "–",
        "equal",
        verdict(not differ),
        "; ".join(differ),
    )


def servers_section(report: Report, m: dict) -> None:
    section("Two app servers behind a round-robin proxy, one PostgreSQL")
    import psycopg

    from bench import journey

    dbname = common.TARGETS["clinic"][1]
    clients = [f"client{i:0{len(str(m['clients']))}d}@clinic.bench.example" for i in range(1, 41)]
    data_a, data_b = RUN / "clinic-a", RUN / "clinic-b"
    sessions = tool("clinic", data_a, "sessions", *clients)
    reqs = [Req("/", headers=cookie(sessions[e]["sessionid"])) for e in clients]
    reqs += [Req("/timeline/", headers=cookie(sessions[e]["sessionid"])) for e in clients[:10]]

    def pg_count() -> int:
        with psycopg.connect(f"{common.PG_BASE}/postgres") as c:
            return c.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [dbname],
            ).fetchone()[0]

    # One app server: the baseline.
    with Server("pg-one-server", "clinic", data_a) as one:
        single = bench_run(one.base, reqs, latency=False)
    report.detail(f"one app server, Today/timeline for 40 clients: {run_line(single)}")

    proxy_log = RUN / "proxy.log"
    proxy_log.write_text("")
    port = free_port()
    with Server("pg-server-a", "clinic", data_a) as a, Server("pg-server-b", "clinic", data_b) as b:
        proxy = subprocess.Popen(
            [
                common.PYTHON,
                "-m",
                "bench.proxy",
                "--port",
                str(port),
                "--backend",
                f"127.0.0.1:{a.port}",
                "--backend",
                f"127.0.0.1:{b.port}",
                "--log",
                str(proxy_log),
            ],
            cwd=common.ROOT,
            env=common.env_for("clinic"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(50):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            jc = m["journey_client"]
            steps = journey.run(base, jc["email"], jc["password"])
            # Then the same journey again while the pair is under load, sampling connections.
            samples: list[int] = []
            stop = threading.Event()

            def sample():
                while not stop.is_set():
                    samples.append(pg_count())
                    time.sleep(0.2)

            sampler = threading.Thread(target=sample)
            sampler.start()
            loaded: dict = {}
            loader = threading.Thread(
                target=lambda: loaded.update(r=bench_run(base, reqs, latency=False))
            )
            loader.start()
            time.sleep(2)
            steps_loaded = journey.run(base, jc["email"], jc["password"])
            loader.join()
            stop.set()
            sampler.join()
            idle_after = pg_count()
        finally:
            proxy.send_signal(signal.SIGTERM)
            proxy.wait(10)
        journey.attach_backends(steps, str(proxy_log))
        journey.attach_backends(steps_loaded, str(proxy_log))
        logs = a.log_text() + b.log_text()
    pair = loaded["r"]
    report.detail(f"two app servers via the proxy, same load: {run_line(pair)}")
    rows = ["| step | status | server | ms | note |", "|---|---|---|---|---|"]
    for s in steps:
        rows.append(
            f"| {s.name} | {s.status} | {'AB'[s.backend] if s.backend is not None else '?'} | {s.ms:,.0f} | {s.note} |"
        )
    report.detail(
        "The client journey through the proxy (one new connection per request):\n\n"
        + "\n".join(rows)
        + "\n"
    )
    bad = [s for s in steps + steps_loaded if not s.ok]
    served = {s.backend for s in steps}
    bound = 2 * NPROC * POOL_SIZE
    peak = max(samples) if samples else 0
    errors = len(re.findall(r"Traceback|ERROR", logs))
    report.detail(
        f"journey: {len(steps)} steps alone, {len(steps_loaded)} under load; failures: "
        f"{[(s.name, s.status, s.note) for s in bad] or 'none'}; servers used: {sorted(served)}; "
        f"open PostgreSQL connections to {dbname} during load: peak {peak}, samples {len(samples)}, "
        f"after the load {idle_after}; bound = 2 servers × {NPROC} workers × KAP_DB_POOL_SIZE {POOL_SIZE} = {bound}; "
        f"Traceback/ERROR lines in the servers' logs: {errors}"
    )
    report.add(
        "two app servers behind a round-robin proxy, one PostgreSQL",
        f"journey {'ok' if not bad else 'FAILED'} ({len(steps)} + {len(steps_loaded)} steps on both servers), "
        f"{pair.rps:,.1f}/s; peak {peak} PG connections",
        f"one app server: {single.rps:,.1f}/s",
        f"{pair.rps / single.rps:.2f}× requests/s",
        f"no error; connections ≤ {bound}",
        verdict(not bad and served == {0, 1} and peak <= bound and pair.ok and errors == 0),
        "both servers share the same 2 cores here: the requests/s ratio is not a scaling figure",
    )


# --- Output -------------------------------------------------------------------------------------


def write_results(info: dict, report: Report, seed_times: dict) -> str:
    lines = [BEGIN, "", f"## Results of {info['date']}", ""]
    lines.append("| machine | |")
    lines.append("|---|---|")
    for k, v in info.items():
        lines.append(f"| {k} | {v} |")
    lines.append("")
    lines.append("| figure | measured | baseline (same run) | ratio | target | verdict | note |")
    lines.append("|---|---|---|---|---|---|---|")
    for f in report.figures:
        lines.append(
            f"| {f.name} | {f.value} | {f.baseline} | {f.ratio} | {f.target} | **{f.verdict}** | {f.note} |"
        )
    lines.append("")
    if seed_times:
        lines.append("### Seed times")
        lines.append("")
        for name, m in seed_times.items():
            if "people" in m:
                people = ", ".join(
                    f"{k}: {v['rows']:,} rows in {v['seconds']} s" for k, v in m["people"].items()
                )
                lines.append(f"- {name}: {m.get('wall_seconds')} s in all ({people})")
            else:
                lines.append(
                    f"- {name}: {m.get('wall_seconds')} s in all; {m['rows']:,} rows of client data in "
                    f"{m['data_seconds']} s ({m['rows_per_second']:,} rows/s, {m['workers']} processes, "
                    f"profile `{m['profile_name']}`: {m['profile']})"
                )
        lines.append("")
    lines.append("### Details")
    lines.append("")
    for d in report.details:
        lines.append(d if "\n" in d else f"- {d}")
    lines.append("")
    lines.append(END)
    block = "\n".join(lines)
    old = (
        RESULTS.read_text()
        if RESULTS.exists()
        else "# Benchmark results\n\n" + BEGIN + "\n" + END + "\n"
    )
    if BEGIN in old and END in old:
        new = old.split(BEGIN)[0] + block + old.split(END, 1)[1]
    else:
        new = old.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(new)
    return block


def main() -> int:
    one = common.read_manifest("one-person")
    big = common.read_manifest("clinic")
    small = common.read_manifest("clinic-small")
    if not one and not big:
        say("Nothing seeded yet: run `.venv/bin/kap bench seed` first (see bench/README.md).")
        return 1
    RUN.mkdir(parents=True, exist_ok=True)
    info = machine()
    say("KAP Companion benchmark")
    for k, v in info.items():
        say(f"  {k}: {v}")
    report = Report()
    started = time.perf_counter()
    sections = [
        ("sqlite", one, lambda: sqlite_section(report, one)),
        ("inprocess", one, lambda: queries_section(report, one)),
        ("pdf", one, lambda: pdf_section(report, one)),
        ("clinic", big and small, lambda: clinic_section(report, big, small)),
        ("servers", big, lambda: servers_section(report, big)),
    ]
    for name, ready, fn in sections:
        if not wanted(name):
            continue
        if not ready:
            say(f"\n(skipping {name}: its database is not seeded)")
            continue
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - one section failing must not hide the others
            import traceback

            traceback.print_exc()
            report.add(
                f"section {name}",
                "could not be measured",
                "",
                "",
                "",
                "n/a",
                f"{e.__class__.__name__}: {str(e)[:200]}",
            )
    browser_figures(report)
    info["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    info["run time"] = f"{time.perf_counter() - started:,.0f} s"
    seed_times = (
        json.loads((common.DATA / "seed-times.json").read_text())
        if (common.DATA / "seed-times.json").exists()
        else {}
    )
    write_results(info, report, seed_times)
    say("\n== Figures (each beside its baseline from this run) ==")
    width = max(len(f.name) for f in report.figures) if report.figures else 10
    for f in report.figures:
        say(
            f"{f.name:<{width}}  {f.value}  |  {f.baseline}  |  {f.ratio}  |  {f.target}  |  {f.verdict}"
        )
    say(f"\nWritten to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
