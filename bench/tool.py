"""The runner's helpers that need Django, each run in a child process with one database's
environment (bench.common.env_for):

    python -m bench.tool sessions EMAIL... [--otp EMAIL...]   logged-in sessions, as JSON
    python -m bench.tool queries --pairs JSON                 queries per page, in-process
    python -m bench.tool pdf EMAIL --since DATE [--tracemalloc]   one summary PDF: time, memory

Sessions are made directly (SessionStore + the auth hash, and django_otp's device id for a
therapist), never by logging in over the network, so that the load loop measures pages only.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time


def _setup() -> None:
    import django

    django.setup()


def make_session(user, otp_device=None) -> str:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    now = int(time.time())
    s = SessionStore()
    s[SESSION_KEY] = user._meta.pk.value_to_string(user)
    s[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    s[HASH_SESSION_KEY] = user.get_session_auth_hash()
    # As kap.accounts.middleware.stamp_login does at a real login.
    s["kap_started"] = s["kap_last_seen"] = now
    if otp_device is not None:
        from django_otp import DEVICE_ID_SESSION_KEY

        s[DEVICE_ID_SESSION_KEY] = otp_device.persistent_id
    s.create()
    return s.session_key


def cmd_sessions(args) -> dict:
    from django.db import connection
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from bench.baseline_views import create_table
    from kap.accounts.models import User
    from kap.journal.models import KapSession

    with connection.cursor() as cur:
        create_table(cur)
    out = {}
    for email in args.emails + args.otp:
        user = User.objects.get(email=email)
        device = None
        if email in args.otp:
            device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        completed = list(
            KapSession.objects.for_client(user)
            .filter(status=KapSession.Status.COMPLETED)
            .order_by("-starts_at")
            .values_list("pk", flat=True)[:8]
        )
        out[email] = {
            "user_id": user.pk,
            "sessionid": make_session(user, device),
            "completed_sessions": completed,
        }
    return out


def _client_for(user, otp: bool):
    from django.test import Client

    c = Client(SERVER_NAME="127.0.0.1")
    c.cookies["sessionid"] = make_session(user, _device(user) if otp else None)
    return c


def _device(user):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def cmd_queries(args) -> dict:
    """For each (label, email, url, otp): the queries that page runs (warm), the rows it fetches
    and the values it decrypts (bench/measure.py's X-Bench-* headers), its status and size as
    sent to a browser (gzip), and the median wall and CPU time of five in-process requests."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bench.load import ACCEPT_ENCODING
    from kap.accounts.models import User

    out = []
    for label, email, url, otp in json.loads(args.pairs):
        user = User.objects.get(email=email)
        c = _client_for(user, otp)
        c.get(url, HTTP_ACCEPT_ENCODING=ACCEPT_ENCODING)  # warm: caches, first-request work
        times, cpu = [], []
        for _ in range(5):
            with CaptureQueriesContext(connection) as q:
                t = time.perf_counter()
                r = c.get(url, HTTP_ACCEPT_ENCODING=ACCEPT_ENCODING)
                times.append(time.perf_counter() - t)
            # CPU of the request's thread, measured by the bench middleware (which neighbours
            # on a shared machine disturb far less than wall time).
            cpu.append(float(r.get("X-Bench-CPU-ms", "nan")))
        out.append(
            {
                "label": label,
                "email": email,
                "url": url,
                "status": r.status_code,
                "bytes": len(r.content),
                "queries": len(q.captured_queries),
                "rows": int(r.get("X-Bench-Rows", -1)),
                "decrypts": int(r.get("X-Bench-Decrypts", -1)),
                "encrypts": int(r.get("X-Bench-Encrypts", -1)),
                "ms": round(sorted(times)[2] * 1000, 1),
                "cpu_ms": round(sorted(cpu)[2], 1),
                "sql": [x["sql"][:300] for x in q.captured_queries] if args.sql else [],
            }
        )
    return {"pages": out}


def cmd_pdf(args) -> dict:
    """One summary PDF for `email`, in this fresh process: wall time, and memory measured as
    the process's peak RSS (before and after) or, with --tracemalloc, Python's peak allocation."""
    from kap.accounts.models import User

    user = User.objects.get(email=args.email)
    c = _client_for(user, False)
    sections = "&".join(
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
    )
    url = f"/progress/summary.pdf?{sections}" + (f"&since={args.since}" if args.since else "")
    # Import WeasyPrint and render a tiny PDF first, so that both sides pay the same fixed cost.
    c.get("/progress/blank/integration-worksheet.pdf")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if args.tracemalloc:
        import tracemalloc

        tracemalloc.start()
    t = time.perf_counter()
    r = c.get(url)
    seconds = time.perf_counter() - t
    peak = None
    if args.tracemalloc:
        import tracemalloc

        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    pages = _pdf_pages(r.content)
    return {
        "status": r.status_code,
        "content_type": r.get("Content-Type"),
        "bytes": len(r.content),
        "pages": pages,
        "seconds": round(seconds, 3),
        "maxrss_before_kb": before,
        "maxrss_after_kb": after,
        "tracemalloc_peak_kb": round(peak / 1024) if peak is not None else None,
    }


def _pdf_pages(pdf: bytes) -> int:
    """Pages of a PDF whose objects may sit in compressed object streams (WeasyPrint's)."""
    import re
    import zlib

    text = pdf
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            text += zlib.decompress(m.group(1))
        except zlib.error:
            pass
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", text))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tool")
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sessions")
    s.add_argument("emails", nargs="*")
    s.add_argument("--otp", nargs="*", default=[])
    q = sub.add_parser("queries")
    q.add_argument("--pairs", required=True)
    q.add_argument("--sql", action="store_true")
    p = sub.add_parser("pdf")
    p.add_argument("email")
    p.add_argument("--since", default="")
    p.add_argument("--tracemalloc", action="store_true")
    args = parser.parse_args(argv)
    _setup()
    out = {"sessions": cmd_sessions, "queries": cmd_queries, "pdf": cmd_pdf}[args.cmd](args)
    sys.stdout.write("BENCHJSON " + json.dumps(out, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
