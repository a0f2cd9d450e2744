"""Measure the proposals against the app's current code, in-process (CPU time per call).

The Today, timeline and search proposals have been applied to the app (kap/journal/today.py,
records.py, views_records.py): "current" is now the applied code, and this checks that it gives
the prototype's results at the prototype's cost.

python -m bench.proposals.measure     (with the one-person database's environment; the runner
                                       prints the command; see bench/RESULTS.md)
"""

from __future__ import annotations

import sys
import time
from itertools import groupby


def cpu_ms(fn, n=5) -> float:
    fn()
    times = []
    for _ in range(n):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return sorted(times)[len(times) // 2] * 1000


def main() -> int:
    import django

    django.setup()
    from django.core.paginator import Paginator
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bench.common import SEARCH_WORD
    from bench.proposals import timeline_page as proposed
    from bench.proposals import today_context
    from kap.accounts.models import User
    from kap.journal import records, today

    def current_timeline(u):
        page = Paginator(records.LazyTimeline(u), 50).get_page(1)
        return [(d, list(g)) for d, g in groupby(page.object_list, key=lambda e: e.day)]

    def proposed_timeline(u):
        entries, total = proposed.timeline_page(u, page=1)
        return [(d, list(g)) for d, g in groupby(entries, key=lambda e: e.day)]

    print(
        "| what | person | app (applied): CPU ms, queries | prototype: CPU ms, queries | same result |"
    )
    print("|---|---|---|---|---|")
    for email in (
        "one-month@person.bench.example",
        "one-year@person.bench.example",
        "ten-years@person.bench.example",
    ):
        u = User.objects.get(email=email)
        who = email.split("@")[0]
        cases = [
            ("Today context", lambda u=u: today.context(u), lambda u=u: today_context.context(u)),
            ("timeline page 1", lambda u=u: current_timeline(u), lambda u=u: proposed_timeline(u)),
            (
                f"search '{SEARCH_WORD}'",
                lambda u=u: records.search(u, SEARCH_WORD),
                lambda u=u: proposed.search(u, SEARCH_WORD),
            ),
        ]
        for label, cur, new in cases:
            with CaptureQueriesContext(connection) as q1:
                a = cur()
            with CaptureQueriesContext(connection) as q2:
                b = new()
            same = _same(a, b)
            print(
                f"| {label} | {who} | {cpu_ms(cur):.1f} ms, {len(q1)} | {cpu_ms(new):.1f} ms, {len(q2)} | {same} |"
            )
    return 0


def _same(a, b) -> str:
    if isinstance(a, dict):
        keys = (
            "suggestions",
            "next_session",
            "questions",
            "drafts",
            "latest_completed",
            "todays_intention",
        )
        return "yes" if all(a[k] == b[k] for k in keys) else "NO"
    if a and isinstance(a[0], tuple):  # timeline days
        flat_a = [(e.kind, e.when, e.title, e.text, e.url) for _, es in a for e in es]
        flat_b = [(e.kind, e.when, e.title, e.text, e.url) for _, es in b for e in es]
        if flat_a == flat_b:
            return "yes"
        if sorted(flat_a, key=str) == sorted(flat_b, key=str):
            return "yes (entries at the same instant in another order)"
        return f"NO ({len(set(flat_a) ^ set(flat_b))} differ)"
    ka = sorted((e.kind, e.when, e.url) for e in a)
    kb = sorted((e.kind, e.when, e.url) for e in b)
    return "yes" if ka == kb else f"NO ({len(ka)} vs {len(kb)})"


if __name__ == "__main__":
    sys.exit(main())
