"""kap.lib.links: the whole address of a page, for an invitation, a calendar feed or an e-mail."""

from pathlib import Path

import pytest
from django.test import RequestFactory

from kap.lib import links


@pytest.fixture
def unset(settings):
    settings.BASE_URL = links.DEFAULT_BASE_URL
    settings.ALLOWED_HOSTS = ["kap.lan", "kap.example.org"]
    return settings


def test_the_default_is_the_one_the_settings_give_kap_base_url():
    settings_py = Path(links.__file__).parents[1] / "settings.py"
    assert f'envstr("KAP_BASE_URL", "{links.DEFAULT_BASE_URL}")' in settings_py.read_text()


def test_with_a_request_and_no_kap_base_url_the_address_is_the_requests(unset):
    request = RequestFactory().get("/", HTTP_HOST="kap.lan:8123")
    assert links.absolute("/invite/abc/", request) == "http://kap.lan:8123/invite/abc/"


def test_behind_a_trusted_proxy_the_scheme_is_the_proxys(unset):
    unset.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    request = RequestFactory().get("/", HTTP_HOST="kap.example.org", HTTP_X_FORWARDED_PROTO="https")
    assert links.base_url(request) == "https://kap.example.org"


def test_without_a_trusted_proxy_a_forwarded_scheme_is_not_believed(unset):
    unset.SECURE_PROXY_SSL_HEADER = None
    request = RequestFactory().get("/", HTTP_HOST="kap.example.org", HTTP_X_FORWARDED_PROTO="https")
    assert links.base_url(request) == "http://kap.example.org"


def test_a_host_not_allowed_is_refused_not_put_in_a_link(unset):
    from django.core.exceptions import DisallowedHost

    request = RequestFactory().get("/", HTTP_HOST="evil.example")
    with pytest.raises(DisallowedHost):
        links.base_url(request)


def test_kap_base_url_when_set_wins_over_the_request(settings):
    settings.BASE_URL = "https://kap.example.org/"
    settings.ALLOWED_HOSTS = ["kap.lan"]
    request = RequestFactory().get("/", HTTP_HOST="kap.lan:8123")
    assert links.absolute("/calendar/x.ics", request) == "https://kap.example.org/calendar/x.ics"
    assert links.absolute("/calendar/x.ics") == "https://kap.example.org/calendar/x.ics"


def test_without_a_request_it_is_kap_base_url_or_its_default(unset):
    assert links.absolute("/reminders/") == "http://127.0.0.1:8000/reminders/"


def test_only_a_path_is_made_whole():
    with pytest.raises(ValueError):
        links.absolute("https://elsewhere.example/")
