"""One answer, one response: post/redirect/get with a per-render submission token (issue 12).

A reload of the result page, a double click or a retried request never files a questionnaire
again: one response, one safety event, one therapist alert. The crisis resources are on the
result page reached by GET, before anything else, as often as it is shown. A damaged version
field changes nothing. A new draft open in two windows is never silently overwritten. The first
result of a measure does not compare with itself."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from kap.accounts.models import CareLink
from kap.care.models import AlertNotification
from kap.content.models import Instrument
from kap.journal.models import Response, ResponseVersion, SafetyEvent
from kap.journal.services import StaleEdit, save_draft, submit_response

PHQ9_ZERO = {f"q{i}": "not-at-all" for i in range(1, 10)}
AUTOSAVE = "/i/self-assessment/autosave/"
TOKEN = re.compile(r'name="submission_token" value="([^"]+)"')
VERSION = re.compile(r'name="version"(?: value="([^"]*)")?')


def form_fields(page) -> dict:
    """The hidden fields a browser would send back with the form on `page`."""
    html = page.content.decode()
    token = TOKEN.search(html)
    version = VERSION.search(html)
    assert token, "the form carries a submission token"
    assert version, "the form carries its version"
    return {"submission_token": token.group(1), "version": version.group(1) or ""}


def main_of(page) -> str:
    return page.content.decode().split("<main")[1].split("</main>")[0]


@pytest.fixture
def therapist_gets_alerts(make_user, client_user):
    therapist = make_user("dr.lee@example.com", role="therapist", display_name="Dr Lee")
    CareLink.objects.create(client=client_user, therapist=therapist, scopes=["scores", "safety"])
    return therapist


# --- 1. Post/redirect/get and the submission token ---------------------------------------------


@pytest.mark.django_db
def test_a_reloaded_and_resent_phq9_files_one_response_one_event_one_alert(
    logged_in, client_user, therapist_gets_alerts, django_capture_on_commit_callbacks
):
    data = {**PHQ9_ZERO, "q9": "several-days", **form_fields(logged_in.get("/i/phq9/"))}

    with django_capture_on_commit_callbacks(execute=False) as queued:
        first = logged_in.post("/i/phq9/", data)
        assert first.status_code == 302  # post/redirect/get
        result_url = first["Location"]
        assert re.fullmatch(r"/r/\d+/\?saved", result_url)
        for _ in range(3):  # the person reloads the result page
            page = logged_in.get(result_url)
            assert page.status_code == 200
            main = main_of(page)
            assert "Please reach out for support now" in main
            assert "Call or text 988" in main and "not monitored in real time" in main
            # Before anything else on the page: the first thing in the main content.
            assert main.index('id="safety"') < main.index("<h2") < main.index("PHQ-9 total")
            assert "Saved. Thank you" not in main
        again = logged_in.post("/i/phq9/", data)  # the same form sent again

    assert again.status_code == 302 and again["Location"] == result_url
    assert Response.objects.filter(client=client_user).submitted().count() == 1
    assert SafetyEvent.objects.filter(client=client_user).count() == 1
    assert AlertNotification.objects.filter(therapist=therapist_gets_alerts).count() == 1
    assert len(queued) == 1  # one alert e-mail queued
    response = Response.objects.get(client=client_user)
    assert response.submission_token == data["submission_token"]


@pytest.mark.django_db
def test_every_render_of_a_form_carries_a_new_token(logged_in):
    one = form_fields(logged_in.get("/i/gad7/"))["submission_token"]
    two = form_fields(logged_in.get("/i/gad7/"))["submission_token"]
    assert one != two and len(one) >= 16


@pytest.mark.django_db
def test_a_token_is_matched_only_among_the_persons_own_responses(
    logged_in, client_user, stranger, guide
):
    data = {**PHQ9_ZERO, **form_fields(logged_in.get("/i/phq9/"))}
    theirs = submit_response(
        client=stranger,
        instrument=Instrument.objects.current().get(key="phq9"),
        session=None,
        answers=PHQ9_ZERO,
        token=data["submission_token"],
    ).response
    mine = logged_in.post("/i/phq9/", data)
    assert mine.status_code == 302
    assert mine["Location"] != f"/r/{theirs.pk}/?saved"
    assert Response.objects.filter(client=client_user).count() == 1


@pytest.mark.django_db
def test_a_plain_submit_redirects_and_a_resend_files_nothing(logged_in, client_user):
    data = {
        **{f"q{i}": "several-days" for i in range(1, 8)},
        **form_fields(logged_in.get("/i/gad7/")),
    }
    first = logged_in.post("/i/gad7/", data)
    assert first.status_code == 302
    assert "Saved. Thank you" in logged_in.get(first["Location"]).content.decode()
    again = logged_in.post("/i/gad7/", data)
    assert again["Location"] == first["Location"]
    assert Response.objects.filter(client=client_user).count() == 1
    # A reload shows the result again, and the "Saved" message only once.
    assert "Saved. Thank you" not in logged_in.get(first["Location"]).content.decode()


@pytest.mark.django_db
def test_a_free_text_submit_is_filed_once_and_its_draft_is_used_up(logged_in, client_user):
    fields = form_fields(logged_in.get("/i/self-assessment/"))
    v = logged_in.post(AUTOSAVE, {"already-tried": "journaling", **fields}).json()["version"]
    data = {"already-tried": "journaling, yoga", **fields, "version": v}
    first = logged_in.post("/i/self-assessment/", data)
    again = logged_in.post("/i/self-assessment/", data)
    assert first.status_code == again.status_code == 302
    assert again["Location"] == first["Location"]
    stored = Response.objects.get(client=client_user)
    assert (stored.status, stored.answers) == ("submitted", {"already-tried": "journaling, yoga"})


@pytest.mark.django_db
def test_an_edit_that_answers_item_9_redirects_to_crisis_resources_and_is_saved_once(
    logged_in, client_user, therapist_gets_alerts
):
    logged_in.post("/i/phq9/", {**PHQ9_ZERO, **form_fields(logged_in.get("/i/phq9/"))})
    stored = Response.objects.get(client=client_user)
    edit_url = f"/r/{stored.pk}/edit/"
    data = {**PHQ9_ZERO, "q9": "more-than-half", **form_fields(logged_in.get(edit_url))}
    assert data["version"] == str(stored.version)

    first = logged_in.post(edit_url, data)
    assert first.status_code == 302 and first["Location"] == f"/r/{stored.pk}/"
    for _ in range(2):
        main = main_of(logged_in.get(first["Location"]))
        assert "Call or text 988" in main
        assert main.index('id="safety"') < main.index("PHQ-9 total")
        assert "Your changes are saved" not in main  # nothing above the crisis resources
    again = logged_in.post(edit_url, data)

    assert again.status_code == 302 and again["Location"] == first["Location"]
    stored.refresh_from_db()
    assert stored.version == 2 and stored.score_total == 2
    assert ResponseVersion.objects.filter(response=stored).count() == 1
    assert SafetyEvent.objects.filter(client=client_user).count() == 1
    assert AlertNotification.objects.count() == 1


@pytest.mark.django_db
def test_the_first_submit_sent_again_after_an_edit_still_files_nothing(logged_in, client_user):
    submit = {**PHQ9_ZERO, **form_fields(logged_in.get("/i/phq9/"))}
    result = logged_in.post("/i/phq9/", submit)["Location"]
    stored = Response.objects.get(client=client_user)
    edit_url = f"/r/{stored.pk}/edit/"
    logged_in.post(
        edit_url, {**PHQ9_ZERO, "q1": "several-days", **form_fields(logged_in.get(edit_url))}
    )
    again = logged_in.post("/i/phq9/", submit)
    assert again["Location"] == result
    assert Response.objects.filter(client=client_user).count() == 1


@pytest.mark.django_db
def test_the_service_files_a_token_once(client_user, guide):
    instrument = Instrument.objects.current().get(key="phq9")
    answers = {**PHQ9_ZERO, "q9": "nearly-every-day"}
    one = submit_response(
        client=client_user, instrument=instrument, session=None, answers=answers, token="t" * 32
    )
    two = submit_response(
        client=client_user, instrument=instrument, session=None, answers=answers, token="t" * 32
    )
    assert (one.duplicate, two.duplicate) == (False, True)
    assert two.response.pk == one.response.pk
    assert (Response.objects.count(), SafetyEvent.objects.count()) == (1, 1)


@pytest.mark.django_db(transaction=True)
def test_two_identical_requests_at_the_same_moment_file_one_response(client_user, guide, make_user):
    """A double click: both requests arrive together. On PostgreSQL they really run at once (the
    second waits on the unique token and then finds the first); SQLite queues writers."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL; SQLite serialises them at BEGIN")
    therapist = make_user("dr.lee@example.com", role="therapist")
    CareLink.objects.create(client=client_user, therapist=therapist, scopes=["safety"])
    instrument = Instrument.objects.current().get(key="phq9")
    answers = {**PHQ9_ZERO, "q9": "several-days"}
    barrier = threading.Barrier(2)
    results, errors = [], []

    def submit():
        try:
            barrier.wait(timeout=10)
            results.append(
                submit_response(
                    client=client_user,
                    instrument=instrument,
                    session=None,
                    answers=answers,
                    token="double-click-token-0001",
                )
            )
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert sorted(r.duplicate for r in results) == [False, True]
    assert Response.objects.count() == SafetyEvent.objects.count() == 1
    assert AlertNotification.objects.count() == 1


# --- 3. A damaged version field ---------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("version", ["abc", "1.5", "-1", "١", "9" * 40])
def test_a_version_that_is_not_a_number_is_refused_and_changes_nothing(
    logged_in, client_user, version
):
    v = logged_in.post(AUTOSAVE, {"already-tried": "kept words"}).json()["version"]
    before = list(Response.objects.values_list("pk", "version", "status"))

    # An incomplete form with free text is kept as a draft: that path read the version too.
    page = logged_in.post("/i/self-assessment/", {"already-tried": "new words", "version": version})
    assert page.status_code == 400
    body = page.content.decode()
    assert "Nothing was saved" in body and "new words" in body  # what was typed is on the page
    autosave = logged_in.post(AUTOSAVE, {"already-tried": "newer words", "version": version})
    assert autosave.status_code == 400 and autosave.json()["status"] == "error"
    gad7 = logged_in.post(
        "/i/gad7/", {**{f"q{i}": "not-at-all" for i in range(1, 8)}, "version": version}
    )
    assert gad7.status_code == 400

    assert list(Response.objects.values_list("pk", "version", "status")) == before
    assert Response.objects.get().answers == {"already-tried": "kept words"}
    assert v == 1


@pytest.mark.django_db
def test_an_edit_with_a_version_that_is_not_a_number_is_refused(logged_in, client_user):
    logged_in.post("/i/self-assessment/", {"already-tried": "original"})
    stored = Response.objects.get()
    page = logged_in.post(f"/r/{stored.pk}/edit/", {"already-tried": "changed", "version": "x"})
    assert page.status_code == 400
    stored.refresh_from_db()
    assert (stored.version, stored.answers) == (1, {"already-tried": "original"})
    assert not ResponseVersion.objects.exists()


@pytest.mark.django_db
def test_a_token_that_is_not_one_of_ours_is_refused(logged_in, client_user):
    page = logged_in.post("/i/phq9/", {**PHQ9_ZERO, "submission_token": "<script>"})
    assert page.status_code == 400
    assert not Response.objects.exists()


# --- 2. A new draft open in two windows ------------------------------------------------------


@pytest.mark.django_db
def test_a_second_windows_first_autosave_on_a_new_draft_is_a_conflict(logged_in, client_user):
    one = form_fields(logged_in.get("/i/self-assessment/"))
    two = form_fields(logged_in.get("/i/self-assessment/"))
    assert one["version"] == two["version"] == ""  # neither window saw a draft

    saved = logged_in.post(AUTOSAVE, {"already-tried": "from window one", **one})
    assert saved.status_code == 200 and saved.json()["version"] == 1
    refused = logged_in.post(AUTOSAVE, {"already-tried": "from window two", **two})

    assert refused.status_code == 409 and refused.json()["status"] == "conflict"
    assert Response.objects.get().answers == {"already-tried": "from window one"}
    # Submitting from window two shows both texts and overwrites nothing.
    page = logged_in.post("/i/self-assessment/", {"already-tried": "from window two", **two})
    assert page.status_code == 409
    body = page.content.decode()
    assert "from window one" in body and "from window two" in body
    stored = Response.objects.get()
    assert (stored.status, stored.answers) == ("draft", {"already-tried": "from window one"})
    # Window one goes on with the version its own first save told it.
    more = logged_in.post(AUTOSAVE, {"already-tried": "from window one, more", **one, "version": 1})
    assert more.status_code == 200 and more.json()["version"] == 2


@pytest.mark.django_db
def test_save_draft_refuses_a_page_without_a_version_once_a_draft_exists(client_user, guide):
    instrument = Instrument.objects.current().get(key="self-assessment")
    kw = {"client": client_user, "instrument": instrument, "session": None}
    first = save_draft(**kw, answers={"already-tried": "tab one"}, base_version=None)
    with pytest.raises(StaleEdit) as stale:
        save_draft(**kw, answers={"already-tried": "tab two"}, base_version=None)
    assert stale.value.response.answers == {"already-tried": "tab one"}
    assert stale.value.mine == {"already-tried": "tab two"}
    # The same words again (the page's own first save, whose answer was lost): no conflict.
    same = save_draft(**kw, answers={"already-tried": "tab one "}, base_version=None)
    assert same.pk == first.pk and same.version == first.version
    with pytest.raises(StaleEdit):
        submit_response(**kw, answers={"already-tried": "tab two"}, base_version=None)
    assert Response.objects.get().answers == {"already-tried": "tab one"}


def test_a_pages_own_saves_sent_before_its_first_answer_arrived_are_not_a_conflict(
    logged_in, client_user
):
    """Typing fast on a slow network: the page's second autosave (and then its submit) leave
    before the first one's answer, with its version, reached the page. They are the page's own,
    known by the token rendered with it; another window's are still refused."""
    page = form_fields(logged_in.get("/i/self-assessment/"))
    other = form_fields(logged_in.get("/i/self-assessment/"))
    assert page["version"] == "" and page["submission_token"] != other["submission_token"]

    first = logged_in.post(AUTOSAVE, {"already-tried": "first words", **page})
    assert first.status_code == 200 and first.json()["version"] == 1
    second = logged_in.post(AUTOSAVE, {"already-tried": "first words, and more", **page})
    assert second.status_code == 200 and second.json()["version"] == 2
    refused = logged_in.post(AUTOSAVE, {"already-tried": "another window", **other})
    assert refused.status_code == 409
    filed = logged_in.post("/i/self-assessment/", {"already-tried": "first words, all", **page})
    assert filed.status_code == 302 and "/r/" in filed["Location"]
    stored = Response.objects.get()
    assert (stored.status, stored.answers) == ("submitted", {"already-tried": "first words, all"})


# --- 4. The first result names the true first ----------------------------------------------


def _phq9(client, q1: str, days_ago: int):
    response = submit_response(
        client=client,
        instrument=Instrument.objects.current().get(key="phq9"),
        session=None,
        answers={**PHQ9_ZERO, "q1": q1, "q2": q1},
    ).response
    Response.objects.filter(pk=response.pk).update(
        submitted_at=timezone.now() - timedelta(days=days_ago)
    )
    return response


@pytest.mark.django_db
def test_the_first_result_does_not_compare_with_itself(logged_in, client_user):
    data = {**PHQ9_ZERO, "q1": "nearly-every-day", **form_fields(logged_in.get("/i/phq9/"))}
    for _ in range(2):  # sent twice: it was filed twice, and the copy said "your first was 3"
        page = logged_in.post("/i/phq9/", data, follow=True)
        assert "3 of 27" in page.content.decode()
        assert "Your first" not in page.content.decode()


@pytest.mark.django_db
def test_every_result_compares_with_the_true_first(logged_in, client_user):
    first = _phq9(client_user, "nearly-every-day", days_ago=30)  # 6
    second = _phq9(client_user, "several-days", days_ago=10)  # 2
    third = _phq9(client_user, "not-at-all", days_ago=1)  # 0

    shown = logged_in.get(f"/r/{first.pk}/").content.decode()
    assert "Your first" not in shown  # not "your first was 2": the second one
    for later in (second, third):
        shown = logged_in.get(f"/r/{later.pk}/").content.decode()
        assert re.search(r"Your first [^<]*\) was 6\.", shown), shown
