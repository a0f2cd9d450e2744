"""A questionnaire a person imported that is a known measure (it carries the measure's LOINC panel
code, as the NLM PHQ-9 does: 44249-1) is followed on Progress and in the summary like the pack's
own: under its own title, with the measure's bands and its words for response and remission.
An import without such a code is not a measure, and is not charted."""

import re

import pytest

from kap.exports import questionnaire_import
from tests.data.people import FHIR_FIXTURES, SDC_PHQ9, imported_phq9
from tests.progress.conftest import days_ago, html, spread, text_of

URL = "/progress/"


def answers_for(instrument, total: int) -> dict:
    """Answers adding up to `total`, the last scored item (thoughts of self-harm) left at zero."""
    spec = instrument.parsed
    scored = [i for i in spec.items if i.scored]
    weights = [*spread(total, len(scored) - 1), 0]
    answers = {}
    for item, weight in zip(scored, weights, strict=True):
        option = next(o for o in spec.options_for(item) if o.weight == weight)
        answers[item.key] = option.value
    return answers


@pytest.fixture
def submit_to(guide):
    from kap.journal.models import Response
    from kap.journal.services import submit_response

    def do(instrument, client, total: int, *, days: float):
        response = submit_response(
            client=client,
            instrument=instrument,
            session=None,
            answers=answers_for(instrument, total),
        ).response
        when = days_ago(days)
        Response.objects.filter(pk=response.pk).update(submitted_at=when, created_at=when)
        return response

    return do


def section(page: str, key: str) -> str:
    match = re.search(rf'<section[^>]*aria-labelledby="{key}-title".*?</section>', page, re.S)
    assert match, f"no section for {key}"
    return match.group(0)


def test_an_imported_phq9_is_charted_under_its_own_title_with_the_measures_words(
    logged_in, client_user, submit_to
):
    mine = imported_phq9(client_user)
    assert mine.parsed.code == "44249-1"
    submit_to(mine, client_user, 14, days=30)
    submit_to(mine, client_user, 4, days=2)

    response = logged_in.get(URL)

    assert response.status_code == 200
    page = html(response)
    part = section(page, mine.key)
    assert f'<h2 id="{mine.key}-title">{mine.title}</h2>' in part
    # The chart has the PHQ-9's bands (the pack's, where the import has none of its own) ...
    svg = re.search(rf'<svg[^>]*id="chart-{mine.key}".*?</svg>', part, re.S).group(0)
    for band in ("Minimal", "Mild", "Moderate", "Moderately severe", "Severe"):
        assert f">{band}</text>" in svg
    # ... and so has each score in its table.
    rows = re.findall(r"<tr>.*?</tr>", part.split("<tbody>")[1], re.S)
    assert len(rows) == 2
    assert ">14</td><td>Moderate</td>" in rows[0]
    assert ">4</td><td>Minimal</td>" in rows[1]
    words = text_of(response)
    assert f"Your latest {mine.title} (4) is 71% lower than your first (14)." in words
    assert "Researchers call a drop of half or more a ‘response’." in words
    assert "It is also below 5, which researchers call ‘remission’." in words
    # The pack's PHQ-9 is still its own section, not mixed with the import.
    assert "No PHQ-9 yet." in words


def test_an_imported_phq9_is_in_the_summarys_scores(logged_in, client_user, submit_to):
    mine = imported_phq9(client_user)
    submit_to(mine, client_user, 14, days=30)
    submit_to(mine, client_user, 4, days=2)

    response = logged_in.get("/progress/summary/view/?since=&sections=scores")

    assert response.status_code == 200
    words = text_of(response)
    assert f"{mine.title} 14 (Moderate)" in words
    assert "4 (Minimal)" in words
    assert "10 points lower than the first." in words
    assert "which researchers call ‘remission’" in words


def test_an_import_without_a_measures_code_is_not_charted(logged_in, client_user, submit_to):
    other = questionnaire_import.import_questionnaire(
        owner=client_user, raw=(FHIR_FIXTURES / SDC_PHQ9).read_bytes()
    )[0]
    assert other.parsed.code is None
    submit_to(other, client_user, 12, days=3)

    response = logged_in.get(URL)

    assert response.status_code == 200
    assert f'id="{other.key}-title"' not in html(response)
    assert other.title not in text_of(response)


def test_another_persons_import_is_not_on_my_progress(logged_in, client_user, stranger, submit_to):
    theirs = imported_phq9(stranger)
    submit_to(theirs, stranger, 20, days=3)

    response = logged_in.get(URL)

    assert response.status_code == 200
    assert f'id="{theirs.key}-title"' not in html(response)


@pytest.fixture
def own_phq9(client_user, guide):
    """A personal copy of the PHQ-9 under another key and title, carrying the PHQ-9's LOINC panel
    code and a scoring rule without bands (as some FHIR questionnaires have)."""
    from kap.content.models import Instrument, Scope

    spec = dict(Instrument.objects.current().get(key="phq9").spec)
    spec.update(key="my-mood-check", title="My mood check", code="44249-1")
    spec["scoring"] = {**spec["scoring"], "bands": []}
    spec.pop("attribution", None)
    return Instrument.objects.create(
        scope=Scope.PERSONAL,
        owner=client_user,
        key="my-mood-check",
        version=1,
        kind=spec["kind"],
        title="My mood check",
        spec=spec,
        checksum="test",
    )


def test_a_personal_measure_without_bands_takes_the_measures_bands(
    logged_in, client_user, own_phq9, submit_to
):
    assert own_phq9.parsed.scoring.bands == []
    submit_to(own_phq9, client_user, 16, days=20)
    submit_to(own_phq9, client_user, 7, days=1)

    response = logged_in.get(URL)

    assert response.status_code == 200
    part = section(html(response), "my-mood-check")
    assert '<h2 id="my-mood-check-title">My mood check</h2>' in part
    svg = re.search(r'<svg[^>]*id="chart-my-mood-check".*?</svg>', part, re.S).group(0)
    assert svg.count('class="band band-') == 5
    rows = re.findall(r"<tr>.*?</tr>", part.split("<tbody>")[1], re.S)
    assert ">16</td><td>Moderately severe</td>" in rows[0]
    assert ">7</td><td>Mild</td>" in rows[1]
    words = text_of(response)
    assert "Your latest My mood check (7) is 56% lower than your first (16)." in words
    assert "‘response’" in words
    assert "remission" not in words
