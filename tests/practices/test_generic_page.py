"""One practice page for every practice: what it offers comes from the spec, who reaches it from
the instrument's scope. A practice added as data needs no code."""

import re
import uuid

import pytest
from django.urls import reverse

from kap.accounts.models import CareLink, Clinic
from kap.content.models import Instrument, Scope
from kap.practices.models import PracticeLog

pytestmark = pytest.mark.django_db

BOX = {
    "key": "box",
    "label": "Box (4-4-4-4)",
    "inhale": 4,
    "hold_in": 4,
    "exhale": 4,
    "hold_out": 4,
}


def add_practice(key="box-breathing", title="Box Breathing", paces=True, duration=True, **owner):
    """A practice that exists only as data, in the scope given (the server's unless told)."""
    spec = {
        "key": key,
        "version": 1,
        "kind": "practice",
        "title": title,
        "intro": f"{title}, a few quiet minutes.",
        "steps": [
            {"key": "breathe", "text": "Breathe along with the square"},
            {"key": "rest", "text": "Rest your eyes", "seconds": 30},
        ],
        "paces": [BOX] if paces else [],
        "notings": [] if paces else ["sound", "itch"],
        "attribution": {"text": "Adapted from a widely taught breathing exercise."},
    }
    if duration:
        spec["duration"] = {"min_minutes": 2, "max_minutes": 8, "default_minutes": 4}
    return Instrument.objects.create(
        key=key,
        version=1,
        kind="practice",
        title=title,
        spec=spec,
        checksum=key,
        scope=owner.pop("scope", Scope.SERVER),
        **owner,
    )


def starts(html):
    """The practice pages the list offers to start, in order."""
    block = re.search(r'<ul class="practice-starts">(.*?)</ul>', html, re.S)
    return re.findall(r'href="([^"]+)"', block.group(1)) if block else []


def test_the_url_leaves_the_log_endpoint_and_the_log_pages_alone():
    assert reverse("practices:practice", args=["box-breathing"]) == "/practices/box-breathing/"
    assert reverse("practices:log") == "/practices/log/"
    assert reverse("practices:detail", args=[7]) == "/practices/7/"


def test_a_practice_with_paces_gets_the_breath_pacer(logged_in):
    add_practice()
    response = logged_in.get("/practices/box-breathing/")
    assert response.status_code == 200
    html = response.content.decode()
    for words in [
        ">Box Breathing</h1>",
        "Box Breathing, a few quiet minutes.",
        "Practise with the breath pacer",
        "Box (4-4-4-4)",
        'id="pacer-shape"',
        'id="practice-next"',
        "Rest your eyes</strong>, for about 30 seconds",
        "Breathing time, in minutes (2 to 8)",
        "Adapted from a widely taught breathing exercise.",
        'src="/static/kap/practices/pacer.js" defer',
    ]:
        assert words in html, words
    assert "data-noting" not in html


def test_a_practice_without_paces_gets_the_quiet_timer_and_its_notings(logged_in):
    add_practice(key="listening", title="Listening", paces=False)
    html = logged_in.get("/practices/listening/").content.decode()
    for words in [
        "Practise with the quiet timer",
        "Quiet time",
        "Breathe along with the square",
        "Sit for 2 to 8 minutes.",
        'data-noting="sound"',
        'data-noting="itch"',
        "Length, in minutes (2 to 8)",
    ]:
        assert words in html, words
    assert "pacer.js" not in html
    assert 'id="pacer-shape"' not in html
    assert 'name="pace"' not in html


def test_a_practice_whose_spec_gives_no_length_is_offered_one(logged_in):
    add_practice(key="any-length", title="Any Length", duration=False)
    html = logged_in.get("/practices/any-length/").content.decode()
    assert 'id="practice-minutes" min="1" max="60" value="5"' in html
    assert '"duration": {"min_minutes": 1, "max_minutes": 60, "default_minutes": 5}' in html


def test_the_list_offers_every_practice_the_person_can_see(logged_in, client_user, stranger):
    add_practice()
    add_practice(key="mine", title="My Own Practice", scope=Scope.PERSONAL, owner=client_user)
    add_practice(key="theirs", title="Their Practice", scope=Scope.PERSONAL, owner=stranger)
    html = logged_in.get("/practices/").content.decode()
    urls = starts(html)
    # The guide's (and other server practices) first, by title; then the person's own.
    assert urls == [
        "/practices/box-breathing/",
        "/practices/gentle-awareness/",
        "/practices/grounding/",
        "/practices/mine/",
    ]
    assert "Their Practice" not in html
    assert "/practices/theirs/" not in html


def test_the_list_leaves_out_what_is_not_a_practice(logged_in):
    assert not [u for u in starts(logged_in.get("/practices/").content.decode()) if "phq9" in u]


# intention-setting is a practice with questions: it is filled in on its form, not timed here.
@pytest.mark.parametrize("key", ["phq9", "intention-setting", "no-such-practice"])
def test_a_key_that_is_not_a_practice_is_404(logged_in, key):
    assert logged_in.get(f"/practices/{key}/").status_code == 404
    assert logged_in.post(f"/practices/{key}/", {"minutes": "5"}).status_code == 404
    assert logged_in.get(f"/practices/{key}/note/").status_code == 404


def test_someone_elses_personal_practice_is_404_for_everyone_else(client, client_user, stranger):
    add_practice(key="theirs", title="Their Practice", scope=Scope.PERSONAL, owner=stranger)
    client.force_login(client_user)
    assert client.get("/practices/theirs/").status_code == 404
    data = {"uuid": str(uuid.uuid4()), "minutes": "3", "pace": ""}
    assert client.post("/practices/theirs/note/", data).status_code == 404
    assert not PracticeLog.objects.exists()
    client.force_login(stranger)
    assert client.get("/practices/theirs/").status_code == 200
    assert client.post("/practices/theirs/note/", data).status_code == 302
    assert PracticeLog.objects.get().client == stranger


def test_a_clinics_practice_is_for_the_people_of_that_clinic(client, make_user, guide):
    north, south = Clinic.objects.create(name="North"), Clinic.objects.create(name="South")
    add_practice(key="north-walk", title="North Walk", scope=Scope.CLINIC, clinic=north)
    linked, unlinked = make_user("linked@example.com"), make_user("unlinked@example.com")
    CareLink.objects.create(
        client=linked, therapist=make_user("dr@example.com", role="therapist", clinic=north)
    )
    CareLink.objects.create(
        client=unlinked, therapist=make_user("dr.s@example.com", role="therapist", clinic=south)
    )
    client.force_login(linked)
    assert client.get("/practices/north-walk/").status_code == 200
    assert "/practices/north-walk/" in starts(client.get("/practices/").content.decode())
    client.force_login(unlinked)
    assert client.get("/practices/north-walk/").status_code == 404
    assert "/practices/north-walk/" not in starts(client.get("/practices/").content.decode())


def test_a_practice_added_as_data_is_logged_by_the_no_javascript_form(logged_in, client_user):
    instrument = add_practice()
    data = {
        "uuid": str(uuid.uuid4()),
        "minutes": "4",
        "pace": "box",
        "settled_before": "3",
        "settled_after": "8",
    }
    response = logged_in.post("/practices/box-breathing/note/", data)
    assert response.status_code == 302
    log = PracticeLog.objects.get()
    assert (log.client, log.instrument) == (client_user, instrument)
    assert (log.settled_before, log.settled_after, log.elapsed_seconds) == (3, 8, 240)
    assert log.pace_used.label == "Box (4-4-4-4)"
    assert log.source == PracticeLog.Source.MANUAL


def test_a_practice_added_as_data_is_logged_by_the_json_endpoint(post_log, payload):
    add_practice()
    data = payload(instrument="box-breathing", planned_seconds=240, elapsed_seconds=240)
    data["pace"] = {"key": "box"}
    assert post_log(data).status_code == 201
    assert PracticeLog.objects.get().instrument.key == "box-breathing"
