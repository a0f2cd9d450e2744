"""A clinic admin invites by e-mail: one address or a list, pasted or as a CSV file. All or
nothing: one line that cannot be used invites nobody, and every such line is named with its
number and the reason (kap.care.views_invites, kap.care.invitations)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from kap.accounts.models import Invite
from kap.care.models import InviteEmail
from kap.lib.limits import INVITES_PER_LIST
from tests.care.helpers import body
from tests.care.invitation_helpers import LIST_URL, admin_client, codes, send_list


@pytest.fixture
def as_admin(clinic_admin):
    return admin_client(clinic_admin)


def nothing_made() -> bool:
    return not Invite.objects.exists() and not InviteEmail.objects.exists()


def test_a_pasted_list_invites_each_address_once_and_queues_one_email_each(
    as_admin, clinic_admin, clinic, django_capture_on_commit_callbacks
):
    pasted = "ana@example.org\r\nBen Okafor <BEN@example.org>, cleo@example.org;\n\n  \n"

    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = send_list(as_admin, addresses=pasted, days="3")

    assert response.status_code == 302
    assert response["Location"] == "/care/clinic/#invitations"
    invites = list(Invite.objects.order_by("pk"))
    assert [i.email for i in invites] == ["ana@example.org", "ben@example.org", "cleo@example.org"]
    for invite in invites:
        assert (invite.kind, invite.created_by, invite.clinic) == (
            "therapist",
            clinic_admin,
            clinic,
        )
        assert abs(invite.expires_at - (timezone.now() + timedelta(days=3))) < timedelta(minutes=1)
    # One e-mail each, queued after the commit; each carries its invitation's own code.
    assert len(queued) == 3
    rows = list(InviteEmail.objects.order_by("pk"))
    assert [r.status for r in rows] == ["pending"] * 3
    for row, code in zip(rows, codes(), strict=True):
        assert row.to == row.invite.email
        assert row.invite.code_hash == hashlib.sha256(code.encode()).hexdigest()
    assert len(set(codes())) == 3
    page = body(as_admin.get("/care/clinic/"))
    assert "3 therapist invitations made" in page
    assert "3 waiting to be used" in page


def test_one_address_is_a_list_of_one(as_admin):
    assert send_list(as_admin, addresses=" dr.new@example.org ").status_code == 302
    assert Invite.objects.get().email == "dr.new@example.org"


def test_one_bad_line_invites_nobody_and_every_bad_line_is_named_with_its_number(as_admin):
    pasted = (
        "ana@example.org\nnot-an-address\nben@example.org\n\nANA@example.org\nx@y, cleo@example.org"
    )

    response = send_list(as_admin, addresses=pasted)

    assert response.status_code == 400
    assert nothing_made()
    page = body(response)
    assert "Nobody was invited: 3 lines could not be used" in page
    assert "Lines that could not be used (3)" in page
    rows = page.split('id="refused-lines"', 1)[1].split("</table>", 1)[0]
    assert (
        '<th scope="row">Line 2</th><td><code>not-an-address</code></td><td>This is not an e-mail address.</td>'
        in rows
    )
    assert (
        '<th scope="row">Line 5</th><td><code>ANA@example.org</code></td><td>Listed twice: also on line 1.</td>'
        in rows
    )
    assert '<th scope="row">Line 6</th><td><code>x@y</code></td>' in rows
    assert "ben@example.org" not in rows and "cleo@example.org" not in rows
    # What was typed is kept, to be corrected rather than typed again.
    assert "ben@example.org" in page.split("<textarea", 1)[1].split("</textarea>", 1)[0]


def csv_file(text: str | bytes, name: str = "clients.csv") -> SimpleUploadedFile:
    data = text.encode("utf-8-sig") if isinstance(text, str) else text
    return SimpleUploadedFile(name, data, content_type="text/csv")


def test_a_csv_file_of_addresses_with_a_header_and_names(as_admin):
    upload = csv_file('name,email\nAna Silva,ana@example.org\n"Okafor, Ben",BEN@Example.org\n\n')

    response = send_list(as_admin, file=upload)

    assert response.status_code == 302
    assert [i.email for i in Invite.objects.order_by("pk")] == [
        "ana@example.org",
        "ben@example.org",
    ]


def test_a_csv_file_with_bad_rows_invites_nobody_and_names_the_file_lines(as_admin):
    upload = csv_file("email\nana@example.org\nJust a name\nben@@example.org\n")

    response = send_list(as_admin, file=upload, addresses="cleo@example.org")

    assert response.status_code == 400
    assert nothing_made()
    page = body(response)
    assert "Line 3 of the file</th><td></td><td>There is no e-mail address here." in page
    assert "Line 4 of the file</th><td><code>ben@@example.org</code>" in page


def test_a_file_that_is_not_utf8_text_is_refused_and_says_how_to_save_it(as_admin):
    response = send_list(as_admin, file=csv_file("café@example.org\n".encode("latin-1")))

    assert response.status_code == 400
    assert nothing_made()
    assert "It is not UTF-8 text: save it as “CSV UTF-8”" in body(response)


def test_more_addresses_than_the_limit_invite_nobody(as_admin):
    pasted = "\n".join(f"person{i}@example.org" for i in range(INVITES_PER_LIST + 1))

    response = send_list(as_admin, addresses=pasted)

    assert response.status_code == 400
    assert nothing_made()
    assert f"That is {INVITES_PER_LIST + 1} addresses; please send at most {INVITES_PER_LIST}" in (
        body(response)
    )


def test_an_empty_list_is_refused(as_admin):
    response = send_list(as_admin, addresses=" \n , ")

    assert response.status_code == 400
    assert "Please give at least one e-mail address." in body(response)
    assert nothing_made()


def test_a_therapist_address_with_an_account_or_a_waiting_invitation_is_refused(
    as_admin, therapist
):
    response = send_list(as_admin, addresses="new@example.org\nDr.Lee@example.com")
    assert response.status_code == 400
    assert (
        "Line 2</th><td><code>dr.lee@example.com</code></td><td>This address already has an account."
        in body(response)
    )
    assert nothing_made()

    assert send_list(as_admin, addresses="new@example.org").status_code == 302
    again = send_list(as_admin, addresses="other@example.org\nNEW@example.org")

    assert again.status_code == 400
    assert "An invitation is already waiting for this address" in body(again)
    assert Invite.objects.count() == 1


def test_clients_are_invited_for_one_of_the_clinics_therapists(as_admin, clinic_admin, therapist):
    no_therapist = send_list(as_admin, kind="client", addresses="robin@example.org")
    assert no_therapist.status_code == 400
    assert "Please choose the therapist these clients link with." in body(no_therapist)
    assert nothing_made()

    response = send_list(
        as_admin, kind="client", therapist=str(therapist.pk), addresses="robin@example.org"
    )

    assert response.status_code == 302
    invite = Invite.objects.get()
    assert (invite.kind, invite.created_by, invite.therapist) == ("client", clinic_admin, therapist)
    assert invite.for_therapist == therapist


def test_a_therapist_of_another_clinic_or_deactivated_cannot_be_chosen(
    as_admin, make_user, therapist
):
    from kap.accounts.models import Clinic

    elsewhere = make_user(
        "dr.far@example.com", role="therapist", clinic=Clinic.objects.create(name="Far Clinic")
    )
    therapist.is_active = False
    therapist.save()

    for chosen in (elsewhere, therapist):
        response = send_list(
            as_admin, kind="client", therapist=str(chosen.pk), addresses="robin@example.org"
        )
        assert response.status_code == 400
        assert "Select a valid choice" in body(response)
    assert nothing_made()


def test_whether_a_client_has_an_account_is_not_told_to_the_clinic(
    as_admin, therapist, client_user
):
    response = send_list(
        as_admin, kind="client", therapist=str(therapist.pk), addresses=client_user.email
    )

    assert response.status_code == 302  # they log in to accept; nothing is said of their account
    assert Invite.objects.get().email == client_user.email


def test_only_clinic_admins_invite_from_the_clinic(client, therapist, client_user):
    from tests.care.conftest import verify

    for person in (therapist, client_user):
        as_person = verify(client, person) if person.role != "client" else client
        if person.role == "client":
            client.force_login(person)
        response = as_person.post(
            LIST_URL, {"kind": "therapist", "days": "7", "addresses": "a@b.org"}
        )
        assert response.status_code == 404
    assert nothing_made()
