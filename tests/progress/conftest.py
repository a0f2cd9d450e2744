"""Factories for the Progress tests: sessions, scored check-ins on chosen days, practices.

Personas (client_user, stranger, logged_in, guide) come from tests/conftest.py.
"""

import re
import shutil
import subprocess
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

CANARY = "purple giraffe canary"


def days_ago(days: float):
    return timezone.now() - timedelta(days=days)


def spread(total: int, items: int) -> list[int]:
    """Weights 0–3 over `items` questions that add up to `total`."""
    assert 0 <= total <= 3 * items
    weights = []
    for _ in range(items):
        weights.append(min(3, total))
        total -= weights[-1]
    return weights


OPTION = {0: "not-at-all", 1: "several-days", 2: "more-than-half", 3: "nearly-every-day"}


def phq9_answers(total: int) -> dict:
    # Item 9 stays at "not at all": these tests are about trends, not the safety screen.
    answers = {f"q{i}": OPTION[w] for i, w in enumerate(spread(total, 8), start=1)}
    return {**answers, "q9": "not-at-all"}


def gad7_answers(total: int) -> dict:
    return {f"q{i}": OPTION[w] for i, w in enumerate(spread(total, 7), start=1)}


OUTCOME_KEYS = [
    "openness-and-flexibility",
    "less-heaviness",
    "clarity-and-perspective",
    "self-compassion",
    "renewed-possibility",
]


def outcome_answers(*ratings: int) -> dict:
    return dict(zip(OUTCOME_KEYS, ratings, strict=True))


@pytest.fixture
def submit(guide):
    """Submit answers as the journal does, then date the response `days` ago."""
    from kap.content.models import Instrument
    from kap.journal.models import Response
    from kap.journal.services import submit_response

    def do(client, key: str, answers: dict, *, days: float = 0, session=None):
        instrument = Instrument.objects.current().get(key=key)
        response = submit_response(
            client=client, instrument=instrument, session=session, answers=answers
        ).response
        when = days_ago(days)
        Response.objects.filter(pk=response.pk).update(submitted_at=when, created_at=when)
        response.refresh_from_db()
        return response

    return do


@pytest.fixture
def phq9(submit):
    def do(client, total: int, *, days: float = 0):
        return submit(client, "phq9", phq9_answers(total), days=days)

    return do


@pytest.fixture
def gad7(submit):
    def do(client, total: int, *, days: float = 0):
        return submit(client, "gad7", gad7_answers(total), days=days)

    return do


@pytest.fixture
def make_session(db):
    from kap.journal.models import KapSession

    def make(client, *, days: float = 1, status: str = "completed", **fields):
        return KapSession.objects.create(
            client=client, starts_at=days_ago(days), status=status, **fields
        )

    return make


@pytest.fixture
def insight(db):
    from kap.journal.models import Insight

    def make(client, text: str, *, days: float = 0, session=None):
        return Insight.objects.create(
            client=client, text=text, session=session, created_at=days_ago(days)
        )

    return make


@pytest.fixture
def step(db):
    from kap.journal.models import ActionStep

    def make(client, text: str, *, days: float = 0, session=None, status: str = "open"):
        return ActionStep.objects.create(
            client=client, text=text, session=session, status=status, created_at=days_ago(days)
        )

    return make


@pytest.fixture
def practice(guide):
    from kap.content.models import Instrument
    from kap.practices.models import PracticeLog

    def log(client, *, days: float = 0, before=None, after=None, seconds: int = 300):
        return PracticeLog.objects.create(
            uuid=uuid.uuid4(),
            client=client,
            instrument=Instrument.objects.current().get(key="grounding"),
            started_at=days_ago(days),
            planned_seconds=seconds,
            elapsed_seconds=seconds,
            completed=True,
            settled_before=before,
            settled_after=after,
        )

    return log


@pytest.fixture
def stranger_with_canary(stranger, make_session, insight, step, submit, phq9):
    """Another client who wrote the canary phrase everywhere a summary or trend could look."""
    session = make_session(stranger, days=2)
    insight(stranger, f"{CANARY} insight", session=session)
    step(stranger, f"{CANARY} step", session=session)
    from kap.journal.models import QuestionToBring

    QuestionToBring.objects.create(client=stranger, text=f"{CANARY} question")
    submit(
        stranger,
        "intention-setting",
        {"want-to-understand": f"{CANARY} intention"},
        session=session,
    )
    submit(stranger, "integration-worksheet", {"insight-emerged": f"{CANARY} worksheet"})
    phq9(stranger, 20, days=10)
    phq9(stranger, 3, days=1)
    return stranger


def html(response) -> str:
    return response.content.decode()


def text_of(response) -> str:
    """The page's words without tags, whitespace collapsed: what a reader hears."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", html(response), flags=re.S)
    body = re.sub(r"<[^>]+>", " ", body)
    import html as html_lib

    return re.sub(r"\s+", " ", html_lib.unescape(body)).strip()


def pdf_text(data: bytes) -> str:
    """The text of a PDF by poppler's pdftotext, or a skip that says how to get it."""
    tool = shutil.which("pdftotext")
    if tool is None:
        pytest.skip(
            "pdftotext is not installed (apt-get install poppler-utils); PDF text unchecked"
        )
    result = subprocess.run(
        [tool, "-layout", "-", "-"], input=data, capture_output=True, check=True
    )
    return re.sub(r"\s+", " ", result.stdout.decode())
