"""An invited client creates their account from the invitation, even with sign-up closed
(KAP_OPEN_SIGNUP=False), then chooses what to share. Without an invitation, sign-up stays
closed; a used, expired or withdrawn invitation says so and creates nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kap.accounts.models import CareLink, Invite, User
from kap.care import services
from tests.care.helpers import body
from tests.conftest import PASSWORD


@pytest.fixture(autouse=True)
def sign_up_closed(settings):
    settings.OPEN_SIGNUP = False


def clients() -> list[str]:
    return list(User.objects.filter(role="client").values_list("email", flat=True))


def signup(address="robin@example.org", **over):
    return {
        "display_name": "Robin",
        "email": address,
        "password1": PASSWORD,
        "password2": PASSWORD,
        "time_zone": "Europe/Lisbon",
        **over,
    }


@pytest.fixture
def code(therapist, guide):
    """Dr Lee's invitation to robin@example.org."""
    return services.create_invite(
        sender=therapist, kind="client", email="robin@example.org", days=7
    )


def test_an_invited_client_creates_their_account_and_lands_on_the_consent_screen(
    client, code, therapist
):
    page = client.get(f"/invite/{code}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'value="robin@example.org"' in html  # the invited address, filled in

    response = client.post(f"/invite/{code}/", signup(), follow=True)

    assert response.redirect_chain == [(f"/invite/{code}/", 302)]
    html = body(response)
    assert "Your account is ready. Now choose what, if anything, to share with Dr Lee." in html
    assert 'name="scopes"' in html and "Accept and link" in html
    robin = User.objects.get(email="robin@example.org")
    assert (robin.role, robin.display_name, robin.is_active) == ("client", "Robin", True)
    assert robin.check_password(PASSWORD)
    assert response.wsgi_request.user == robin  # logged in
    invite = Invite.objects.get()
    assert invite.used_at is None  # used once they accept, below
    assert not CareLink.objects.exists()

    done = client.post(f"/invite/{code}/", {"scopes": ["insights"]})

    assert done.status_code == 302
    link = CareLink.objects.get()
    assert (link.client, link.therapist, link.scopes) == (robin, therapist, ["insights"])
    invite.refresh_from_db()
    assert invite.used_by == robin


def test_the_time_zone_from_the_browser_is_kept(client, code):
    client.post(f"/invite/{code}/", signup(time_zone="Europe/Lisbon"))

    assert User.objects.get(email="robin@example.org").time_zone == "Europe/Lisbon"


def test_without_an_invitation_sign_up_stays_closed(client, guide):
    assert client.get("/signup/").status_code == 404
    assert client.post("/signup/", signup()).status_code == 404
    assert client.get("/signup/?next=/invite/whatever/").status_code == 404
    assert not clients()


def test_an_invitation_for_one_address_makes_an_account_for_that_address_only(client, code):
    response = client.post(f"/invite/{code}/", signup(address="someone.else@example.org"))

    assert response.status_code == 200
    assert "This invitation is for robin@example.org" in body(response)
    assert not clients()


def test_an_invitation_without_an_address_takes_the_one_they_give(client, therapist, guide):
    code = services.create_invite(sender=therapist, kind="client", email="", days=7)

    client.post(f"/invite/{code}/", signup(address="Sam@Example.org"))

    assert clients() == ["sam@example.org"]


def test_a_mistake_in_the_form_creates_nothing_and_says_what(client, code):
    response = client.post(f"/invite/{code}/", signup(password2="something else entirely"))

    assert response.status_code == 200
    assert "The two passwords are not the same." in body(response)
    assert not clients()


def test_an_address_that_has_an_account_is_asked_to_log_in(client, code, make_user):
    make_user("robin@example.org")

    response = client.post(f"/invite/{code}/", signup())

    page = body(response)
    assert "An account with this email address already exists." in page
    assert f'href="/login/?next=/invite/{code}/"' in page
    assert clients() == ["robin@example.org"]


def test_a_clinic_admins_invitation_links_the_client_with_the_therapist_it_is_for(
    client, clinic_admin, therapist, guide
):
    (invite,) = services.send_invites(
        sender=clinic_admin,
        kind="client",
        emails=["robin@example.org"],
        days=7,
        therapist=therapist,
    )
    code = invite.emails.get().code

    response = client.post(f"/invite/{code}/", signup(), follow=True)
    assert "An invitation from Dr Lee" in response.content.decode()
    client.post(f"/invite/{code}/", {"scopes": ["scores"]})

    link = CareLink.objects.get()
    assert (link.client.email, link.therapist) == ("robin@example.org", therapist)


def test_an_admins_client_invitation_stops_when_the_therapist_leaves(
    client, clinic_admin, therapist, guide
):
    (invite,) = services.send_invites(
        sender=clinic_admin,
        kind="client",
        emails=["robin@example.org"],
        days=7,
        therapist=therapist,
    )
    therapist.is_active = False
    therapist.save()

    response = client.post(f"/invite/{invite.emails.get().code}/", signup())

    assert response.status_code == 410
    assert not User.objects.filter(email="robin@example.org").exists()


UNUSABLE = {
    "used": ("This invitation has already been used", {"used_at": timezone.now}),
    "expired": (
        "This invitation has expired",
        {"expires_at": lambda: timezone.now() - timedelta(hours=1)},
    ),
    "withdrawn": ("This invitation was withdrawn", {"withdrawn_at": timezone.now}),
}


@pytest.mark.parametrize("state", UNUSABLE)
def test_a_used_expired_or_withdrawn_invitation_says_so_and_creates_nothing(client, code, state):
    heading, change = UNUSABLE[state]
    Invite.objects.update(**{k: make() for k, make in change.items()})

    for response in (client.get(f"/invite/{code}/"), client.post(f"/invite/{code}/", signup())):
        assert response.status_code == 410
        page = body(response)
        assert heading in page
        assert "Nothing was created or changed." in page
        assert 'name="password1"' not in page
    assert not clients()


def test_an_invitation_withdrawn_while_the_form_was_open_creates_nothing(client, code, monkeypatch):
    # The page checked the invitation as it was loaded; the account is made only after a
    # second check, under a lock, in the transaction that would make it.
    loaded = services.find_invite(code)
    services.withdraw_invite(services.find_invite(code))
    monkeypatch.setattr(services, "find_invite", lambda _: loaded)

    response = client.post(f"/invite/{code}/", signup())

    assert response.status_code == 410
    assert "This invitation was withdrawn" in body(response)
    assert not clients()


def test_the_code_can_be_typed_without_an_account(client, code):
    response = client.post("/invite/", {"code": code})

    assert response.status_code == 302
    assert response["Location"] == f"/invite/{code}/"
