"""The practice pages: complete without JavaScript; a practice done away from the screen is noted
on a page of its own (/practices/<key>/note/), not under the running pacer."""

import re
import uuid

import pytest

from kap.content.models import Instrument
from kap.practices.models import PracticeLog

pytestmark = pytest.mark.django_db


def manual(**overrides):
    data = {
        "uuid": str(uuid.uuid4()),
        "minutes": "5",
        "pace": "box",
        "settled_before": "2",
        "settled_after": "6",
    }
    data.update(overrides)
    return data


def test_the_grounding_page_explains_the_practice_and_its_steps(logged_in):
    response = logged_in.get("/practices/grounding/")
    assert response.status_code == 200
    html = response.content.decode()
    for words in [
        "Grounding Before Exploration",
        "Take slow, steady breaths",
        "Notice your body and surroundings",
        "Orient to safety",
        "Calm (4 in, 6 out)",
        "Box (4-4-4-4)",
        "Gentle (3 in, 5 out)",
        "Breathe in",
    ]:
        assert words in html, words
    assert '<script id="practice-spec" type="application/json">' in html
    assert 'src="/static/kap/practices/pacer.js" defer' in html


def test_the_awareness_page_explains_the_practice_and_offers_notings(logged_in):
    html = logged_in.get("/practices/gentle-awareness/").content.decode()
    for words in [
        "Gentle Awareness Practice",
        "Notice thoughts without reacting",
        "Observe emotions with curiosity",
        "Allow experience without forcing change",
        'data-noting="thought"',
        'data-noting="emotion"',
        'data-noting="sensation"',
    ]:
        assert words in html, words
    assert "pacer.js" not in html


@pytest.mark.parametrize("url", ["/practices/grounding/", "/practices/gentle-awareness/"])
def test_the_pages_have_no_inline_script_or_style(logged_in, url):
    html = logged_in.get(url).content.decode()
    assert " style=" not in html and "<style" not in html
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    for attrs, body in scripts:
        assert 'type="application/json"' in attrs or (body.strip() == "" and "src=" in attrs)


def test_the_steps_come_from_the_pack_not_the_code(logged_in, guide):
    current = Instrument.objects.get(key="grounding")
    spec = dict(current.spec)
    spec["version"] = 2
    spec["steps"] = [
        {"key": "breathe", "text": "Breathe as slowly as is comfortable"},
        {"key": "feet", "text": "Feel your feet on the floor", "seconds": 30},
    ]
    Instrument.objects.create(
        pack=current.pack,
        key="grounding",
        version=2,
        kind="practice",
        title=current.title,
        spec=spec,
        checksum="v2",
    )
    html = logged_in.get("/practices/grounding/").content.decode()
    assert "Breathe as slowly as is comfortable" in html
    assert "Feel your feet on the floor" in html
    assert "Orient to safety" not in html
    assert '"version": 2' in html


def test_the_no_javascript_form_saves_a_practice(logged_in, client_user):
    data = manual()
    response = logged_in.post("/practices/grounding/note/", data)
    assert response.status_code == 302
    assert response["Location"] == "/practices/"
    log = PracticeLog.objects.get()
    assert log.client == client_user
    assert log.instrument.key == "grounding"
    assert (log.settled_before, log.settled_after) == (2, 6)
    assert (log.planned_seconds, log.elapsed_seconds, log.completed) == (300, 300, True)
    assert log.pace_used.key == "box"
    assert log.source == PracticeLog.Source.MANUAL
    assert str(log.uuid) == data["uuid"]


def test_the_no_javascript_form_sent_twice_is_stored_once(logged_in):
    data = manual()
    logged_in.post("/practices/grounding/note/", data)
    assert logged_in.post("/practices/grounding/note/", data).status_code == 302
    assert PracticeLog.objects.count() == 1


def test_the_no_javascript_form_takes_no_ratings_and_a_stop(logged_in):
    data = manual(settled_before="", settled_after="", stopped_early="on", pace="")
    assert logged_in.post("/practices/gentle-awareness/note/", data).status_code == 302
    log = PracticeLog.objects.get()
    assert log.instrument.key == "gentle-awareness"
    assert log.settled_before is None and log.settled_after is None
    assert log.completed is False
    assert log.pace is None


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("settled_after", "11", "Choose a number from 0 to 10"),
        ("minutes", "-5", "Enter at least 1 minute."),
        ("minutes", "", "Enter how many minutes, roughly."),
        ("pace", "fast", "Select a valid choice"),
    ],
)
def test_the_no_javascript_form_shows_an_error_next_to_the_field(logged_in, field, value, message):
    response = logged_in.post("/practices/grounding/note/", manual(**{field: value}))
    assert response.status_code == 400
    html = response.content.decode()
    error = re.search(rf'<p class="field-error" id="id_{field}-error">([^<]*)</p>', html)
    assert error and message in error.group(1), html
    assert not PracticeLog.objects.exists()


def test_a_form_whose_id_is_someone_elses_is_refused_and_offered_again(
    client, client_user, stranger, guide
):
    data = manual()
    client.force_login(stranger)
    client.post("/practices/grounding/note/", data)
    client.force_login(client_user)
    response = client.post("/practices/grounding/note/", data)
    assert response.status_code == 400
    html = response.content.decode()
    assert "This form was already used" in html
    assert data["uuid"] not in html
    assert PracticeLog.objects.get().client == stranger


def test_a_page_for_a_missing_practice_is_404(logged_in, guide):
    Instrument.objects.filter(key="gentle-awareness").delete()
    assert logged_in.get("/practices/gentle-awareness/").status_code == 404


def test_the_practice_page_links_to_the_note_page_and_holds_no_form_to_note(logged_in):
    html = logged_in.get("/practices/grounding/").content.decode()
    assert 'href="/practices/grounding/note/"' in html
    assert 'name="minutes"' not in html
    assert "About how many minutes did you practise?" not in html
    # The practice's log is sent with the page's CSRF token, whatever else the page holds.
    after = re.search(r'<form id="practice-after".*?</form>', html, re.S).group(0)
    assert 'name="csrfmiddlewaretoken"' in after
    # "You finished" is written once: the heading (the summary and the live region add, never repeat).
    assert html.count("You finished") == 1


def test_the_note_page_offers_the_plain_form(logged_in):
    response = logged_in.get("/practices/grounding/note/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Note a practice</h1>" in html
    assert "About how many minutes did you practise?" in html
    assert 'action="/practices/grounding/note/"' in html
    assert 'href="/practices/grounding/"' in html  # back to the practice
    assert "pacer.js" not in html and "practice.js" not in html


def test_the_note_page_keeps_what_was_typed_and_sums_up_the_errors(logged_in):
    response = logged_in.post(
        "/practices/grounding/note/", manual(minutes="-5", settled_before="3", settled_after="12")
    )
    assert response.status_code == 400
    html = response.content.decode()
    summary = re.search(r'<div class="error-summary".*?</div>', html, re.S).group(0)
    assert '<a href="#id_minutes">Enter at least 1 minute.</a>' in summary
    assert 'href="#id_settled_after_0"' in summary
    assert 'value="-5"' in html
    assert re.search(r'value="3"[^>]*id="id_settled_before_4"[^>]*checked', html), html
    assert not PracticeLog.objects.exists()


def test_a_form_still_open_from_before_sends_to_the_practice_page_and_is_kept(logged_in):
    data = manual()
    response = logged_in.post("/practices/grounding/", data)
    assert response.status_code == 302
    assert str(PracticeLog.objects.get().uuid) == data["uuid"]


def test_only_a_client_notes_a_practice(make_user, guide):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.security.support import verified_test_client

    therapist = make_user("dr@example.com", role="therapist")
    device = TOTPDevice.objects.create(user=therapist, name="Authenticator app", confirmed=True)
    client = verified_test_client(therapist, device)
    assert client.get("/practices/grounding/").status_code == 200  # anyone may try it
    assert client.get("/practices/grounding/note/").status_code == 404
    assert client.post("/practices/grounding/note/", manual()).status_code == 404
    assert not PracticeLog.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "/practices/",
        "/practices/grounding/",
        "/practices/grounding/note/",
        "/practices/gentle-awareness/",
        "/practices/1/",
    ],
)
def test_anonymous_visitors_are_asked_to_log_in(client, guide, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={url}"
