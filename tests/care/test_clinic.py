import re

import pytest

from kap.accounts.models import Invite
from kap.journal.models import QuestionToBring, SafetyEvent
from tests.care.conftest import phq9_answers, verify
from tests.care.helpers import body


@pytest.fixture
def as_admin(client, clinic_admin):
    return verify(client, clinic_admin)


def test_the_admin_sees_the_clinics_therapists(as_admin, therapist, colleague, make_user):
    make_user("elsewhere@example.com", role="therapist", display_name="Dr Elsewhere")
    colleague.is_active = False
    colleague.save()

    page = body(as_admin.get("/care/clinic/"))

    assert "Dr Lee" in page and "Dr Kim" in page
    assert "Deactivated" in page
    assert "Dr Elsewhere" not in page


def test_the_admin_invites_a_therapist_to_the_clinic(as_admin, clinic_admin, clinic, settings):
    settings.BASE_URL = "https://kap.example.org"

    response = as_admin.post("/care/clinic/invite/", {"email": "dr.new@example.com", "days": "7"})

    assert response.status_code == 200
    code = re.search(r'id="invite-code" value="([^"]+)"', response.content.decode())[1]
    assert f"https://kap.example.org/invite/{code}/" in response.content.decode()
    invite = Invite.objects.get()
    assert (invite.kind, invite.clinic, invite.created_by) == ("therapist", clinic, clinic_admin)
    assert code not in as_admin.get("/care/clinic/").content.decode()

    assert as_admin.post(f"/care/clinic/invite/{invite.pk}/revoke/").status_code == 302
    invite.refresh_from_db()
    assert not invite.is_usable


def test_deactivation_logs_the_therapist_out_on_their_next_request(
    client, as_admin, therapist, client_user, linked
):
    from django.test import Client

    theirs = verify(Client(), therapist)
    assert theirs.get("/care/").status_code == 200

    response = as_admin.post(f"/care/clinic/therapists/{therapist.pk}/active/", {"active": "0"})

    assert response.status_code == 302
    therapist.refresh_from_db()
    assert not therapist.is_active
    after = theirs.get(f"/care/clients/{client_user.pk}/")
    assert after.status_code == 302
    assert after["Location"].startswith("/login/")
    again = theirs.post(
        "/login/", {"username": therapist.email, "password": "a quiet morning by the lake"}
    )
    assert again.status_code == 200  # the form again: inactive accounts cannot log in
    assert "_auth_user_id" not in theirs.session


def test_a_reactivated_account_does_not_get_its_old_session_back(
    as_admin, therapist, client_user, linked
):
    from django.test import Client

    theirs = verify(Client(), therapist)
    as_admin.post(f"/care/clinic/therapists/{therapist.pk}/active/", {"active": "0"})
    as_admin.post(f"/care/clinic/therapists/{therapist.pk}/active/", {"active": "1"})

    response = theirs.get("/care/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_a_reactivated_therapist_can_log_in_again(as_admin, therapist):
    therapist.is_active = False
    therapist.save()

    as_admin.post(f"/care/clinic/therapists/{therapist.pk}/active/", {"active": "1"})

    therapist.refresh_from_db()
    assert therapist.is_active


def test_the_admin_manages_only_their_own_clinics_therapists(as_admin, make_user):
    from kap.accounts.models import Clinic

    other = make_user(
        "other@example.com", role="therapist", clinic=Clinic.objects.create(name="Other")
    )
    client_account = make_user("someone@example.com")

    for person in (other, client_account):
        response = as_admin.post(f"/care/clinic/therapists/{person.pk}/active/", {"active": "0"})
        assert response.status_code == 404
        person.refresh_from_db()
        assert person.is_active


def test_the_admin_cannot_read_any_clients_clinical_content(as_admin, client_user, linked, submit):
    submit(client_user, "phq9", phq9_answers(4, item9=1))
    submit(client_user, "first-session-preparation", {"concerns-or-questions": "Is music ok?"})
    base = f"/care/clients/{client_user.pk}/"
    question = QuestionToBring.objects.get()

    for path in ("", "brief/", "brief.pdf"):
        assert as_admin.get(base + path).status_code == 404, path
    assert as_admin.get("/care/").status_code == 404
    assert as_admin.post(base + "notes/", {"text": "x"}).status_code == 404
    assert as_admin.post(f"{base}questions/{question.pk}/discussed/").status_code == 404
    event = SafetyEvent.objects.get()
    assert as_admin.post(f"/care/alerts/{event.pk}/acknowledge/").status_code == 404
    page = body(as_admin.get("/care/clinic/"))
    assert "Alex" not in page and "Is music ok?" not in page


def test_the_clinic_page_is_for_verified_admins_only(client, therapist, clinic_admin):
    verify(client, therapist)
    assert client.get("/care/clinic/").status_code == 404
    client.logout()

    client.force_login(clinic_admin)
    response = client.get("/care/clinic/")
    assert response.status_code == 302
    assert response["Location"] == "/account/two-factor/?next=/care/clinic/"


def test_an_admin_without_a_clinic_has_nothing_to_manage(client, make_user):
    verify(client, make_user("lone@example.com", role="admin"))

    assert "not part of a clinic" in body(client.get("/care/clinic/"))
    assert client.post("/care/clinic/invite/", {"days": "7"}).status_code == 404
