import re
from datetime import timedelta

import pytest
from django.utils import timezone

from kap.care.models import AuditEntry
from kap.journal.models import ActionStep, CheckIn, Insight
from kap.practices.models import PracticeLog
from tests.care.conftest import CANARY, gad7_answers, phq9_answers
from tests.care.helpers import body, require_pdf_text


def url(client_user) -> str:
    return f"/care/clients/{client_user.pk}/brief/"


def pdf_url(client_user) -> str:
    return f"/care/clients/{client_user.pk}/brief.pdf"


@pytest.fixture
def history(client_user, submit, make_session):
    """A completed session four days ago, the next one in two days, and things on both sides."""
    from kap.content.models import Instrument

    last = make_session(
        client_user, hours_from_now=-96, status="completed", notes=f"my own notes {CANARY}"
    )
    upcoming = make_session(
        client_user, hours_from_now=48, clinician_name="Dr Lee", setting="clinic"
    )
    old = timezone.now() - timedelta(days=10)
    Insight.objects.create(client=client_user, text="before the session", created_at=old)
    Insight.objects.create(client=client_user, session=last, text="I can pause before replying")
    submit(client_user, "integration-worksheet", {"felt-different": "lighter in my chest"}, last)
    submit(client_user, "intention-setting", {"want-to-understand": "my anger"}, upcoming)
    submit(client_user, "first-session-preparation", {"concerns-or-questions": "Eyes open?"})
    step = ActionStep.objects.create(client=client_user, text="Call my sister", created_at=old)
    CheckIn.objects.create(step=step, status="working", note="left a message")
    for total in (18, 14, 10):
        submit(client_user, "phq9", phq9_answers(total))
    submit(client_user, "gad7", gad7_answers(9))
    PracticeLog.objects.create(
        uuid="6f1f4d5e-0000-4000-8000-000000000001",
        client=client_user,
        instrument=Instrument.objects.current().get(key="grounding"),
        started_at=timezone.now() - timedelta(days=1),
        planned_seconds=300,
        elapsed_seconds=300,
        completed=True,
        settled_before=3,
        settled_after=7,
    )
    return last, upcoming


def test_the_brief_gathers_what_matters_for_the_next_session(
    as_therapist, client_user, linked, history
):
    page = body(as_therapist.get(url(client_user)))

    assert "Next session" in page and "with Dr Lee" in page
    assert "Since the last completed session" in page
    assert "my anger" in page
    assert "Eyes open?" in page
    assert "I can pause before replying" in page
    assert "before the session" not in page  # an insight from before the last session
    assert "lighter in my chest" in page
    assert "Call my sister" in page and "left a message" in page
    assert 'scope="row">PHQ-9</th>' in page
    assert "+" not in page.split("PHQ-9</th>")[1].split("</tr>")[0]
    assert "-8" in page.split("PHQ-9</th>")[1].split("</tr>")[0]  # 10 − 18
    assert "1 practice, 5 minutes in all." in page
    assert CANARY not in page


def test_the_score_table_has_first_previous_latest_and_change(
    as_therapist, client_user, linked, history
):
    row = body(as_therapist.get(url(client_user))).split("PHQ-9</th>")[1].split("</tr>")[0]
    cells = [c.split("</td>")[0].split(" <span")[0] for c in re.split(r"<td[^>]*>", row)[1:]]

    assert cells[0] == "18"
    assert cells[1] == "14"
    assert cells[2].startswith("10")
    assert cells[3] == "-8"


def test_the_pdf_holds_the_same_brief(as_therapist, client_user, linked, history):
    response = as_therapist.get(pdf_url(client_user))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith('attachment; filename="kap-brief-')
    assert response.content.startswith(b"%PDF")
    text = require_pdf_text(response.content)
    assert "Pre-session brief" in text
    assert "I can pause before replying" in text
    assert "Call my sister" in text
    assert CANARY not in text


def test_a_kind_not_shared_is_simply_absent(as_therapist, client_user, linked, history):
    linked.scopes = ["scores"]
    linked.save()

    page = body(as_therapist.get(url(client_user)))

    for heading in (
        "Next session",
        "Intentions",
        "Questions to bring",
        "Insights",
        "Worksheets and reflections",
        "Action steps",
        "Safety alerts",
        "Practices",
    ):
        assert heading not in page
    assert "Scores" in page
    assert "The last four weeks (sessions are not shared)" in page


def test_the_pdf_fetches_nothing_from_elsewhere():
    from kap.care.views import PDF_CSS
    from kap.lib.pdf import local_fetcher

    fetcher = local_fetcher(PDF_CSS)

    for address in ("http://example.org/x.css", "https://example.org/", "file:///etc/passwd"):
        with pytest.raises(ValueError):
            fetcher.fetch(address)
    assert fetcher.fetch(PDF_CSS.as_uri()) is not None


def test_the_brief_and_pdf_are_each_audited(as_therapist, client_user, linked):
    as_therapist.get(url(client_user))
    as_therapist.get(pdf_url(client_user))

    assert list(AuditEntry.objects.values_list("action", "what")) == [
        ("view", "pre-session brief"),
        ("export", "pre-session brief (PDF)"),
    ]


# --- Nothing unshared, anywhere -----------------------------------------------------------------


@pytest.fixture
def unshared(client_user, therapist, link, submit, make_session):
    """Alex shares scores and safety only; everything else they wrote holds the canary."""
    link(client_user, therapist, scopes=["scores", "safety"])
    session = make_session(
        client_user,
        hours_from_now=-30,
        status="completed",
        clinician_name=f"Dr {CANARY}",
        notes=f"notes {CANARY}",
    )
    make_session(client_user, hours_from_now=40, clinician_name=f"Dr {CANARY}")
    Insight.objects.create(client=client_user, session=session, text=f"insight {CANARY}")
    submit(
        client_user,
        "integration-worksheet",
        {"felt-different": f"worksheet {CANARY}", "might-do-next": f"step {CANARY}"},
        session,
    )
    submit(client_user, "intention-setting", {"want-to-understand": f"intention {CANARY}"})
    submit(client_user, "self-assessment", {"most-stuck-patterns": f"reflection {CANARY}"})
    submit(
        client_user, "first-session-preparation", {"concerns-or-questions": f"question {CANARY}"}
    )
    ActionStep.objects.create(client=client_user, text=f"another step {CANARY}")
    submit(client_user, "phq9", phq9_answers(12))
    return session


def test_unshared_kinds_never_appear_on_any_page_or_pdf(as_therapist, client_user, unshared):
    pages = {
        "roster": body(as_therapist.get("/care/")),
        "client": body(as_therapist.get(f"/care/clients/{client_user.pk}/")),
        "brief": body(as_therapist.get(url(client_user))),
    }
    for name, page in pages.items():
        assert CANARY not in page, name
        assert "score 12" in page or "12" in page, name
    client_page = pages["client"]
    for word in (
        "Insight",
        "Intention Setting",
        "Action step",
        "Question to bring",
        "KAP session",
        "Self-Assessment",
        "Mini Worksheet",
    ):
        assert word not in client_page.split("Not shared:")[1].split("</p>", 1)[1], word

    pdf = as_therapist.get(pdf_url(client_user))
    assert pdf.status_code == 200
    text = require_pdf_text(pdf.content)
    assert CANARY not in text
    assert "12" in text


def test_a_long_period_shows_the_newest_entries_and_counts_the_rest(
    as_therapist, client_user, linked, make_session
):
    """Hundreds of entries since the last session: the brief (and its PDF) stays a page to read
    before a session, showing the newest of each kind and how many more the timeline holds."""
    from kap.care.brief import BRIEF_ENTRIES

    make_session(client_user, hours_from_now=-24 * 30, status="completed")
    start = timezone.now() - timedelta(days=20)
    Insight.objects.bulk_create(
        Insight(
            client=client_user, text=f"insight number {n}", created_at=start + timedelta(hours=n)
        )
        for n in range(BRIEF_ENTRIES + 45)
    )
    ActionStep.objects.bulk_create(
        ActionStep(
            client=client_user, text=f"step number {n}", created_at=start + timedelta(hours=n)
        )
        for n in range(BRIEF_ENTRIES + 3)
    )
    page = body(as_therapist.get(url(client_user)))
    newest, oldest = BRIEF_ENTRIES + 44, 44
    assert f"insight number {newest}" in page and f"insight number {oldest + 1}" in page
    assert f"insight number {oldest}<" not in page and "insight number 0<" not in page
    assert "And 45 earlier insights in this period" in page
    assert "And 3 earlier action steps in this period" in page
    text = require_pdf_text(as_therapist.get(pdf_url(client_user)).content)
    assert "And 45 earlier insights" in " ".join(text.split())
