"""A questionnaire a client imported that is one of the packs' measures (the NLM PHQ-9 carries
the PHQ-9's LOINC panel code) is shared as the measure is: under "scores", its score and band
only, named on the consent lines. An import that is no known measure is shared under no kind."""

import re

import pytest

from kap.exports import questionnaire_import
from tests.care.conftest import verify
from tests.care.helpers import body
from tests.data.people import FHIR_FIXTURES, SDC_PHQ9, imported_phq9
from tests.progress.test_imported_measure import answers_for


@pytest.fixture
def answer(guide):
    from kap.journal.services import submit_response

    def do(instrument, client, total: int):
        return submit_response(
            client=client,
            instrument=instrument,
            session=None,
            answers=answers_for(instrument, total),
        ).response

    return do


@pytest.fixture
def imports(client_user, answer):
    """Alex's own PHQ-9 (a known measure, answered twice) and an import with no measure's code."""
    measure = imported_phq9(client_user)
    answer(measure, client_user, 15)
    answer(measure, client_user, 6)
    other = questionnaire_import.import_questionnaire(
        owner=client_user, raw=(FHIR_FIXTURES / SDC_PHQ9).read_bytes()
    )[0]
    answer(other, client_user, 12)
    return measure, other


def test_an_imported_measure_is_in_the_brief_under_scores(
    client, client_user, therapist, link, imports
):
    measure, other = imports
    link(client_user, therapist, scopes=["scores"])
    as_therapist = verify(client, therapist)

    page = body(as_therapist.get(f"/care/clients/{client_user.pk}/brief/"))

    row = page.split(f'scope="row">{measure.title}</th>')[1].split("</tr>")[0]
    cells = [c.split("</td>")[0].split(" <span")[0] for c in re.split(r"<td[^>]*>", row)[1:]]
    assert cells[0] == "15"
    assert cells[2].startswith("6")
    assert cells[3] == "-9"
    assert other.title not in page


def test_the_timeline_shows_its_score_not_its_answers(
    client, client_user, therapist, link, imports
):
    measure, other = imports
    link(client_user, therapist, scopes=["scores"])
    as_therapist = verify(client, therapist)

    page = body(as_therapist.get(f"/care/clients/{client_user.pk}/"))

    assert measure.title in page
    assert "score 15" in page and "score 6" in page
    assert "Little interest or pleasure" not in page  # an item's text: the answers stay private
    assert other.title not in page


def test_not_shared_without_scores_and_an_import_of_no_measure_never(
    client, client_user, therapist, link, imports
):
    measure, other = imports
    link(client_user, therapist, scopes=["intentions", "worksheets", "insights"])
    as_therapist = verify(client, therapist)

    for address in (f"/care/clients/{client_user.pk}/", f"/care/clients/{client_user.pk}/brief/"):
        page = body(as_therapist.get(address))
        assert measure.title not in page, address
        assert other.title not in page, address


def test_the_consent_lines_name_the_import_under_scores_only(
    client, client_user, therapist, link, imports
):
    measure, other = imports
    link(client_user, therapist, scopes=["scores"])
    client.force_login(client_user)

    page = body(client.get("/account/sharing/"))

    assert f"{measure.title} — its score and band, not your answers" in page
    assert other.title not in page
