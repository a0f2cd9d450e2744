"""The practice pages: complete without JavaScript, with a plain form to note a practice."""

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
    response = logged_in.post("/practices/grounding/", data)
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
    logged_in.post("/practices/grounding/", data)
    assert logged_in.post("/practices/grounding/", data).status_code == 302
    assert PracticeLog.objects.count() == 1


def test_the_no_javascript_form_takes_no_ratings_and_a_stop(logged_in):
    data = manual(settled_before="", settled_after="", stopped_early="on", pace="")
    assert logged_in.post("/practices/gentle-awareness/", data).status_code == 302
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
    response = logged_in.post("/practices/grounding/", manual(**{field: value}))
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
    client.post("/practices/grounding/", data)
    client.force_login(client_user)
    response = client.post("/practices/grounding/", data)
    assert response.status_code == 400
    html = response.content.decode()
    assert "This form was already used" in html
    assert data["uuid"] not in html
    assert PracticeLog.objects.get().client == stranger


def test_a_page_for_a_missing_practice_is_404(logged_in, guide):
    Instrument.objects.filter(key="gentle-awareness").delete()
    assert logged_in.get("/practices/gentle-awareness/").status_code == 404


@pytest.mark.parametrize(
    "url", ["/practices/", "/practices/grounding/", "/practices/gentle-awareness/", "/practices/1/"]
)
def test_anonymous_visitors_are_asked_to_log_in(client, guide, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={url}"
