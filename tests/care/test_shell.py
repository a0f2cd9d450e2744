"""The shell around every page: the product's name as the brand (never the host), the
navigation "Main" for each kind of person, and where staff land."""

import pytest
from django.test import override_settings

from tests.care.conftest import verify

pytestmark = pytest.mark.django_db


# clinic, therapist and clinic_admin: tests/care/conftest.py


def nav(body: str) -> str:
    return body.split('<nav class="site-nav" aria-label="Main">', 1)[1].split("</nav>", 1)[0]


@pytest.mark.parametrize("host", ["127.0.0.1:8123", "localhost:8000"])
def test_the_login_page_is_branded_with_the_product_never_the_host(client, guide, host):
    body = client.get("/login/", HTTP_HOST=host).content.decode()
    assert host not in body
    assert "<title>Log in · KAP Companion</title>" in body
    assert '<span class="brand-name">KAP Companion</span>' in body
    assert '<span class="footer-brand">KAP Companion</span>' in body


@override_settings(SITE_NAME="Lakeside Companion")
def test_a_clinic_s_own_site_name_is_the_brand_everywhere(client, guide):
    for url in ("/login/", "/", "/guide/"):
        body = client.get(url, HTTP_HOST="127.0.0.1:8123").content.decode()
        assert '<span class="brand-name">Lakeside Companion</span>' in body, url
        assert "127.0.0.1:8123" not in body, url


def test_a_client_has_five_places_and_the_rest_under_more(logged_in):
    main = nav(logged_in.get("/").content.decode())
    places, more = main.split('<details class="more', 1)
    for name in ("Today", "Sessions", "Check-ins", "Practices", "Progress"):
        assert f"<span>{name}</span>" in places, name
    for name in ("Reminders", "Timeline", "Sharing", "Guide", "Account", "Log out"):
        assert name in more and name not in places, name
    # the page one is on is marked, for screen readers as well as by its look
    assert 'href="/" aria-current="page"' in places


def test_the_current_place_is_marked_on_the_pages_under_it(logged_in):
    main = nav(logged_in.get("/sessions/new/").content.decode())
    assert 'href="/sessions/" aria-current="page"' in main
    main = nav(logged_in.get("/timeline/").content.decode())
    assert 'href="/timeline/" aria-current="page"' in main
    assert '<details class="more here">' in main  # "More" shows that the page is under it


def test_a_therapist_lands_on_their_clients(client, therapist, guide):
    verify(client, therapist)
    response = client.get("/")
    assert (response.status_code, response["Location"]) == (302, "/care/")
    main = nav(client.get("/care/").content.decode())
    assert "<span>Clients</span>" in main and "<span>Invite a client</span>" in main
    assert "<span>Today</span>" not in main and "<span>Sessions</span>" not in main


def test_a_clinic_admin_lands_on_the_clinic(client, clinic_admin, guide):
    verify(client, clinic_admin)
    response = client.get("/")
    assert (response.status_code, response["Location"]) == (302, "/care/clinic/")
    main = nav(client.get("/care/clinic/").content.decode())
    for name in ("Clinic", "Invitations", "Content packs", "Guide"):
        assert f"<span>{name}</span>" in main, name


def test_staff_log_in_to_their_start_page_after_the_second_factor(client, therapist, guide):
    from tests.conftest import PASSWORD

    response = client.post(
        "/login/", {"username": therapist.email, "password": PASSWORD}, follow=True
    )
    # the roster, which first asks for the second factor and then comes back to it
    assert response.redirect_chain[-1][0] == "/account/two-factor/?next=/care/"


def test_a_visitor_sees_the_welcome_with_a_way_in(client, make_user, guide):
    make_user("first@example.com", role="admin")
    body = client.get("/").content.decode()
    main = nav(body)
    assert "<span>Log in</span>" in main and "<span>Guide</span>" in main
    assert "Log out" not in main
    assert 'src="/static/kap/illustrations/welcome.svg" alt=""' in body


def test_today_shows_a_quiet_empty_state_when_nothing_is_waiting(logged_in):
    body = logged_in.get("/").content.decode()
    assert "No session planned" in body and 'href="/sessions/new/"' in body
