"""`kap bench seed`: make the benchmark's databases (see bench/README.md).

    kap bench seed                      everything: the one person (SQLite) and both clinics
    kap bench seed --one-person         one person: 10 years, and the same person over 1 year, 1 month
    kap bench seed --clients 10000      a clinic of 10,000 clients (PostgreSQL), plus the 100-client
                                        clinic for the small side
    --years Y                           how many years each seeded person has (defaults: 10 for the
                                        one person, 2 for clinic clients)
    --profile full|minimum              clinic clients' data per day (see PROFILES below)

Each database is made from scratch, migrated, loaded with the guide, then filled with bulk_create
in batches. Everything a person writes goes through the real encrypted fields (bulk_create calls
get_prep_value), so the rows are what the app itself would have written. A clinic is seeded by one
process per core, each taking clients in chunks.

The parent process only orchestrates: each database is seeded by a child process
(`python -m bench.seed --child TARGET`) with that database's environment, because Django's
settings are fixed per process.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from bench import common

# --- How much a person records -------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """How many of each record one person has over `days`."""

    days: int
    insights: int
    checkins: int
    scores: int  # PHQ-9s, and as many GAD-7s
    sessions: int  # completed KAP sessions; each has an intention and a worksheet
    outcomes: int
    practices: int

    @property
    def rows(self) -> int:
        """Rows written for one person (roughly; used for rates and estimates)."""
        return (
            self.insights
            + self.checkins
            + 2 * self.scores
            + self.sessions * 7  # session, intention, worksheet, 2 steps, a question, its ack
            + self.outcomes
            + self.practices
            + 10
        )


def full_profile(days: int) -> Profile:
    """Daily: an insight and an action-step check-in every day, PHQ-9 and GAD-7 every two weeks,
    a KAP session a month (with its intention and worksheet), closing outcomes monthly and a
    practice every third day. 10 years: 3,652 insights, 3,652 check-ins, 260 + 260 scores, 120
    sessions and worksheets."""
    return Profile(
        days=days,
        insights=days,
        checkins=days,
        scores=max(1, days // 14),
        sessions=max(1, round(days / 30.44)),
        outcomes=max(1, round(days / 30.44)),
        practices=max(1, days // 3),
    )


def minimum_profile(days: int) -> Profile:
    """The documented two-year minimum for a clinic client when daily data for 10,000 clients is
    too slow to seed: 52 PHQ-9 + 52 GAD-7, 24 sessions with 24 worksheets, 100 insights, 100
    check-ins, 24 closing outcomes and 50 practices (scaled with the years asked for)."""
    years = days / 365.25
    return Profile(
        days=days,
        insights=max(1, round(50 * years)),
        checkins=max(1, round(50 * years)),
        scores=max(1, round(26 * years)),
        sessions=max(1, round(12 * years)),
        outcomes=max(1, round(12 * years)),
        practices=max(1, round(25 * years)),
    )


PROFILES = {"full": full_profile, "minimum": minimum_profile}
SEARCH_INDEX = ("journey-client", "every-client")

# --- Words --------------------------------------------------------------------------------------

WORDS = (
    "breath body morning light kitchen walk river mother father sister brother friend work "
    "quiet fear anger grief hope trust shame softness chest shoulders hands warmth heavy open "
    "space music garden rain window memory child teacher city train ocean forest path door "
    "letter dream sleep coffee evening patience boundary voice tears laughter stillness colour "
    "sky field stone bridge fire kindness worry noticing listening choosing leaving staying "
    "returning forgiving holding letting resting writing calling asking waiting beginning"
).split()
OPENERS = [
    "I noticed",
    "Today I felt",
    "Something shifted around",
    "I keep coming back to",
    "It was easier to sit with",
    "I was surprised by",
    "I want to remember",
    "There was less weight in",
    "I could see",
    "I talked with someone about",
]
NAMES = (
    "Alex Sam Jordan Robin Casey Morgan Taylor Jamie Riley Avery Quinn Rowan Sage Noor Ines "
    "Mateo Lena Yusuf Mira Tomas Aiko Priya Kofi Elena Oskar Hana Luca Zara Ibrahim Freya"
).split()
SURNAMES = (
    "Rivera Chen Okafor Novak Haddad Silva Kowalski Nguyen Larsen Moreau Ito Mensah Rossi "
    "Costa Weber Ali Popescu Jensen Park Duarte"
).split()
CLINICIANS = ["Dr Rivera", "Dr Chen", "Dr Okafor", "Dr Novak"]
SCORE_OPTIONS = ["not-at-all", "several-days", "more-than-half", "nearly-every-day"]


def _make_pool(n: int = 4096) -> list[str]:
    rng = random.Random(7)
    return [
        f"{rng.choice(OPENERS)} the {' '.join(rng.choice(WORDS) for _ in range(rng.randint(6, 14)))}."
        for _ in range(n)
    ]


# Sentences are drawn from a fixed pool: making each one word by word was a fifth of seed time.
POOL = _make_pool()


def sentence(rng: random.Random, search_rate: float = 1 / 40) -> str:
    text = POOL[rng.getrandbits(12)]
    if search_rate and rng.random() < search_rate:
        text += f" The {common.SEARCH_WORD} came back to me, steady."
    return text


def paragraph(rng: random.Random, sentences: tuple[int, int] = (1, 3)) -> str:
    return " ".join(sentence(rng) for _ in range(rng.randint(*sentences)))


def graded_answers(keys: list[str], total: int, rng: random.Random) -> dict:
    """Choice answers over `keys` adding up to `total` (0–3 each), spread at random."""
    weights = [0] * len(keys)
    left = min(total, 3 * len(keys))
    while left:
        i = rng.randrange(len(keys))
        if weights[i] < 3:
            weights[i] += 1
            left -= 1
    return {k: SCORE_OPTIONS[w] for k, w in zip(keys, weights, strict=True)}


# --- One person's records -----------------------------------------------------------------------


def _spread(n: int, start: datetime, end: datetime) -> list[datetime]:
    step = (end - start) / max(n, 1)
    return [start + step * (k + 0.5) for k in range(n)]


class Instruments:
    """The current instruments and their parsed specs, looked up once per process."""

    def __init__(self):
        from kap.content.models import Instrument

        self.by_key = {i.key: i for i in Instrument.objects.current()}
        self.spec = {k: i.parsed for k, i in self.by_key.items()}

    def text_answers(self, key: str, rng: random.Random, extra: dict | None = None) -> dict:
        spec = self.spec[key]
        out = {i.key: paragraph(rng) for i in spec.items if spec.item_type(i) == "text"}
        out.update(extra or {})
        return out


def seed_people(clients: list, profile: Profile, now: datetime, rng: random.Random, inst) -> int:
    """Write `profile`'s records for each client in `clients`, ending at `now`. Returns rows."""
    from kap.content.scoring import score
    from kap.journal.models import (
        ActionStep,
        CheckIn,
        Insight,
        KapSession,
        QuestionToBring,
        Response,
        SafetyEvent,
        SupportItem,
    )
    from kap.practices.models import PracticeLog

    batch = 2000
    rows = 0
    start = now - timedelta(days=profile.days)
    last_completed = now - timedelta(days=5)

    # Sessions first: everything else points at them.
    sessions: list = []
    for c in clients:
        gap = (last_completed - start - timedelta(days=2)) / profile.sessions
        for k in range(profile.sessions):
            when = last_completed - gap * (profile.sessions - 1 - k)
            sessions.append(
                KapSession(
                    client=c,
                    starts_at=when.replace(hour=10, minute=0, second=0, microsecond=0),
                    status=KapSession.Status.COMPLETED,
                    clinician_name=CLINICIANS[c.pk % len(CLINICIANS)],
                    setting=KapSession.Setting.CLINIC,
                    notes=sentence(rng) if k % 3 == 0 else "",
                    created_at=when,
                    updated_at=when,
                )
            )
        sessions.append(
            KapSession(
                client=c,
                starts_at=(now + timedelta(days=3)).replace(hour=10, minute=0, second=0),
                status=KapSession.Status.PLANNED,
                clinician_name=CLINICIANS[c.pk % len(CLINICIANS)],
                setting=KapSession.Setting.CLINIC,
                created_at=now - timedelta(days=10),
                updated_at=now - timedelta(days=10),
            )
        )
    KapSession.objects.bulk_create(sessions, batch_size=batch)
    rows += len(sessions)
    by_client: dict[int, list] = {}
    for s in sessions:
        if s.status == KapSession.Status.COMPLETED:
            by_client.setdefault(s.client_id, []).append(s)

    # Responses: intention before and worksheet after each session; scores; outcomes; preparation.
    responses: list = []
    worksheets: list = []
    sub = Response.Status.SUBMITTED
    phq_items = [i.key for i in inst.spec["phq9"].items if i.scored]
    gad_items = [i.key for i in inst.spec["gad7"].items if i.scored]
    outcome_items = [i.key for i in inst.spec["closing-outcomes"].items]

    def response(c, key: str, when: datetime, answers: dict, session=None) -> Response:
        result = score(inst.spec[key], answers) if inst.spec[key].scoring else None
        r = Response(
            client=c,
            instrument=inst.by_key[key],
            session=session,
            status=sub,
            answers=answers,
            version=1,
            score_total=result.total if result else None,
            score_band=result.band.label if result and result.band else "",
            submitted_at=when,
        )
        responses.append(r)
        return r

    risky = []
    for c in clients:
        mine = by_client[c.pk]
        response(
            c,
            "first-session-preparation",
            start + timedelta(hours=2),
            inst.text_answers("first-session-preparation", rng),
        )
        for s in mine:
            response(
                c,
                "intention-setting",
                s.starts_at - timedelta(hours=14),
                inst.text_answers("intention-setting", rng),
                s,
            )
            steps_text = f"{sentence(rng, 0)}\n{sentence(rng, 0)}"
            worksheets.append(
                response(
                    c,
                    "integration-worksheet",
                    s.starts_at + timedelta(days=1, hours=8),
                    inst.text_answers("integration-worksheet", rng, {"might-do-next": steps_text}),
                    s,
                )
            )
        n = profile.scores
        for k, when in enumerate(_spread(n, start, now - timedelta(days=1))):
            # From moderate towards mild, with noise: a trend worth drawing.
            phq = max(0, min(27, round(16 - 9 * k / max(n - 1, 1) + rng.gauss(0, 2))))
            gad = max(0, min(21, round(13 - 7 * k / max(n - 1, 1) + rng.gauss(0, 2))))
            answers = graded_answers(phq_items, phq, rng)
            # About one clinic client in 150 has an open safety alert (item 9 on the last PHQ-9).
            if k == n - 1 and len(clients) > 1 and c.pk % 150 == 7:
                answers["q9"] = "several-days"
                answers.update(graded_answers(phq_items[:8], max(0, phq - 1), rng))
                risky.append(response(c, "phq9", when, answers))
            else:
                response(c, "phq9", when, answers)
            response(c, "gad7", when + timedelta(minutes=5), graded_answers(gad_items, gad, rng))
        for k, when in enumerate(_spread(profile.outcomes, start, now - timedelta(days=2))):
            level = 3 + 5 * k / max(profile.outcomes - 1, 1)
            response(
                c,
                "closing-outcomes",
                when,
                {key: max(0, min(10, round(level + rng.gauss(0, 1.5)))) for key in outcome_items},
            )
    for r in responses:
        r.created_at = r.updated_at = r.submitted_at
    Response.objects.bulk_create(responses, batch_size=batch)
    rows += len(responses)
    events = [
        SafetyEvent(client=r.client, response=r, rule_key="phq9-item-9", created_at=r.submitted_at)
        for r in risky
    ]
    SafetyEvent.objects.bulk_create(events)
    rows += len(events)

    # Action steps: one per line of "What I might do next", as submit_response would make them.
    steps: list = []
    latest_ws = {}
    for ws in worksheets:
        latest_ws[ws.client_id] = ws
    for ws in worksheets:
        is_latest = latest_ws[ws.client_id] is ws
        for k, line in enumerate(ws.answers["might-do-next"].splitlines()):
            status = (
                ActionStep.Status.OPEN
                if is_latest
                else (ActionStep.Status.DONE if k == 0 else ActionStep.Status.LET_GO)
            )
            steps.append(
                ActionStep(
                    client=ws.client,
                    session=ws.session,
                    source=ws,
                    text=line,
                    status=status,
                    created_at=ws.submitted_at,
                )
            )
    ActionStep.objects.bulk_create(steps, batch_size=batch)
    rows += len(steps)
    steps_by_client: dict[int, list] = {}
    for st in steps:
        steps_by_client.setdefault(st.client_id, []).append(st)

    # Daily check-ins on the steps of the latest session before each day, and daily insights.
    checkins: list = []
    insights: list = []
    questions: list = []
    support: list = []
    practices: list = []
    for c in clients:
        mine_steps = steps_by_client[c.pk]
        first = mine_steps[0].created_at
        si = 0
        for k, when in enumerate(_spread(profile.checkins, first, now - timedelta(hours=3))):
            while si + 2 < len(mine_steps) and mine_steps[si + 2].created_at <= when:
                si += 2
            step = mine_steps[si + (k % 2)]
            checkins.append(
                CheckIn(
                    step=step,
                    client=c,
                    status=CheckIn.Status.WORKING,
                    note=sentence(rng) if k % 3 == 0 else "",
                    created_at=when,
                )
            )
        mine = by_client[c.pk]
        sj = 0
        for when in _spread(profile.insights, start, now - timedelta(hours=2)):
            while sj + 1 < len(mine) and mine[sj + 1].starts_at <= when:
                sj += 1
            s = mine[sj]
            near = timedelta(0) <= when - s.starts_at <= timedelta(days=3)
            insights.append(
                Insight(client=c, session=s if near else None, text=paragraph(rng), created_at=when)
            )
        for s in mine:
            questions.append(
                QuestionToBring(
                    client=c,
                    text=sentence(rng, 0).rstrip(".") + "?",
                    created_at=s.starts_at - timedelta(days=3),
                    asked_at=s.starts_at,
                )
            )
        for k in range(2):  # open, for the upcoming session
            questions.append(
                QuestionToBring(
                    client=c,
                    text=sentence(rng, 0).rstrip(".") + "?",
                    created_at=now - timedelta(days=2 - k),
                )
            )
        for category in ["therapy", "people", "people", "routines", "routines", "people"]:
            support.append(
                SupportItem(client=c, category=category, text=sentence(rng, 0), created_at=start)
            )
        for k, when in enumerate(_spread(profile.practices, start, now - timedelta(hours=5))):
            key = "grounding" if k % 2 == 0 else "gentle-awareness"
            planned = 180 if key == "grounding" else 300
            before = rng.randint(2, 7)
            practices.append(
                PracticeLog(
                    uuid=uuid.uuid4(),
                    client=c,
                    instrument=inst.by_key[key],
                    started_at=when,
                    planned_seconds=planned,
                    elapsed_seconds=planned - rng.randint(0, 30),
                    completed=True,
                    settled_before=before,
                    settled_after=min(10, before + rng.randint(0, 3)),
                    pace={"key": "calm", "label": "Calm (4 in, 6 out)", "inhale": 4, "exhale": 6}
                    if key == "grounding"
                    else None,
                    notings={} if key == "grounding" else {"thought": rng.randint(0, 6)},
                    source=PracticeLog.Source.TIMER,
                    created_at=when,
                )
            )
    for model, objs in (
        (CheckIn, checkins),
        (Insight, insights),
        (QuestionToBring, questions),
        (SupportItem, support),
        (PracticeLog, practices),
    ):
        model.objects.bulk_create(objs, batch_size=batch)
        rows += len(objs)
    return rows


def keep_given_timestamps() -> None:
    """Let the seeder write created_at/updated_at as given (years ago), not "now".

    auto_now/auto_now_add overwrite them on every insert; this switches that off for the
    seeder's own process only (the app is not affected), instead of a second UPDATE of each row.
    """
    from django.apps import apps

    for model in apps.get_models():
        for f in model._meta.concrete_fields:
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                if model._meta.app_label in ("journal", "practices"):
                    f.auto_now = f.auto_now_add = False


def fast_bulk_load() -> None:
    """PostgreSQL: skip foreign-key triggers while seeding (rows are consistent by construction;
    the usual bulk-load setting). Indexes and constraints other than FKs still apply."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SET session_replication_role = replica")


# --- Accounts -----------------------------------------------------------------------------------


def make_clients(emails: list[tuple[str, str]]):
    from django.contrib.auth.hashers import make_password

    from kap.accounts.models import Role, User

    # No password (force-logged-in sessions only): Argon2 for 10,000 accounts would take minutes.
    users = [
        User(email=email, display_name=name, role=Role.CLIENT, password=make_password(None))
        for email, name in emails
    ]
    return User.objects.bulk_create(users, batch_size=2000)


def make_therapist(email: str, name: str, clinic):
    from django.contrib.auth.hashers import make_password
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from kap.accounts.models import Role, User

    t = User.objects.create(
        email=email,
        display_name=name,
        role=Role.THERAPIST,
        clinic=clinic,
        password=make_password(None),
    )
    device = TOTPDevice.objects.create(user=t, name="Authenticator app", confirmed=True)
    return t, device


def progress_bar():
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )


# --- Children: one per database -----------------------------------------------------------------


def _setup_django() -> None:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("kap_setup", verbosity=0)
    keep_given_timestamps()


def _analyze() -> float:
    from django.db import connection

    t = time.perf_counter()
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            old = connection.get_autocommit()
            connection.set_autocommit(True)
            cur.execute("VACUUM (ANALYZE)")
            connection.set_autocommit(old)
        else:
            cur.execute("ANALYZE")
            cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return time.perf_counter() - t


def child_one_person(years: float) -> dict:
    """The same person three times: `years` of daily records, one year, one month."""
    from django.db import transaction
    from django.utils import timezone

    _setup_django()
    inst = Instruments()
    now = timezone.now()
    sizes = [("ten-years" if years == 10 else f"{years:g}-years", round(365.25 * years))]
    sizes += [("one-year", 365), ("one-month", 30)]
    out = {"target": "one-person", "people": {}, "started": now.isoformat()}
    with progress_bar() as bar:
        task = bar.add_task("one person", total=len(sizes), rate="")
        for label, days in sizes:
            t = time.perf_counter()
            (user,) = make_clients([(f"{label}@person.bench.example", "Alex Rivera")])
            profile = full_profile(days)
            with transaction.atomic():
                rows = seed_people([user], profile, now, random.Random(42), inst)
            # bulk_create sends no signals: the search's blind index is built as the app would
            # have built it record by record (kap.journal.word_index).
            from kap.journal.word_index import reindex

            reindex(user)
            seconds = time.perf_counter() - t
            out["people"][label] = {
                "user_id": user.pk,
                "email": user.email,
                "days": days,
                "profile": asdict(profile),
                "rows": rows,
                "seconds": round(seconds, 2),
            }
            bar.update(task, advance=1, rate=f"{label}: {rows:,} rows in {seconds:.1f} s")
    out["analyze_seconds"] = round(_analyze(), 2)
    return out


def _seed_chunk(args) -> tuple[int, int]:
    ids, profile_dict, now_iso, seed, indexed = args
    from django.db import connection, transaction

    from kap.accounts.models import User

    inst = _seed_chunk.inst  # type: ignore[attr-defined]
    profile = Profile(**profile_dict)
    clients = list(User.objects.filter(pk__in=ids).order_by("pk"))
    with transaction.atomic():
        fast_bulk_load()
        rows = seed_people(
            clients, profile, datetime.fromisoformat(now_iso), random.Random(seed), inst
        )
    from kap.journal.word_index import reindex

    for person in clients:  # the search's blind index (bulk_create sends no signals)
        if person.pk in indexed:
            reindex(person)
    connection.close()
    return len(ids), rows


def _init_worker() -> None:
    _seed_chunk.inst = Instruments()  # type: ignore[attr-defined]


def child_clinic(
    target: str, clients: int, years: float, profile_name: str, workers: int, search_index: str
) -> dict:
    import multiprocessing

    from django.contrib.auth.hashers import make_password
    from django.db import connections
    from django.utils import timezone

    _setup_django()
    from kap.accounts.models import CareLink, Clinic, Scope

    now = timezone.now()
    t0 = time.perf_counter()
    profile = PROFILES[profile_name](round(365.25 * years))
    clinic = Clinic.objects.create(name="Bench Clinic")
    domain = f"{target}.bench.example"
    width = len(str(clients))
    people = make_clients(
        [
            (
                f"client{i:0{width}d}@{domain}",
                f"{NAMES[i % len(NAMES)]} {SURNAMES[(i // len(NAMES)) % len(SURNAMES)]}",
            )
            for i in range(clients)
        ]
    )
    # The journey's client logs in over the network: a real password for this one only.
    journey = people[0]
    journey.password = make_password("bench journey password")
    journey.save(update_fields=["password"])
    therapist, device = make_therapist(f"dr.all@{domain}", "Dr All", clinic)
    scopes = list(Scope.values)
    links = [CareLink(client=c, therapist=therapist, scopes=scopes) for c in people]
    # A realistic clinic beside the one clinic-wide roster: caseloads of 50.
    caseload = 50
    for n in range(math.ceil(clients / caseload)):
        t, _ = make_therapist(
            f"dr.{n:04d}@{domain}", f"Dr {SURNAMES[n % len(SURNAMES)]} {n}", clinic
        )
        links += [
            CareLink(client=c, therapist=t, scopes=scopes)
            for c in people[n * caseload : (n + 1) * caseload]
        ]
    CareLink.objects.bulk_create(links, batch_size=5000)
    accounts_seconds = time.perf_counter() - t0

    ids = [p.pk for p in people]
    # The blind index holds one row per distinct term of every record: about 25,000 rows per
    # two-year client, 250 million for 10,000 (see the README). No clinic page reads it, only
    # the person's own search, so by default only the journey's client gets one.
    indexed = frozenset(ids if search_index == "every-client" else ids[:1])
    chunk = max(1, min(50, clients // (workers * 4) or 1))
    tasks = [
        (part, asdict(profile), now.isoformat(), 1000 + i, indexed.intersection(part))
        for i in range(0, len(ids), chunk)
        for part in [ids[i : i + chunk]]
    ]
    connections.close_all()
    # The pool's sockets must not be shared with forked workers: each opens its own.
    if hasattr(connections["default"], "close_pool"):
        connections["default"].close_pool()
    t1 = time.perf_counter()
    done_rows = 0
    ctx = multiprocessing.get_context("fork")
    with progress_bar() as bar, ctx.Pool(workers, initializer=_init_worker) as pool:
        task = bar.add_task(f"{target}: {clients:,} clients", total=clients, rate="")
        for n, rows in pool.imap_unordered(_seed_chunk, tasks):
            done_rows += rows
            rate = done_rows / (time.perf_counter() - t1)
            bar.update(task, advance=n, rate=f"{done_rows:,} rows, {rate:,.0f} rows/s")
    data_seconds = time.perf_counter() - t1
    analyze = _analyze()
    return {
        "target": target,
        "started": now.isoformat(),
        "clients": clients,
        "years": years,
        "profile_name": profile_name,
        "profile": asdict(profile),
        "journey_client": {
            "user_id": journey.pk,
            "email": journey.email,
            "password": "bench journey password",
        },
        "therapist": {
            "user_id": therapist.pk,
            "email": therapist.email,
            "device": device.persistent_id,
        },
        "rows": done_rows,
        "search_index": search_index,
        "accounts_seconds": round(accounts_seconds, 2),
        "data_seconds": round(data_seconds, 2),
        "analyze_seconds": round(analyze, 2),
        "rows_per_second": round(done_rows / data_seconds),
        "workers": workers,
        "client_ids": [ids[0], ids[-1]],
    }


# --- The parent ---------------------------------------------------------------------------------


def _reset_database(target: str) -> None:
    """Start from nothing: remove the data folder, and drop and create the PostgreSQL database."""
    import shutil

    folder = common.data_dir(target)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    engine, name = common.TARGETS[target]
    if engine == "postgresql":
        import psycopg

        with psycopg.connect(f"{common.PG_BASE}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')


def _run_child(target: str, args: list[str]) -> dict:
    _reset_database(target)
    started = time.perf_counter()
    proc = subprocess.run(
        [common.PYTHON, "-m", "bench.seed", "--child", target, *args],
        cwd=common.ROOT,
        env=common.env_for(target),
    )
    if proc.returncode:
        raise SystemExit(f"kap bench seed: seeding {target} failed (exit {proc.returncode})")
    manifest = common.read_manifest(target) or {}
    manifest["wall_seconds"] = round(time.perf_counter() - started, 1)
    common.manifest_path(target).write_text(json.dumps(manifest, indent=2))
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kap bench seed", description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, help="seed a clinic of N clients (PostgreSQL)")
    parser.add_argument("--years", type=float, help="years of records per person")
    parser.add_argument("--one-person", action="store_true", help="seed the one person (SQLite)")
    parser.add_argument("--profile", choices=PROFILES, default=None, help="clinic clients' data")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--search-index",
        choices=SEARCH_INDEX,
        default="journey-client",
        help="whose records the search's blind index covers in a clinic (default: the journey's "
        "client only; no clinic page reads it)",
    )
    parser.add_argument("--child", choices=common.TARGETS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        if args.child == "one-person":
            out = child_one_person(args.years or 10)
        else:
            out = child_clinic(
                args.child,
                args.clients,
                args.years or 2,
                args.profile or "full",
                args.workers,
                args.search_index,
            )
        common.manifest_path(args.child).write_text(json.dumps(out, indent=2))
        return 0

    everything = not args.one_person and args.clients is None
    profile = args.profile or os.environ.get("KAP_BENCH_PROFILE", "minimum")
    common.bench_secrets()
    print(f"Seeding into {common.DATA} (PostgreSQL: {common.PG_BASE}); nproc={os.cpu_count()}")
    done = []
    if args.one_person or everything:
        years = args.years or 10
        m = _run_child("one-person", ["--years", str(years)])
        done.append(("one person (SQLite)", m))
    if args.clients is not None or everything:
        clients = args.clients or 10_000
        years = str(args.years or 2)
        common_args = ["--years", years, "--profile", profile, "--workers", str(args.workers)]
        common_args += ["--search-index", args.search_index]
        m = _run_child("clinic", ["--clients", str(clients), *common_args])
        done.append((f"clinic of {clients:,} (PostgreSQL)", m))
        m = _run_child("clinic-small", ["--clients", str(common.SMALL_CLINIC), *common_args])
        done.append((f"clinic of {common.SMALL_CLINIC} (PostgreSQL)", m))
    print()
    print("Seed times")
    for name, m in done:
        if m.get("target") == "one-person":
            people = ", ".join(
                f"{k}: {v['rows']:,} rows in {v['seconds']} s" for k, v in m["people"].items()
            )
            print(
                f"  {name}: {m['wall_seconds']} s in all ({people}; ANALYZE {m['analyze_seconds']} s)"
            )
        else:
            print(
                f"  {name}: {m['wall_seconds']} s in all; {m['rows']:,} rows of client data in "
                f"{m['data_seconds']} s ({m['rows_per_second']:,} rows/s, {m['workers']} processes, "
                f"profile {m['profile_name']}: {m['profile']}; search index: "
                f"{m['search_index']}); VACUUM ANALYZE {m['analyze_seconds']} s"
            )
    # Merged with earlier seeds, so that seeding one part again keeps the others' times.
    path = common.DATA / "seed-times.json"
    summary = json.loads(path.read_text()) if path.exists() else {}
    summary.update({name: m for name, m in done})
    path.write_text(json.dumps(summary, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
