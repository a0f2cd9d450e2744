"""A clinic admin sees who was invited and who has joined, sends an invitation again (a new code:
the old one stops working) and withdraws one; the clinic's own words for its e-mails."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from kap.accounts.models import Clinic, Invite
from kap.care import services
from kap.care.models import InviteEmail
from tests.care.conftest import verify
from tests.care.helpers import body
from tests.care.invitation_helpers import admin_client
from tests.conftest import PASSWORD


@pytest.fixture
def as_admin(clinic_admin):
    return admin_client(clinic_admin)


def invite_by_email(admin, address="dr.new@example.org", kind="therapist", therapist=None, days=7):
    (invite,) = services.send_invites(
        sender=admin, kind=kind, emails=[address], days=days, therapist=therapist
    )
    return invite, InviteEmail.objects.filter(invite=invite).latest("pk").code


def test_the_list_shows_who_has_joined_and_who_is_still_waiting(
    as_admin, clinic_admin, therapist, make_user
):
    joined, code = invite_by_email(clinic_admin, "dr.new@example.org")
    services.accept_therapist_invite(
        invite=joined, email="dr.new@example.org", password=PASSWORD, display_name="Dr Nova"
    )
    invite_by_email(clinic_admin, "dr.later@example.org")
    client_invite, client_code = invite_by_email(
        clinic_admin, "robin@example.org", kind="client", therapist=therapist
    )
    robin = make_user("robin@example.org", display_name="Robin Private-Name")
    services.accept_client_invite(invite=client_invite, client=robin, scopes=[], ip=None)

    page = body(as_admin.get("/care/clinic/"))

    assert "1 waiting to be used · 2 joined" in page
    rows = page.split("Who was invited", 1)[1]
    assert "dr.new@example.org</th>" in rows and "<strong>Joined as Dr Nova</strong>" in rows
    assert "dr.later@example.org</th>" in rows and "Waiting, until" in rows
    assert "robin@example.org</th>" in rows and "Client of Dr Lee" in rows
    # A client who joined is a client: the clinic sees that the invitation was used, no more.
    assert "Robin Private-Name" not in page
    joined.refresh_from_db()
    assert joined.used_by.email == "dr.new@example.org" and joined.used_at is not None


def test_sending_again_makes_a_new_code_and_the_old_one_stops_working(
    as_admin, clinic_admin, django_capture_on_commit_callbacks
):
    invite, old_code = invite_by_email(clinic_admin)

    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = as_admin.post(f"/care/clinic/invite/{invite.pk}/resend/")

    assert response.status_code == 302
    assert len(queued) == 1
    invite.refresh_from_db()
    old, new = InviteEmail.objects.order_by("pk")
    # The first e-mail, not yet sent, is not sent; its code is gone.
    assert (old.status, old.code) == ("cancelled", None)
    assert new.status == "pending" and new.code != old_code
    assert invite.code_hash == hashlib.sha256(new.code.encode()).hexdigest()
    anonymous = Client()
    stale = anonymous.get(f"/invite/{old_code}/")
    assert stale.status_code == 404
    assert "only the newest one works" in stale.content.decode()
    assert anonymous.get(f"/invite/{new.code}/").status_code == 200


def test_sending_again_revives_a_withdrawn_or_expired_invitation_for_as_long_as_it_was(
    as_admin, clinic_admin
):
    invite, _ = invite_by_email(clinic_admin, days=3)
    services.withdraw_invite(invite)
    Invite.objects.filter(pk=invite.pk).update(expires_at=timezone.now() - timedelta(days=1))

    as_admin.post(f"/care/clinic/invite/{invite.pk}/resend/")

    invite.refresh_from_db()
    assert invite.withdrawn_at is None and invite.is_usable
    assert abs(invite.expires_at - (timezone.now() + timedelta(days=3))) < timedelta(minutes=1)


def test_a_used_invitation_is_not_sent_again(as_admin, clinic_admin):
    invite, _ = invite_by_email(clinic_admin)
    Invite.objects.filter(pk=invite.pk).update(used_at=timezone.now())
    before = invite.code_hash

    response = as_admin.post(f"/care/clinic/invite/{invite.pk}/resend/", follow=True)

    assert "was used already" in body(response)
    invite.refresh_from_db()
    assert invite.code_hash == before
    assert InviteEmail.objects.count() == 1


def test_withdrawing_stops_the_link_and_the_email_not_yet_sent(as_admin, clinic_admin):
    invite, code = invite_by_email(clinic_admin)

    response = as_admin.post(f"/care/clinic/invite/{invite.pk}/revoke/", follow=True)

    assert "The invitation was withdrawn" in body(response)
    invite.refresh_from_db()
    assert invite.withdrawn_at is not None and not invite.is_usable
    row = InviteEmail.objects.get()
    assert (row.status, row.code) == ("cancelled", None)
    page = Client().get(f"/invite/{code}/")
    assert page.status_code == 410
    assert "This invitation was withdrawn" in page.content.decode()
    # Withdrawn twice is a 404: there is nothing left to withdraw.
    assert as_admin.post(f"/care/clinic/invite/{invite.pk}/revoke/").status_code == 404
    assert "Withdrawn, " in body(as_admin.get("/care/clinic/"))


def test_an_admin_manages_only_their_own_clinics_invitations(
    as_admin, make_user, therapist, clinic_admin
):
    far = Clinic.objects.create(name="Far Clinic")
    far_admin = make_user("admin@far.example", role="admin", clinic=far)
    theirs, _ = invite_by_email(far_admin, "dr.far@example.org")
    # A therapist's own invitation to a client is the therapist's, not the clinic's.
    therapists_own = Invite.objects.create(
        kind="client",
        created_by=therapist,
        clinic=therapist.clinic,
        code_hash="x" * 64,
        email="client@example.org",
        expires_at=timezone.now() + timedelta(days=7),
    )

    for invite in (theirs, therapists_own):
        for action in ("resend", "revoke"):
            response = as_admin.post(f"/care/clinic/invite/{invite.pk}/{action}/")
            assert response.status_code == 404, (invite.email, action)
    page = body(as_admin.get("/care/clinic/"))
    assert "dr.far@example.org" not in page and "client@example.org" not in page
    theirs.refresh_from_db()
    assert theirs.is_usable
    assert InviteEmail.objects.count() == 1


def test_the_list_is_shown_a_page_at_a_time(as_admin, clinic_admin):
    services.send_invites(
        sender=clinic_admin,
        kind="therapist",
        emails=[f"dr{i:03}@example.org" for i in range(60)],
        days=7,
    )

    first = body(as_admin.get("/care/clinic/"))
    second = body(as_admin.get("/care/clinic/?invites=2"))

    assert "60 invitations, newest first, page 1 of 2" in first
    assert first.count("Send again<span") == 50 and second.count("Send again<span") == 10
    assert "dr059@example.org" in first and "dr000@example.org" in second


def test_the_clinic_chooses_its_own_opening_words_stored_encrypted(as_admin, clinic):
    words = "Welcome to Lakeside. We look forward to seeing you."

    response = as_admin.post("/care/clinic/invitations/words/", {"text": f"  {words}  "})

    assert response.status_code == 302
    clinic.refresh_from_db()
    assert clinic.invitation_text == words
    with connection.cursor() as cursor:
        cursor.execute("SELECT invitation_text FROM accounts_clinic WHERE id = %s", [clinic.pk])
        assert words not in cursor.fetchone()[0]
    assert words in body(as_admin.get("/care/clinic/"))

    too_long = as_admin.post("/care/clinic/invitations/words/", {"text": "x" * 2_001})
    assert too_long.status_code == 400
    assert "Please shorten the opening words to 2,000 characters" in body(too_long)
    clinic.refresh_from_db()
    assert clinic.invitation_text == words


@pytest.mark.parametrize("who", ["therapist", "client_user"])
def test_only_clinic_admins_manage_the_clinics_invitations(request, client, clinic_admin, who):
    invite, _ = invite_by_email(clinic_admin)
    person = request.getfixturevalue(who)
    if person.role == "therapist":
        verify(client, person)
    else:
        client.force_login(person)

    for url in (
        f"/care/clinic/invite/{invite.pk}/resend/",
        f"/care/clinic/invite/{invite.pk}/revoke/",
        "/care/clinic/invitations/words/",
    ):
        assert client.post(url, {"text": "x"}).status_code == 404
    assert client.get("/care/clinic/invitations/").status_code == 404
    invite.refresh_from_db()
    assert invite.is_usable and InviteEmail.objects.count() == 1
