"""The 400, 403, 404 and 500 pages look like the rest of the site, link to crisis support like
every page, and show nothing of the request that caused them."""

from __future__ import annotations

import pytest
from django.template import loader
from django.test import Client

pytestmark = pytest.mark.django_db

# In the address, the query and the form of each failing request; never on the page. (Not the
# word the log check looks for: the 500 is logged with its path, as it should be.)
MARKER = "ZEBRA-LANTERN-5521"
LAYOUT = ('class="site-header"', 'class="site-footer"', "/static/kap/app.css")


def assert_site_page(response, status: int, heading: str) -> str:
    assert response.status_code == status
    page = response.content.decode()
    for part in LAYOUT:
        assert part in page, part
    assert '<a class="crisis-link" href="/crisis/">Crisis support</a>' in page
    assert page.count('href="/crisis/"') >= 3  # header, text, footer
    assert "not monitored in real time" in page
    assert f"<h1>{heading}</h1>" in page
    assert MARKER not in page
    assert MARKER.lower() not in page.lower()
    return page


@pytest.fixture
def failing_urls(settings):
    settings.ROOT_URLCONF = "tests.robustness.urls_failing"


@pytest.mark.parametrize("who", ["visitor", "client"])
def test_the_404_page(client, logged_in, who):
    browser = logged_in if who == "client" else client
    response = browser.get(f"/no-such-{MARKER}/?q={MARKER}")
    assert_site_page(response, 404, "Page not found")


def test_a_404_raised_by_a_view_does_not_show_its_reason(logged_in):
    # A session that is not yours: the view's own message ("No such session.") is not shown.
    response = logged_in.get("/sessions/987654/")
    page = assert_site_page(response, 404, "Page not found")
    assert "No such" not in page


def test_the_403_page(logged_in, failing_urls):
    response = logged_in.get(f"/test-forbidden/?why={MARKER}")
    assert_site_page(response, 403, "Not available to you")


def test_the_csrf_failure_page(client_user, guide):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(client_user)
    response = browser.post("/questions/new/", {"text": MARKER})
    page = assert_site_page(response, 403, "This form has expired")
    assert "CSRF" not in page
    from kap.journal.models import QuestionToBring

    assert not QuestionToBring.objects.exists()


def test_the_400_page(client, guide):
    response = client.get(f"/?q={MARKER}", HTTP_HOST=f"{MARKER}.invalid")
    assert_site_page(response, 400, "Request not understood")


def test_the_500_page_shows_nothing_of_the_request(logged_in, failing_urls):
    logged_in.raise_request_exception = False
    response = logged_in.post(
        f"/test-boom/{MARKER}/?q={MARKER}", {"text": f"my words {MARKER}", "next": MARKER}
    )
    page = assert_site_page(response, 500, "Something went wrong")
    assert "Traceback" not in page and "RuntimeError" not in page
    assert "test-boom" not in page
    # Without the request the page cannot know who is logged in: no navigation, no "Log in".
    assert 'aria-label="Main"' not in page


def test_the_500_template_renders_with_an_empty_context():
    page = loader.get_template("500.html").render({})
    for part in LAYOUT:
        assert part in page
    assert 'href="/crisis/"' in page
    assert "Something went wrong" in page


def test_the_500_page_has_a_fallback_that_still_links_to_crisis_support(
    logged_in, failing_urls, monkeypatch
):
    import kap.views

    def broken(name, *args, **kwargs):
        raise RuntimeError("the template engine is broken")

    monkeypatch.setattr(kap.views.loader, "get_template", broken)
    logged_in.raise_request_exception = False
    response = logged_in.get(f"/test-boom/{MARKER}/")
    assert response.status_code == 500
    page = response.content.decode()
    assert 'href="/crisis/"' in page and MARKER not in page
