"""Filling in any instrument of the pack: accessible form, validation next to the field, storage."""

import re

import pytest
from django.utils.html import escape

from kap.content.models import Instrument
from kap.journal.models import ActionStep, QuestionToBring, Response, SafetyEvent
from kap.journal.services import submit_response

PHQ9_ZERO = {f"q{i}": "not-at-all" for i in range(1, 10)}


def form_instruments():
    from kap.content.loader import read_pack
    from tests.conftest import PACK_DIR

    return [s.key for s in read_pack(PACK_DIR).instruments if s.items]


@pytest.mark.django_db
@pytest.mark.parametrize("key", form_instruments())
def test_every_instrument_renders_each_question_as_a_fieldset_with_a_legend(logged_in, key):
    response = logged_in.get(f"/i/{key}/")
    assert response.status_code == 200
    body = response.content.decode()
    spec = Instrument.objects.current().get(key=key).parsed
    assert body.count('<fieldset class="question') == len(spec.items)
    assert body.count("<legend") >= len(spec.items)
    for item in spec.items:
        assert re.search(rf"<legend[^>]*>{re.escape(escape(item.text))}</legend>", body), item.key
    # every visible control has a label
    for control_id in re.findall(r'<(?:input(?! type="hidden")|textarea)[^>]* id="([^"]+)"', body):
        assert f'for="{control_id}"' in body, control_id


@pytest.mark.django_db
def test_a_phq9_is_scored_and_stored_with_its_instrument_version(logged_in, client_user):
    answers = {**PHQ9_ZERO, "q1": "several-days", "q2": "nearly-every-day"}
    response = logged_in.post("/i/phq9/", answers)
    assert response.status_code == 302
    stored = Response.objects.get(client=client_user)
    assert (stored.instrument.key, stored.instrument.version) == ("phq9", 1)
    assert stored.status == "submitted"
    assert stored.score_total == 4
    assert stored.score_band == "Minimal"
    assert stored.answers["q2"] == "nearly-every-day"
    page = logged_in.get(response["Location"]).content.decode()
    assert "4 of 27" in page
    assert "not a diagnosis" in page
    assert "Spitzer" in page  # attribution


@pytest.mark.django_db
def test_a_missing_answer_is_refused_next_to_its_question(logged_in, client_user):
    answers = dict(PHQ9_ZERO)
    del answers["q5"]
    response = logged_in.post("/i/phq9/", answers)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="id_q5_error"' in body
    assert "Please choose one answer." in body
    assert 'value="not-at-all" id="id_q1_0" checked' in body or "checked" in body  # answers kept
    assert not Response.objects.filter(status="submitted").exists()


@pytest.mark.django_db
def test_an_answer_that_is_not_an_option_is_refused(logged_in):
    response = logged_in.post(
        "/i/gad7/", {**{f"q{i}": "not-at-all" for i in range(1, 8)}, "q3": "sometimes"}
    )
    assert response.status_code == 200
    assert "Please choose one of the answers shown." in response.content.decode()
    assert not Response.objects.exists()


@pytest.mark.django_db
def test_a_rating_out_of_range_is_refused(logged_in):
    spec = Instrument.objects.current().get(key="closing-outcomes").parsed
    data = {i.key: "5" for i in spec.items}
    data["self-compassion"] = "11"
    response = logged_in.post("/i/closing-outcomes/", data)
    assert response.status_code == 200
    assert "Please choose a number from 0 to 10." in response.content.decode()
    assert not Response.objects.exists()


@pytest.mark.django_db
def test_the_signs_result_counts_and_never_diagnoses(logged_in):
    spec = Instrument.objects.current().get(key="signs-you-might-benefit").parsed
    data = {spec.items[0].key: "on", spec.items[3].key: "on", spec.items[6].key: "on"}
    response = logged_in.post("/i/signs-you-might-benefit/", data, follow=True)
    body = response.content.decode()
    assert "3 of 7" in body
    assert "not a diagnosis" in body
    assert "clinician" in body
    assert "qualify" not in body.lower().replace("you “qualify”", "")
    assert "you have depression" not in body.lower()


@pytest.mark.django_db
def test_preparation_questions_become_a_list_to_bring(logged_in, client_user):
    logged_in.post(
        "/i/first-session-preparation/",
        {
            "goals": "feel less flat",
            "concerns-or-questions": "Will I feel sick?\n\n- How long does it last?\n",
        },
    )
    assert sorted(
        QuestionToBring.objects.filter(client=client_user).values_list("text", flat=True)
    ) == [
        "How long does it last?",
        "Will I feel sick?",
    ]


@pytest.mark.django_db
def test_what_i_might_do_next_becomes_action_steps(logged_in, client_user):
    logged_in.post(
        "/i/integration-worksheet/",
        {"experienced-or-noticed": "warmth", "might-do-next": "Call my sister\nWalk on Sundays"},
    )
    steps = ActionStep.objects.filter(client=client_user).order_by("pk")
    assert [s.text for s in steps] == ["Call my sister", "Walk on Sundays"]
    assert all(s.status == "open" for s in steps)


@pytest.mark.django_db
def test_a_strangers_response_is_not_found(client, client_user, stranger, guide):
    instrument = Instrument.objects.current().get(key="gad7")
    theirs = submit_response(
        client=stranger,
        instrument=instrument,
        session=None,
        answers={f"q{i}": "not-at-all" for i in range(1, 8)},
    ).response
    client.force_login(client_user)
    assert client.get(f"/r/{theirs.pk}/").status_code == 404
    assert client.get(f"/r/{theirs.pk}/edit/").status_code == 404
    assert (
        client.post(
            f"/r/{theirs.pk}/edit/", {f"q{i}": "several-days" for i in range(1, 8)}
        ).status_code
        == 404
    )
    theirs.refresh_from_db()
    assert theirs.score_total == 0


@pytest.mark.django_db
def test_a_strangers_session_cannot_be_used(logged_in, stranger):
    from django.utils import timezone

    from kap.journal.models import KapSession

    theirs = KapSession.objects.create(client=stranger, starts_at=timezone.now())
    assert logged_in.get(f"/i/integration-worksheet/?session={theirs.pk}").status_code == 404
    assert (
        logged_in.post(
            "/i/integration-worksheet/autosave/", {"session": theirs.pk, "felt-different": "x"}
        ).status_code
        == 404
    )
    assert not Response.objects.exists()


@pytest.mark.django_db
def test_a_session_id_no_session_has_is_not_found_and_writes_nothing(logged_in, client_user):
    """Whatever is sent as the session (not a number, zero, negative, past what the database
    holds), the form and its autosave answer 404, and nothing is saved."""
    from django.utils import timezone

    from kap.journal.models import KapSession

    mine = KapSession.objects.create(client=client_user, starts_at=timezone.now())
    for sent in ("x", "0", "-1", str(mine.pk + 1000), str(2**63), str(10**30), "1e3"):
        assert logged_in.get(f"/i/integration-worksheet/?session={sent}").status_code == 404
        saved = logged_in.post(
            "/i/integration-worksheet/autosave/", {"session": sent, "felt-different": "x"}
        )
        assert saved.status_code == 404, sent
    assert not Response.objects.exists()
    found = logged_in.post(
        "/i/integration-worksheet/autosave/", {"session": mine.pk, "felt-different": "mine"}
    )
    assert found.status_code == 200
    assert Response.objects.get().session_id == mine.pk


@pytest.mark.django_db
def test_an_unknown_instrument_is_not_found(logged_in):
    assert logged_in.get("/i/no-such-thing/").status_code == 404


# --- Safety -----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["several-days", "more-than-half", "nearly-every-day"])
def test_item_nine_above_not_at_all_creates_one_event_and_shows_988_on_the_same_page(
    logged_in, client_user, value
):
    response = logged_in.post("/i/phq9/", {**PHQ9_ZERO, "q9": value}, follow=True)
    # Post/redirect/get: the result page, reached by GET, is the screen the person sees.
    assert response.status_code == 200 and response.redirect_chain
    body = response.content.decode()
    assert "Call or text 988" in body
    assert "Text HOME to 741741" in body
    assert "not monitored in real time" in body
    # crisis resources come before the score
    assert body.index("Call or text 988") < body.index("PHQ-9 total")
    assert SafetyEvent.objects.filter(client=client_user, rule_key="phq9-item-9").count() == 1
    # the response and its event were stored together
    event = SafetyEvent.objects.get()
    assert event.response.status == "submitted"


@pytest.mark.django_db
def test_item_nine_not_at_all_creates_no_event(logged_in):
    response = logged_in.post("/i/phq9/", {**PHQ9_ZERO, "q1": "nearly-every-day"})
    assert response.status_code == 302
    assert not SafetyEvent.objects.exists()
    assert (
        "988"
        not in logged_in.get(response["Location"])
        .content.decode()
        .split("<main")[1]
        .split("</main>")[0]
    )


@pytest.mark.django_db
def test_crisis_resources_follow_the_persons_region(logged_in, client_user):
    client_user.region = "GB"
    client_user.save()
    body = logged_in.post(
        "/i/phq9/", {**PHQ9_ZERO, "q9": "several-days"}, follow=True
    ).content.decode()
    assert body.index("Samaritans") < body.index("988 Suicide")
