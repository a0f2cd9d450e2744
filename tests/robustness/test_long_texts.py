"""Every free-text field has a maximum, enforced by the server with a message naming the field;
the summary and the brief stay a few pages for the longest record people can write.

The limits are in kap/lib/limits.py and listed in SECURITY.md ("Limits on input").
"""

from __future__ import annotations

import math
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
    Response,
    SafetyEvent,
    SupportItem,
)
from kap.lib.limits import LONG_TEXT, SHORT_TEXT, SHOWN_IN_SUMMARIES, THERAPIST_NOTE
from kap.lib.pdf_text import LINE_CHARS, SECTION_CHARS, Budget, answers_that_fit, fitting
from tests.progress.conftest import pdf_text

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


# Past every cap: the summary reads at most 50 insights and 30 of the rest, the brief 20 of each.
PAST_THE_CAPS = 60


def fill_to_the_limits(client, long: int = LONG_TEXT, short: int = SHORT_TEXT) -> None:
    """A client with more of every record than a summary or a brief shows, each text at its
    maximum length: the largest record they must print. (With `long` and `short` of 1: the most
    entries a section can hold, each a line.)"""
    from kap.content.models import Instrument
    from kap.journal.services import submit_response

    now = timezone.now()
    sessions = [
        KapSession.objects.create(
            client=client,
            starts_at=now - timedelta(days=3 + n),
            status="completed",
            clinician_name=words(120),
            notes=words(LONG_TEXT),
        )
        for n in range(3)
    ]
    last = sessions[0]
    intention = Instrument.objects.current().get(key="intention-setting")
    for n in range(PAST_THE_CAPS):
        upcoming = KapSession.objects.create(
            client=client, starts_at=now + timedelta(days=2 + n), clinician_name=words(120)
        )
        answers = _filled(intention, long)
        submit_response(client=client, instrument=intention, session=upcoming, answers=answers)
    for key in ("integration-worksheet", "first-session-preparation", "capture-insights"):
        instrument = Instrument.objects.current().get(key=key)
        for _ in range(PAST_THE_CAPS // 3):
            answers = _filled(instrument, long)
            submit_response(client=client, instrument=instrument, session=last, answers=answers)
    Insight.objects.bulk_create(
        Insight(client=client, session=last, text=words(long)) for _ in range(PAST_THE_CAPS)
    )
    for _ in range(PAST_THE_CAPS):
        step = ActionStep.objects.create(client=client, session=last, text=words(short))
        CheckIn.objects.bulk_create(
            CheckIn(step=step, client=client, status="working", note=words(short)) for _ in range(5)
        )
    QuestionToBring.objects.bulk_create(
        QuestionToBring(client=client, text=words(short)) for _ in range(PAST_THE_CAPS)
    )
    SupportItem.objects.bulk_create(
        SupportItem(client=client, category="people", text=words(short))
        for _ in range(PAST_THE_CAPS)
    )
    response = Response.objects.for_client(client).first()
    SafetyEvent.objects.bulk_create(
        SafetyEvent(client=client, response=response, rule_key=f"rule-{n}")
        for n in range(PAST_THE_CAPS)
    )


def pdf_pages(data: bytes) -> int:
    tool = shutil.which("pdfinfo")
    if tool is None:
        pytest.skip("pdfinfo is not installed (apt-get install poppler-utils); pages uncounted")
    out = subprocess.run([tool, "-"], input=data, capture_output=True, check=True).stdout
    return int(re.search(rb"^Pages:\s+(\d+)", out, re.M).group(1))


# A few pages, whatever the record holds (kap.lib.pdf_text): each section shows about a page of
# writing, each text at most SHOWN_IN_SUMMARIES characters. So the time to make a PDF is bounded
# too; it is printed here, not asserted (speed goals live in the benchmarks).
MOST_PAGES = 8
ALL_SECTIONS = ("intentions", "questions", "insights", "worksheet", "steps", "scores", "practices")
SUMMARY_PDF = "/progress/summary.pdf?since=2000-01-01&" + "&".join(
    f"sections={s}" for s in ALL_SECTIONS
)


def _timed_get(client, address: str):
    started = time.monotonic()
    response = client.get(address)
    return response, time.monotonic() - started


# The longest texts, and the most entries (each a line).
TEXTS = {"longest texts": (LONG_TEXT, SHORT_TEXT), "one-line texts": (1, 1)}


@pytest.mark.parametrize("texts", list(TEXTS))
def test_the_summary_pdf_of_the_largest_record_stays_a_few_pages(logged_in, client_user, texts):
    fill_to_the_limits(client_user, *TEXTS[texts])

    response, took = _timed_get(logged_in, SUMMARY_PDF)

    assert response.status_code == 200
    pages = pdf_pages(response.content)
    print(f"summary PDF of the largest record ({texts}): {pages} pages in {took:.1f} s")
    assert pages <= MOST_PAGES
    text = " ".join(pdf_text(response.content).split())
    # What is left out is said, section by section, and in each shortened text.
    for left_out in (
        "earlier intentions in this period, not shown here",
        "more open questions, not shown here",
        "earlier insights in this period, not shown here",
        "earlier action steps in this period, not shown here",
        *(["more characters in the app)"] if texts == "longest texts" else []),
    ):
        assert left_out in text, left_out


@pytest.mark.parametrize("texts", list(TEXTS))
def test_the_brief_pdf_of_the_largest_record_stays_a_few_pages(
    as_therapist, client_user, linked, texts
):
    fill_to_the_limits(client_user, *TEXTS[texts])

    response, took = _timed_get(as_therapist, f"/care/clients/{client_user.pk}/brief.pdf")

    assert response.status_code == 200
    pages = pdf_pages(response.content)
    print(f"brief PDF of the largest record ({texts}): {pages} pages in {took:.1f} s")
    assert pages <= MOST_PAGES
    text = " ".join(pdf_text(response.content).split())
    for left_out in (
        f"And {PAST_THE_CAPS - 20} earlier alerts, {PAST_THE_CAPS - 20} of them not acknowledged",
        "earlier intentions in this period, not shown here",
        "older open questions, not shown here",
        "earlier insights in this period, not shown here",
        "earlier worksheets or reflections in this period, not shown here",
        "earlier action steps in this period, not shown here",
        *(["more characters in the app)"] if texts == "longest texts" else []),
    ):
        assert left_out in text, left_out


def _bounded_alike(page: str) -> None:
    assert words(SHOWN_IN_SUMMARIES + 1) not in page
    assert page.count(" more characters in the app)") >= 5
    assert "earlier insights in this period, not shown here" in page


def test_the_summary_page_it_is_printed_from_is_bounded_alike(logged_in, client_user):
    """The pages the PDFs are printed from share their bodies, so they are bounded alike."""
    fill_to_the_limits(client_user)

    page = logged_in.get(SUMMARY_PDF.replace("summary.pdf", "summary/view/"))

    assert page.status_code == 200
    _bounded_alike(page.content.decode())


def test_the_brief_page_it_is_printed_from_is_bounded_alike(as_therapist, client_user, linked):
    fill_to_the_limits(client_user)

    page = as_therapist.get(f"/care/clients/{client_user.pk}/brief/")

    assert page.status_code == 200
    _bounded_alike(page.content.decode())


def test_a_long_text_shows_its_start_and_how_much_is_left_out(logged_in, client_user):
    Insight.objects.create(client=client_user, text=words(LONG_TEXT))

    page = logged_in.get("/progress/summary/view/?since=2000-01-01&sections=insights").content
    text = page.decode()

    shown = re.search(r"(word[^<…]*) … \(([\d,]+) more characters in the app\)", text)
    assert shown, text[:3000]
    assert len(shown.group(1)) <= SHOWN_IN_SUMMARIES
    assert len(shown.group(1).rstrip()) + int(shown.group(2).replace(",", "")) == LONG_TEXT


def test_a_section_shows_the_newest_entries_that_fit_and_counts_the_rest():
    budget = Budget()
    shown, left_out = fitting(
        [words(LONG_TEXT)] * 30 + [words(10)] * 100, lambda text, b: b.take(text), budget
    )

    assert 1 < len(shown) < 30 and left_out == 130 - len(shown)
    assert sum(len(text) for text in shown) <= SECTION_CHARS + LINE_CHARS
    assert all(text.endswith("more characters in the app)") for text in shown)
    # Many short texts are bounded too: each counts as at least a line.
    shown, left_out = fitting([""] * 1000, lambda text, b: b.take(text))
    assert len(shown) == math.ceil(SECTION_CHARS / LINE_CHARS) and left_out == 1000 - len(shown)


def test_a_form_with_hundreds_of_answers_shows_those_that_fit():
    answers = [(f"Question {n}", words(SHORT_TEXT)) for n in range(500)]

    shown, left_out = answers_that_fit(answers, Budget())

    assert [q for q, _ in shown] == [q for q, _ in answers[: len(shown)]]
    assert 0 < len(shown) < 10
    assert left_out == 500 - len(shown)


def test_at_most_thirty_open_questions_are_in_the_summary(logged_in, client_user):
    QuestionToBring.objects.bulk_create(
        QuestionToBring(client=client_user, text=f"question {i}") for i in range(35)
    )
    page = logged_in.get("/progress/summary/view/?sections=questions").content.decode()
    assert "question 29<" in page and "question 30<" not in page
    assert "And 5 more open questions" in page
