"""Inputs the property-based test found that gave a 500 or wrote before refusing: each has its
own plain regression test here."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kap.journal.models import QuestionToBring, Response, SafetyEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

# Words without a slash: redirect() took them for the names of views, and failed.
NOT_PATHS = ["home", "abc", ":", "journal:nothing", "", "https://elsewhere.example/"]


@pytest.mark.parametrize("target", NOT_PATHS)
def test_marking_a_question_asked_goes_back_only_to_a_path(logged_in, client_user, target):
    question = QuestionToBring.objects.create(client=client_user, text="eyes open?")
    response = logged_in.post(f"/questions/{question.pk}/asked/", {"next": target})
    assert response.status_code == 302
    assert response["Location"] == "/questions/"


def test_a_body_too_large_to_read_changes_nothing(logged_in, client_user):
    question = QuestionToBring.objects.create(client=client_user, text="eyes open?")
    response = logged_in.post(
        f"/questions/{question.pk}/asked/", {"next": "/questions/", "pad": "x" * 2_700_000}
    )
    assert response.status_code == 400
    question.refresh_from_db()
    assert question.asked_at is None


@pytest.mark.parametrize("target", NOT_PATHS)
def test_the_therapists_small_actions_go_back_only_to_a_path(
    as_therapist, client_user, linked, target
):
    question = QuestionToBring.objects.create(client=client_user, text="eyes open?")
    url = f"/care/clients/{client_user.pk}/questions/{question.pk}/discussed/"
    response = as_therapist.post(url, {"next": target})
    assert response.status_code == 302
    assert response["Location"] == f"/care/clients/{client_user.pk}/#questions"

    from kap.content.models import Instrument

    answer = Response.objects.create(
        client=client_user,
        instrument=Instrument.objects.current().get(key="phq9"),
        status="submitted",
        submitted_at=timezone.now() - timedelta(hours=1),
    )
    event = SafetyEvent.objects.create(client=client_user, response=answer, rule_key="phq9-q9")
    response = as_therapist.post(f"/care/alerts/{event.pk}/acknowledge/", {"next": target})
    assert response.status_code == 302
    assert response["Location"] == f"/care/clients/{client_user.pk}/"


@pytest.mark.parametrize("target", ["home", "abc"])
def test_signing_up_goes_on_only_to_a_path(client, guide, make_user, target):
    make_user("first@example.com")  # not the first account: an ordinary sign-up
    response = client.post(
        "/signup/",
        {
            "display_name": "Kim",
            "email": "kim@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "next": target,
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_the_second_factor_goes_on_only_to_a_path(client, therapist):
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=therapist, name="Authenticator app", confirmed=True)
    client.force_login(therapist)
    code = f"{totp(device.bin_key, device.step, device.t0, device.digits):06d}"
    response = client.post("/account/two-factor/", {"code": code, "next": "abc"})
    assert response.status_code == 302
    assert response["Location"] == "/"
