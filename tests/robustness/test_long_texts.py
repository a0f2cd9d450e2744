"""Every free-text field has a maximum, enforced by the server with a message naming the field;
the summary and the brief stay a few pages for the longest record people can write.

The limits are in kap/lib/limits.py and listed in SECURITY.md ("Limits on input").
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone

from kap.journal.models import (
    ActionStep,
    CheckIn,
    Insight,
    KapSession,
    QuestionToBring,
    SupportItem,
)
from kap.lib.limits import LONG_TEXT, SHORT_TEXT, SHOWN_IN_SUMMARIES, THERAPIST_NOTE

pytestmark = pytest.mark.django_db


def words(n: int) -> str:
    """Exactly n characters of words (none at either end is a space, which forms strip)."""
    text = ("word " * (n // 5 + 1))[:n]
    return text[:-1] + "x" if text.endswith(" ") else text


@dataclass(frozen=True)
class Limited:
    name: str  # what the test is called
    what: str  # the field as the message names it
    limit: int
    model: type

    def message(self, length: int) -> str:
        return f"Please shorten {self.what} to {self.limit:,} characters or fewer; it has {length}."


def _session(client):
    return KapSession.objects.create(
        client=client, starts_at=timezone.now() - timedelta(days=1), status="completed"
    )


def _step(client):
    return ActionStep.objects.create(client=client, text="Walk after lunch")


# (field, how to post a value into it) — the client's own forms
CASES = {
    "action step": (
        Limited("action step", "the step", SHORT_TEXT, ActionStep),
        lambda c, user, text: c.post("/steps/new/", {"text": text}),
    ),
    "check-in note": (
        Limited("check-in note", "the note", SHORT_TEXT, CheckIn),
        lambda c, user, text: (
            lambda step: c.post(
                f"/steps/{step.pk}/check-in/",
                {f"step-{step.pk}-status": "working", f"step-{step.pk}-note": text},
            )
        )(_step(user)),
    ),
    "question to bring": (
        Limited("question to bring", "the question", SHORT_TEXT, QuestionToBring),
        lambda c, user, text: c.post("/questions/new/", {"text": text}),
    ),
    "support item": (
        Limited("support item", "this", SHORT_TEXT, SupportItem),
        lambda c, user, text: c.post("/support/", {"category": "people", "text": text}),
    ),
    "insight": (
        Limited("insight", "the insight", LONG_TEXT, Insight),
        lambda c, user, text: c.post(f"/sessions/{_session(user).pk}/insights/", {"text": text}),
    ),
    "session notes": (
        Limited("session notes", "the notes", LONG_TEXT, KapSession),
        lambda c, user, text: c.post(
            "/sessions/new/",
            {"starts_at": "2025-03-01T10:00", "status": "cancelled", "notes": text},
        ),
    ),
}


def _count(model, user) -> int:
    if model is CheckIn:
        return CheckIn.objects.filter(step__client=user).count()
    return model.objects.filter(client=user).count()


@pytest.mark.parametrize("case", list(CASES))
def test_a_text_one_character_over_its_limit_is_refused_by_name(logged_in, client_user, case):
    limited, post = CASES[case]
    before = _count(limited.model, client_user)
    response = post(logged_in, client_user, words(limited.limit + 1))
    assert response.status_code in (200, 400), response.status_code
    assert limited.message(limited.limit + 1) in response.content.decode()
    assert _count(limited.model, client_user) == before


@pytest.mark.parametrize("case", list(CASES))
def test_a_text_of_exactly_its_limit_is_kept_whole(logged_in, client_user, case):
    limited, post = CASES[case]
    text = words(limited.limit)
    response = post(logged_in, client_user, text)
    assert response.status_code == 302, response.content.decode()[:2000]
    field = (
        "notes" if limited.model is KapSession else ("note" if limited.model is CheckIn else "text")
    )
    rows = (
        CheckIn.objects.filter(step__client=client_user)
        if limited.model is CheckIn
        else limited.model.objects.filter(client=client_user)
    )
    assert text in [getattr(r, field) for r in rows]


def test_a_reflection_answer_over_its_limit_is_refused_and_nothing_is_submitted(
    logged_in, client_user
):
    from kap.journal.models import Response

    response = logged_in.post("/i/integration-worksheet/", {"felt-different": words(LONG_TEXT + 1)})
    assert response.status_code in (200, 400)
    assert f"Please shorten your answer to {LONG_TEXT:,} characters or fewer" in (
        response.content.decode()
    )
    assert not Response.objects.for_client(client_user).submitted().exists()


def test_a_therapist_note_over_its_limit_is_refused(as_therapist, client_user, linked):
    from kap.care.models import TherapistNote

    url = f"/care/clients/{client_user.pk}/notes/"
    response = as_therapist.post(url, {"text": words(THERAPIST_NOTE + 1)})
    assert response.status_code == 400
    message = f"Please shorten the note to {THERAPIST_NOTE:,} characters or fewer; it has"
    assert message in response.content.decode()
    assert not TherapistNote.objects.exists()
    assert as_therapist.post(url, {"text": words(THERAPIST_NOTE)}).status_code == 302
    assert TherapistNote.objects.count() == 1


def test_the_forms_tell_the_browser_the_limits_too(logged_in):
    page = logged_in.get("/steps/new/").content.decode()
    assert f'maxlength="{SHORT_TEXT}"' in page
    page = logged_in.get("/sessions/new/").content.decode()
    assert f'maxlength="{LONG_TEXT}"' in page
    assert 'min="1900-01-01T00:00"' in page and 'max="2100-12-31T23:59"' in page


# --- The PDFs, for the longest record people can write ------------------------------------------


def _filled(instrument, length: int) -> dict:
    spec = instrument.parsed
    answers = {}
    for item in spec.items:
        kind = spec.item_type(item)
        if kind == "text":
            answers[item.key] = words(length)
        elif kind == "check":
            answers[item.key] = True
        elif kind == "choice":
            answers[item.key] = spec.options_for(item)[0].value
        else:
            answers[item.key] = item.min
    return answers


def fill_to_the_limits(client) -> None:
    """A client with a few of every record, each text at its maximum length."""
    from kap.content.models import Instrument
    from kap.journal.services import submit_response

    now = timezone.now()
    last = KapSession.objects.create(
        client=client,
        starts_at=now - timedelta(days=3),
        status="completed",
        clinician_name=words(120),
        notes=words(LONG_TEXT),
    )
    upcoming = KapSession.objects.create(
        client=client, starts_at=now + timedelta(days=2), clinician_name=words(120)
    )
    for key, session in (
        ("intention-setting", upcoming),
        ("integration-worksheet", last),
        ("first-session-preparation", None),
        ("capture-insights", last),
    ):
        instrument = Instrument.objects.current().get(key=key)
        submit_response(
            client=client,
            instrument=instrument,
            session=session,
            answers=_filled(instrument, LONG_TEXT),
        )
    for _ in range(3):
        Insight.objects.create(client=client, session=last, text=words(LONG_TEXT))
        step = ActionStep.objects.create(client=client, session=last, text=words(SHORT_TEXT))
        for _ in range(3):
            CheckIn.objects.create(step=step, status="working", note=words(SHORT_TEXT))
        QuestionToBring.objects.create(client=client, text=words(SHORT_TEXT))
        SupportItem.objects.create(client=client, category="people", text=words(SHORT_TEXT))


def pdf_pages(data: bytes) -> int:
    tool = shutil.which("pdfinfo")
    if tool is None:
        pytest.skip("pdfinfo is not installed (apt-get install poppler-utils); pages uncounted")
    out = subprocess.run([tool, "-"], input=data, capture_output=True, check=True).stdout
    return int(re.search(rb"^Pages:\s+(\d+)", out, re.M).group(1))


# A few pages: the texts are shortened to SHOWN_IN_SUMMARIES characters each.
MOST_PAGES = 8


def test_the_summary_pdf_of_the_longest_record_stays_a_few_pages(logged_in, client_user):
    fill_to_the_limits(client_user)
    sections = "&".join(
        f"sections={s}"
        for s in ("intentions", "questions", "insights", "worksheet", "steps", "scores")
    )
    started = time.monotonic()
    response = logged_in.get(f"/progress/summary.pdf?since=2000-01-01&{sections}")
    took = time.monotonic() - started
    assert response.status_code == 200
    pages = pdf_pages(response.content)
    print(f"summary PDF of the longest record: {pages} pages in {took:.1f} s")
    assert pages <= MOST_PAGES


def test_the_brief_pdf_of_the_longest_record_stays_a_few_pages(as_therapist, client_user, linked):
    fill_to_the_limits(client_user)
    started = time.monotonic()
    response = as_therapist.get(f"/care/clients/{client_user.pk}/brief.pdf")
    took = time.monotonic() - started
    assert response.status_code == 200
    pages = pdf_pages(response.content)
    print(f"brief PDF of the longest record: {pages} pages in {took:.1f} s")
    assert pages <= MOST_PAGES


def test_the_summary_shows_at_most_so_much_of_each_text_and_says_so(logged_in, client_user):
    fill_to_the_limits(client_user)
    page = logged_in.get("/progress/summary/view/?since=2000-01-01&sections=insights").content
    text = page.decode()
    assert "(shortened)" in text
    assert words(LONG_TEXT) not in text
    assert words(SHOWN_IN_SUMMARIES - 40)[:200] in text


def test_at_most_thirty_open_questions_are_in_the_summary(logged_in, client_user):
    QuestionToBring.objects.bulk_create(
        QuestionToBring(client=client_user, text=f"question {i}") for i in range(35)
    )
    page = logged_in.get("/progress/summary/view/?sections=questions").content.decode()
    assert "question 29<" in page and "question 30<" not in page
    assert "And 5 more open questions" in page
