"""An answer reads the same wherever it is shown: the person's own response page, the therapist's
timeline and brief, the summary to bring to therapy and the CSV export (kap.content.answers)."""

import csv
import io
import zipfile

import pytest

from kap.care import brief
from kap.exports.csv_export import export_csv_zip
from kap.progress import summary

CHECKLIST = "signs-you-might-benefit"
TICKED, UNTICKED = "stuck-despite-insight", "loss-of-meaning"


@pytest.fixture
def checklist_response(client_user, guide):
    from kap.content.models import Instrument
    from kap.journal.services import submit_response

    instrument = Instrument.objects.current().get(key=CHECKLIST)
    answers = {item.key: item.key == TICKED for item in instrument.parsed.items}
    return submit_response(
        client=client_user, instrument=instrument, session=None, answers=answers
    ).response


def _text(key: str) -> str:
    from kap.content.models import Instrument

    return Instrument.objects.current().get(key=CHECKLIST).parsed.items_by_key[key].text


def _csv_words(user) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(export_csv_zip(user))) as zf:
        raw = zf.read("responses.csv").decode("utf-8-sig")
    rows = csv.DictReader(io.StringIO(raw, newline=""))
    return {r["item_text"]: r["value_label"] for r in rows if r["instrument"] == CHECKLIST}


def test_an_unticked_box_reads_the_same_in_the_brief_the_timeline_the_summary_and_the_csv(
    client_user, checklist_response
):
    # The brief and the therapist's timeline show a response through brief.answered.
    shown = {
        "brief and timeline": dict(
            brief.answered(checklist_response, with_answers=True, with_session=False).answers
        ),
        "summary": dict(summary.answered(checklist_response).answers),
        "csv": _csv_words(client_user),
    }

    for where, words in shown.items():
        assert words[_text(UNTICKED)] == "No", where
        assert words[_text(TICKED)] == "Yes", where


def test_the_person_sees_the_same_words_on_their_response_page(logged_in, checklist_response):
    from django.urls import reverse

    page = logged_in.get(reverse("journal:response", args=[checklist_response.pk]))

    answered = {item.text: words for item, words in page.context["answered"]}
    assert answered[_text(UNTICKED)] == "No"
    assert answered[_text(TICKED)] == "Yes"
