"""/invite/<code>/: a client accepts a therapist's invitation; a therapist joins a clinic."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from kap.accounts.models import CareLink, User
from tests.conftest import PASSWORD
from tests.sharing.conftest import CODE

URL = f"/invite/{CODE}/"


@pytest.fixture
def invite(make_invite, therapist):
    return make_invite(therapist)


def test_a_client_sees_who_invited_them_and_every_kind_unticked(logged_in, invite):
    response = logged_in.get(URL)

    html = response.content.decode()
    assert response.status_code == 200
    assert "Dr Rivera at Harbour Clinic" in html
    assert "<legend>What would you like Dr Rivera to see?</legend>" in html
    assert html.count('type="checkbox"') == 8
    assert " checked" not in html
    assert "not monitored in real time" in html


def test_accepting_links_the_client_with_exactly_the_kinds_they_chose(
    logged_in, client_user, therapist, invite
):
    response = logged_in.post(URL, {"scopes": ["safety", "insights"]})

    assert response.status_code == 302
    link = CareLink.objects.get()
    assert response.url == f"/account/sharing/#link-{link.pk}"
    assert (link.client, link.therapist) == (client_user, therapist)
    assert link.scopes == ["safety", "insights"]
    assert link.ended_at is None
    invite.refresh_from_db()
    assert invite.used_at is not None
    assert invite.used_by == client_user


def test_accepting_with_nothing_ticked_links_but_shares_nothing(logged_in, invite):
    response = logged_in.post(URL, {}, follow=True)

    assert response.status_code == 200
    assert "sees nothing from your account until you turn something on" in (
        response.content.decode()
    )
    assert CareLink.objects.get().scopes == []


def test_an_unknown_kind_is_refused_and_nothing_is_linked(logged_in, invite):
    response = logged_in.post(URL, {"scopes": ["insights", "everything"]})

    assert response.status_code == 400
    assert "not one we know, so nothing was changed" in response.content.decode()
    assert not CareLink.objects.exists()
    invite.refresh_from_db()
    assert invite.used_at is None


def test_a_used_invitation_is_refused_and_makes_no_second_link(logged_in, client, stranger, invite):
    assert logged_in.post(URL, {"scopes": ["scores"]}).status_code == 302
    client.force_login(stranger)

    response = client.post(URL, {"scopes": ["scores"]})

    assert response.status_code == 410
    assert "already been used" in response.content.decode()
    assert CareLink.objects.count() == 1
    assert CareLink.objects.get().client.email == "alex@example.com"


def test_an_expired_invitation_is_refused(logged_in, make_invite, therapist):
    invite = make_invite(therapist, days=-1)

    response = logged_in.post(URL, {"scopes": ["scores"]})

    assert response.status_code == 410
    assert "has expired" in response.content.decode()
    assert not CareLink.objects.exists()
    invite.refresh_from_db()
    assert invite.used_at is None


def test_an_unknown_code_is_a_404(logged_in, invite):
    response = logged_in.post("/invite/not-a-real-code/", {"scopes": ["scores"]})

    assert response.status_code == 404
    assert "could not find this invitation" in response.content.decode()
    assert not CareLink.objects.exists()


def test_an_invitation_from_a_therapist_no_longer_active_is_refused(logged_in, invite, therapist):
    therapist.is_active = False
    therapist.save()

    response = logged_in.post(URL, {"scopes": ["scores"]})

    assert response.status_code == 410
    assert not CareLink.objects.exists()


def test_an_anonymous_visitor_may_log_in_or_create_their_account_right_here(client, guide, invite):
    response = client.get(URL)

    html = response.content.decode()
    assert response.status_code == 200
    assert "Dr Rivera" in html
    assert f'href="/login/?next=/invite/{CODE}/"' in html
    assert 'name="password1"' in html and "Create my account" in html
    assert 'name="scopes"' not in html  # nothing to share before there is an account


@override_settings(OPEN_SIGNUP=False)
def test_with_sign_up_closed_the_invitation_still_lets_them_create_an_account(
    client, guide, invite
):
    response = client.get(URL)

    html = response.content.decode()
    assert response.status_code == 200
    assert f'href="/login/?next=/invite/{CODE}/"' in html
    assert "/signup/" not in html
    assert 'name="password1"' in html


def test_an_anonymous_post_links_nothing(client, guide, invite):
    response = client.post(URL, {"scopes": ["scores"]})

    assert response.status_code == 200
    assert not CareLink.objects.exists()
    invite.refresh_from_db()
    assert invite.used_at is None


def test_a_client_already_linked_is_told_so_and_gets_no_second_link(
    logged_in, client_user, therapist, invite, make_link
):
    make_link(client_user, therapist, ["scores"])

    response = logged_in.post(URL, {"scopes": ["insights"]}, follow=True)

    assert response.status_code == 200
    assert "already linked with Dr Rivera" in response.content.decode()
    assert list(CareLink.objects.values_list("scopes", flat=True)) == [["scores"]]
    invite.refresh_from_db()
    assert invite.used_at is None


def test_a_client_who_ended_a_link_can_link_again_with_a_new_invitation(
    logged_in, client_user, therapist, invite, make_link
):
    make_link(client_user, therapist, ["scores"], ended_at=timezone.now() - timedelta(days=3))

    response = logged_in.post(URL, {"scopes": ["steps"]})

    assert response.status_code == 302
    assert CareLink.objects.active().get().scopes == ["steps"]
    assert CareLink.objects.count() == 2


def test_a_therapist_cannot_accept_a_client_invitation(client, make_user, clinic, invite):
    from tests.security.support import log_in_with_second_factor

    colleague = make_user("lee@harbour.example", role="therapist", clinic=clinic)
    log_in_with_second_factor(client, colleague)

    response = client.post(URL, {"scopes": ["scores"]})

    assert response.status_code == 403
    assert "cannot be accepted here" in response.content.decode()
    assert not CareLink.objects.exists()


def test_accepting_records_the_consent_in_the_audit_trail(logged_in, client_user, invite):
    from kap.care.models import AuditEntry

    logged_in.post(URL, {"scopes": ["safety", "insights"]})

    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.subject, entry.action) == (client_user, client_user, "consent")
    assert entry.what == "link accepted with rivera@harbour.example: safety, insights"


# --- A clinic admin's invitation to a therapist -------------------------------------------------


def therapist_signup(**over):
    data = {
        "display_name": "Dr Okafor",
        "email": "okafor@harbour.example",
        "password1": PASSWORD,
        "password2": PASSWORD,
    }
    data.update(over)
    return data


@pytest.fixture
def staff_invite(make_invite, clinic_admin):
    return make_invite(clinic_admin, kind="therapist")


def test_a_therapist_invitation_creates_a_therapist_in_the_clinic_and_asks_for_two_factor(
    client, guide, clinic, staff_invite
):
    response = client.post(URL, therapist_signup())

    assert response.status_code == 302
    assert response.url == "/account/two-factor/"
    therapist = User.objects.get(email="okafor@harbour.example")
    assert therapist.role == "therapist"
    assert therapist.clinic == clinic
    assert therapist.display_name == "Dr Okafor"
    assert therapist.check_password(PASSWORD)
    staff_invite.refresh_from_db()
    assert staff_invite.used_by == therapist
    # and they are logged in, on their way to setting up two-step login
    assert client.get("/account/two-factor/").status_code == 200


def test_a_therapist_invitation_works_once(client, guide, staff_invite):
    client.post(URL, therapist_signup())
    client.logout()

    response = client.post(URL, therapist_signup(email="someone@else.example"))

    assert response.status_code == 410
    assert not User.objects.filter(email="someone@else.example").exists()


@pytest.mark.parametrize(
    "over, message",
    [
        ({"display_name": ""}, "the name your clients know you by"),
        ({"password1": "password123", "password2": "password123"}, "too common"),
        ({"email": "alex@example.com"}, "already exists"),
    ],
)
def test_a_therapist_sign_up_with_a_mistake_creates_nothing(
    client, client_user, staff_invite, over, message
):
    response = client.post(URL, therapist_signup(**over))

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not User.objects.filter(role="therapist").exists()
    staff_invite.refresh_from_db()
    assert staff_invite.used_at is None


def test_a_therapist_invitation_for_one_address_refuses_another(
    client, guide, make_invite, clinic_admin
):
    make_invite(clinic_admin, kind="therapist", email="okafor@harbour.example")

    response = client.post(URL, therapist_signup(email="other@harbour.example"))

    assert response.status_code == 200
    assert "This invitation is for okafor@harbour.example" in response.content.decode()
    assert not User.objects.filter(role="therapist").exists()


def test_a_logged_in_person_cannot_use_a_therapist_invitation(logged_in, staff_invite):
    response = logged_in.post(URL, therapist_signup())

    assert response.status_code == 403
    assert "please log out" in response.content.decode()
    assert not User.objects.filter(role="therapist").exists()
    staff_invite.refresh_from_db()
    assert staff_invite.used_at is None
