"""An insight sent by the outbox (written offline, kept on the device, sent when the network is
back): stored once however often it is sent, only as its writer's, never lost."""

from datetime import timedelta

import pytest
from django.utils import timezone

from kap.journal.models import Insight, KapSession

pytestmark = pytest.mark.django_db
TOKEN = "0b7d6f0e-4d0a-4f7e-9a43-2f6c1d7e9b10"


@pytest.fixture
def session(client_user):
    return KapSession.objects.create(
        client=client_user, starts_at=timezone.now() - timedelta(hours=5), status="completed"
    )


def send(client, session_pk, person, text="The lake was still.", token=TOKEN, **extra):
    return client.post(
        f"/sessions/{session_pk}/insights/",
        {"text": text, "token": token, "person": str(person), **extra},
        HTTP_X_KAP_BACKGROUND="1",
        HTTP_ACCEPT="application/json",
    )


def test_sent_twice_it_is_stored_once(logged_in, client_user, session):
    first = send(logged_in, session.pk, client_user.pk)
    assert first.status_code == 201
    assert first.json() == {
        "status": "saved",
        "created": True,
        "url": f"/sessions/{session.pk}/#insights",
    }
    again = send(logged_in, session.pk, client_user.pk)
    assert again.status_code == 200
    assert again.json()["created"] is False
    stored = Insight.objects.get(client=client_user)
    assert (stored.text, stored.session, stored.submission_token) == (
        "The lake was still.",
        session,
        TOKEN,
    )


def test_two_insights_with_their_own_tokens_are_two(logged_in, client_user, session):
    send(logged_in, session.pk, client_user.pk, text="One.", token="a" * 36)
    send(logged_in, session.pk, client_user.pk, text="Two.", token="b" * 36)
    assert sorted(Insight.objects.values_list("text", flat=True)) == ["One.", "Two."]


def test_the_plain_form_sent_twice_stores_one_insight_too(logged_in, client_user, session):
    page = logged_in.get(f"/sessions/{session.pk}/")
    token = page.context["insight_token"]
    assert f'name="token" value="{token}"' in page.content.decode()
    for _ in range(2):
        response = logged_in.post(
            f"/sessions/{session.pk}/insights/", {"text": "Warmth.", "token": token}
        )
        assert response.status_code == 302
    assert Insight.objects.filter(client=client_user).count() == 1


def test_written_by_someone_else_on_the_device_it_is_refused_and_kept_there(
    logged_in, client_user, stranger, session
):
    response = send(logged_in, session.pk, stranger.pk)
    assert response.status_code == 409
    assert not Insight.objects.exists()


def test_its_session_deleted_meanwhile_it_is_kept_in_the_timeline(logged_in, client_user, session):
    pk = session.pk
    session.delete()
    response = send(logged_in, pk, client_user.pk)
    assert response.status_code == 201
    assert response.json()["url"] == "/timeline/"
    assert Insight.objects.get(client=client_user).session is None


def test_another_persons_session_number_ties_it_to_nothing(logged_in, client_user, stranger):
    theirs = KapSession.objects.create(client=stranger, starts_at=timezone.now())
    response = send(logged_in, theirs.pk, client_user.pk)
    assert response.status_code == 201
    assert Insight.objects.get(client=client_user).session is None
    assert not Insight.objects.filter(session=theirs).exists()


def test_an_empty_one_is_refused_with_the_reason(logged_in, client_user, session):
    response = send(logged_in, session.pk, client_user.pk, text="   ")
    assert response.status_code == 400
    assert response.json() == {"status": "refused", "message": "Write a word or two first."}
    assert not Insight.objects.exists()


def test_logged_out_it_is_answered_401_so_the_device_keeps_it(client, client_user, session):
    response = send(client, session.pk, client_user.pk)
    assert response.status_code == 401
    assert not Insight.objects.exists()


def test_sent_right_away_the_next_page_says_it_is_saved(logged_in, client_user, session):
    send(logged_in, session.pk, client_user.pk, announce="1")
    assert "Insight saved." in logged_in.get(f"/sessions/{session.pk}/").content.decode()
