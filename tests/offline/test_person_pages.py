"""Which of a person's pages their device may keep, and how the service worker knows whose a page
is: only the logged-in person's own, marked on the response, and none for a visitor."""

from datetime import timedelta

import pytest
from django.utils import timezone

from kap.journal.models import KapSession

pytestmark = pytest.mark.django_db


def session_of(user, days_ago: int, **fields) -> KapSession:
    return KapSession.objects.create(
        client=user, starts_at=timezone.now() - timedelta(days=days_ago), **fields
    )


def test_todays_page_is_marked_as_this_persons_to_keep(logged_in, client_user):
    response = logged_in.get("/")
    assert response.status_code == 200
    assert response["Kap-Person"] == str(client_user.pk)
    assert response["Kap-Offline"] == "keep"


@pytest.mark.parametrize(
    "url", ["/guide/", "/guide/nervous-system-regulation/", "/practices/", "/practices/grounding/"]
)
def test_the_guide_and_the_practices_are_kept_too(logged_in, url):
    response = logged_in.get(url)
    assert response.status_code == 200
    assert response["Kap-Offline"] == "keep"


@pytest.mark.parametrize("url", ["/sessions/", "/timeline/", "/account/", "/progress/"])
def test_other_private_pages_are_not_kept(logged_in, client_user, url):
    response = logged_in.get(url)
    assert response.status_code == 200
    assert response["Kap-Person"] == str(client_user.pk)
    assert "Kap-Offline" not in response


def test_a_visitors_pages_belong_to_no_one(client, guide):
    for url in ("/", "/guide/", "/crisis/"):
        response = client.get(url)
        assert "Kap-Person" not in response
        assert "Kap-Offline" not in response


def test_the_list_of_pages_to_keep_is_this_persons_own(logged_in, client_user, stranger):
    latest = session_of(client_user, 1, status="completed")
    session_of(client_user, 9, status="completed")
    session_of(client_user, 0, status="cancelled")
    theirs = session_of(stranger, 0, status="completed")
    response = logged_in.get("/offline/pages/")
    assert response.status_code == 200
    data = response.json()
    assert data["person"] == client_user.pk
    pages = data["pages"]
    assert pages[0] == "/"
    for url in ("/guide/", "/guide/nervous-system-regulation/", "/practices/", "/crisis/"):
        assert url in pages
    assert "/practices/grounding/" in pages
    # The latest session that took place, for an insight written the evening after; no other.
    assert [p for p in pages if p.startswith("/sessions/")] == [f"/sessions/{latest.pk}/"]
    assert f"/sessions/{theirs.pk}/" not in pages
    # Every page listed is one the worker will keep for this person.
    for url in pages:
        assert logged_in.get(url)["Kap-Offline"] == "keep", url


def test_the_list_needs_a_login(client, guide):
    assert client.get("/offline/pages/", HTTP_X_KAP_BACKGROUND="1").status_code == 401


def test_a_page_fetched_ahead_of_time_neither_shows_nor_takes_the_persons_messages(
    logged_in, client_user
):
    session = session_of(client_user, 1, status="completed")
    logged_in.post(f"/sessions/{session.pk}/insights/", {"text": "The lake was still."})
    ahead = logged_in.get("/guide/", HTTP_KAP_OFFLINE_PRECACHE="1")
    assert "Insight saved." not in ahead.content.decode()
    assert "Insight saved." in logged_in.get("/guide/").content.decode()
