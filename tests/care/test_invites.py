import hashlib
import re
from datetime import timedelta

from django.utils import timezone

from kap.accounts.models import Invite
from tests.care.conftest import verify
from tests.care.helpers import body


def shown_code(response) -> str:
    return re.search(r'id="invite-code" value="([^"]+)"', response.content.decode()).group(1)


def test_a_therapist_makes_an_invitation_shown_once(as_therapist, therapist, settings):
    settings.BASE_URL = "https://kap.example.org"

    response = as_therapist.post("/care/invite/", {"email": "new@example.com", "days": "7"})

    assert response.status_code == 200
    code = shown_code(response)
    assert f"https://kap.example.org/invite/{code}/" in response.content.decode()
    invite = Invite.objects.get()
    assert invite.kind == "client"
    assert invite.created_by == therapist
    assert invite.clinic == therapist.clinic
    assert invite.email == "new@example.com"
    assert invite.code_hash == hashlib.sha256(code.encode()).hexdigest()
    assert code not in invite.code_hash
    assert abs(invite.expires_at - (timezone.now() + timedelta(days=7))) < timedelta(minutes=1)
    assert (
        response["Cache-Control"].startswith("max-age=0") or "no-store" in response["Cache-Control"]
    )
    # Shown once: the list of invitations never shows it again.
    assert code not in as_therapist.get("/care/invite/").content.decode()


def test_the_email_is_optional_and_the_default_is_a_week(as_therapist):
    page = as_therapist.get("/care/invite/").content.decode()
    assert 'value="7"' in page

    response = as_therapist.post("/care/invite/", {"email": "", "days": "7"})

    assert response.status_code == 200
    assert Invite.objects.get().email == ""


def test_a_bad_choice_is_refused_with_a_reason(as_therapist):
    response = as_therapist.post("/care/invite/", {"email": "nope", "days": "90"})

    assert response.status_code == 400
    assert "Enter a valid email address." in response.content.decode()
    assert not Invite.objects.exists()


def test_pending_invitations_are_listed_with_their_expiry(as_therapist, therapist):
    as_therapist.post("/care/invite/", {"email": "a@example.com", "days": "3"})
    used = Invite.objects.create(
        kind="client",
        created_by=therapist,
        code_hash="u" * 64,
        email="used@example.com",
        expires_at=timezone.now() + timedelta(1),
        used_at=timezone.now(),
    )
    Invite.objects.create(
        kind="client",
        created_by=therapist,
        code_hash="e" * 64,
        email="late@example.com",
        expires_at=timezone.now() - timedelta(1),
    )

    page = body(as_therapist.get("/care/invite/"))

    assert "a@example.com" in page
    assert used.email not in page and "late@example.com" not in page


def test_a_therapist_withdraws_an_invitation(as_therapist):
    as_therapist.post("/care/invite/", {"email": "a@example.com", "days": "7"})
    invite = Invite.objects.get()

    response = as_therapist.post(f"/care/invite/{invite.pk}/revoke/")

    assert response.status_code == 302
    invite.refresh_from_db()
    assert not invite.is_usable
    assert "a@example.com" not in body(as_therapist.get("/care/invite/"))


def test_nobody_else_can_withdraw_it(client, as_therapist, colleague):
    as_therapist.post("/care/invite/", {"email": "a@example.com", "days": "7"})
    invite = Invite.objects.get()
    client.logout()
    verify(client, colleague)

    assert client.post(f"/care/invite/{invite.pk}/revoke/").status_code == 404
    invite.refresh_from_db()
    assert invite.is_usable


def test_a_clinic_admin_does_not_invite_clients(client, clinic_admin):
    verify(client, clinic_admin)

    assert client.get("/care/invite/").status_code == 404


def test_without_kap_base_url_the_link_is_on_the_address_the_therapist_is_using(
    as_therapist, settings
):
    # The default KAP_BASE_URL (port 8000) is not where this server is reached.
    settings.BASE_URL = "http://127.0.0.1:8000"
    settings.ALLOWED_HOSTS = ["kap.lan"]
    response = as_therapist.post(
        "/care/invite/", {"days": "7"}, HTTP_HOST="kap.lan:8123", secure=False
    )
    code = shown_code(response)
    html = response.content.decode()
    assert f'value="http://kap.lan:8123/invite/{code}/"' in html
    assert "127.0.0.1:8000" not in html


def test_behind_a_trusted_proxy_the_link_is_https_on_the_proxys_host(as_therapist, settings):
    settings.BASE_URL = "http://127.0.0.1:8000"
    settings.ALLOWED_HOSTS = ["kap.example.org"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # KAP_TRUSTED_PROXY
    response = as_therapist.post(
        "/care/invite/",
        {"days": "7"},
        HTTP_HOST="kap.example.org",
        HTTP_X_FORWARDED_PROTO="https",
    )
    code = shown_code(response)
    assert f'value="https://kap.example.org/invite/{code}/"' in response.content.decode()


def test_the_link_and_the_code_are_read_only_fields_with_a_copy_button(as_therapist):
    html = as_therapist.post("/care/invite/", {"days": "7"}).content.decode()
    for field, what in (
        ("invite-link", "the invitation link"),
        ("invite-code", "the invitation code"),
    ):
        # Without JavaScript: labelled, selectable text. With it: a Copy button and its status.
        assert f'<label for="{field}">' in html
        assert re.search(rf'<input type="text" id="{field}" value="[^"]+" readonly', html)
        assert (
            f'<button type="button" class="secondary" data-copy="{field}" hidden>'
            f'Copy<span class="visually-hidden"> {what}</span></button>'
        ) in html
        assert f'<p class="copy-status" id="{field}-status" role="status"></p>' in html
    assert 'src="/static/kap/copy.js" defer' in html
