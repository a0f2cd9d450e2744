"""kap.accounts.decorators: what each kind of account gets from a view that is not for it."""

from types import SimpleNamespace

import pytest
from django.contrib.messages import get_messages
from django.contrib.messages.storage.cookie import CookieStorage
from django.http import Http404, HttpResponse
from django.test import RequestFactory

from kap.accounts.decorators import (
    client_required,
    client_required_or_home,
    clinic_admin_required,
    staff_required,
    therapist_required,
)


def person(role: str, *, verified: bool = True):
    return SimpleNamespace(role=role, is_client=role == "client", is_verified=lambda: verified)


def call(decorated, user, path: str = "/somewhere/?page=2"):
    request = RequestFactory().get(path)
    request.user = user
    request._messages = CookieStorage(request)
    return request, decorated(lambda request: HttpResponse("the page"))(request)


@pytest.mark.parametrize(
    ("decorator", "allowed"),
    [
        (client_required, {"client"}),
        (staff_required, {"therapist", "admin"}),
        (therapist_required, {"therapist"}),
        (clinic_admin_required, {"admin"}),
    ],
)
@pytest.mark.parametrize("role", ["client", "therapist", "admin"])
def test_a_page_not_for_your_role_is_not_found(decorator, allowed, role):
    if role in allowed:
        _, response = call(decorator, person(role))
        assert response.content == b"the page"
    else:
        with pytest.raises(Http404):
            call(decorator, person(role))


@pytest.mark.parametrize(
    ("decorator", "role"),
    [
        (staff_required, "therapist"),
        (staff_required, "admin"),
        (therapist_required, "therapist"),
        (clinic_admin_required, "admin"),
    ],
)
def test_staff_without_their_second_factor_are_sent_to_it_and_back(decorator, role):
    _, response = call(decorator, person(role, verified=False))
    assert response.status_code == 302
    assert response["Location"] == "/account/two-factor/?next=/somewhere/%3Fpage%3D2"


def test_client_required_or_home_sends_others_home_with_the_reason():
    only_clients = client_required_or_home("Nothing here for this account.")
    _, response = call(only_clients, person("client"))
    assert response.content == b"the page"

    request, response = call(only_clients, person("therapist"))
    assert (response.status_code, response["Location"]) == (302, "/")
    assert [str(m) for m in get_messages(request)] == ["Nothing here for this account."]
