"""The sign-in lockout counts what sign-in matches, and keys on the real client.

Found by the second security review: every case variant of an address got fresh tries, and
behind a trusted proxy the throttle keyed on the proxy's own address, so anyone could lock any
therapist out.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.conftest import PASSWORD

EMAIL = "ana@clinic.example"


@pytest.fixture
def ana(make_user):
    return make_user(EMAIL, role="client")


def sign_in(client, username: str, password: str, **headers):
    return client.post(reverse("login"), {"username": username, "password": password}, **headers)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.django_db
def test_case_variants_of_an_address_share_one_count_of_failures(client, ana, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for variant in ("Ana@Clinic.example", "ANA@CLINIC.EXAMPLE", " ana@clinic.EXAMPLE "):
        sign_in(client, variant, "not the password")
    response = sign_in(client, "aNa@cLiNiC.eXaMpLe", PASSWORD)
    assert not signed_in(client)
    assert response.status_code in (403, 429)


@pytest.mark.django_db
def test_behind_a_trusted_proxy_the_lockout_keys_on_the_real_client(client, ana, settings):
    settings.TRUSTED_PROXY = True
    settings.AXES_FAILURE_LIMIT = 3
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    attacker = {**proxy, "HTTP_X_FORWARDED_FOR": "203.0.113.5"}
    for _ in range(4):
        sign_in(client, EMAIL, "not the password", **attacker)
    assert not signed_in(client)
    # The same proxy, another person: the right password works at once.
    sign_in(client, EMAIL, PASSWORD, **proxy, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert signed_in(client)


@pytest.mark.django_db
def test_a_forged_forwarded_address_counts_only_without_a_trusted_proxy(client, ana, settings):
    """Without KAP_TRUSTED_PROXY the header is the sender's to invent: it is not believed, so
    rotating it gives no fresh tries."""
    settings.TRUSTED_PROXY = False
    settings.AXES_FAILURE_LIMIT = 3
    for n in range(3):
        sign_in(client, EMAIL, "not the password", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
    sign_in(client, EMAIL, PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert not signed_in(client)


@pytest.mark.parametrize(
    "meta, trusted, expected",
    [
        (
            {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "1.2.3.4, 203.0.113.5"},
            True,
            "203.0.113.5",
        ),
        ({"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "1.2.3.4"}, False, "10.0.0.2"),
        ({"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "<script>"}, True, "10.0.0.2"),
        ({"REMOTE_ADDR": ""}, False, None),
    ],
)
def test_one_rule_for_the_client_address(meta, trusted, expected, settings):
    from kap.lib.addresses import client_ip

    settings.TRUSTED_PROXY = trusted
    assert client_ip(meta) == expected
