"""Which language a person reads: the browser's until they choose; a visitor's choice in a
cookie, a logged-in person's on their account (so e-mails and documents follow it too)."""

import re

from django.conf import settings
from django.utils.translation import gettext

from kap.lib import languages

SPANISH = {"HTTP_ACCEPT_LANGUAGE": "es-MX,es;q=0.9"}
ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9"}


def _lang(response) -> str:
    return re.search(r'<html lang="([^"]+)"', response.content.decode()).group(1)


def test_a_visitor_reads_the_language_their_browser_asks_for(client, guide):
    assert _lang(client.get("/guide/", **SPANISH)) == "es"
    assert _lang(client.get("/guide/", **ENGLISH)) == "en"
    # Unknown or absent: English.
    assert _lang(client.get("/guide/", HTTP_ACCEPT_LANGUAGE="fr")) == "en"
    assert _lang(client.get("/guide/")) == "en"


def test_a_spanish_page_says_which_language_it_is_in_and_that_it_varies(client, guide):
    response = client.get("/guide/", **SPANISH)
    assert response["Content-Language"] == "es"
    assert "Accept-Language" in response["Vary"]


def test_a_visitor_chooses_a_language_with_one_click_and_it_sticks(client, guide):
    response = client.get("/language/", {"language": "es", "next": "/guide/"}, **ENGLISH)
    assert response.status_code == 302 and response["Location"] == "/guide/"
    cookie = response.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "es" and cookie["httponly"] and cookie["samesite"] == "Lax"
    # The browser still asks for English; the choice wins.
    assert _lang(client.get("/guide/", **ENGLISH)) == "es"
    # And back.
    client.get("/language/", {"language": "en", "next": "/guide/"})
    assert _lang(client.get("/guide/", **SPANISH)) == "en"


def test_the_footer_offers_the_other_language_named_in_itself(client, guide):
    page = client.get("/guide/", **ENGLISH).content.decode()
    assert 'name="language" value="es" lang="es"' in page and ">Español</button>" in page
    assert 'method="get"' in page  # a visitor's choice changes only a cookie


def test_an_unknown_language_or_a_foreign_next_changes_nothing(client, guide):
    response = client.get("/language/", {"language": "xx", "next": "/guide/"})
    assert response.status_code == 400
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies
    response = client.get("/language/", {"language": "es", "next": "https://evil.example/"})
    assert response["Location"] == "/"
    response = client.get("/language/", {"language": "es", "next": "//evil.example/"})
    assert response["Location"] == "/"


def test_a_logged_in_persons_choice_is_saved_on_their_account(client, client_user, guide):
    client.force_login(client_user)
    page = client.get("/guide/").content.decode()
    assert 'method="post"' in page and "csrfmiddlewaretoken" in page
    response = client.post("/language/", {"language": "es", "next": "/guide/"})
    assert response.status_code == 302
    client_user.refresh_from_db()
    assert client_user.language == "es"
    # Their account wins over their browser, on another device too (no cookie).
    client.cookies.clear()
    client.force_login(client_user)
    assert _lang(client.get("/guide/", **ENGLISH)) == "es"


def test_a_logged_in_person_cannot_be_switched_by_a_link(client, client_user, guide):
    """A GET would let another site change their account: only the page's own form does."""
    client.force_login(client_user)
    assert client.get("/language/", {"language": "es"}).status_code == 400
    client_user.refresh_from_db()
    assert client_user.language == ""


def test_the_account_page_sets_the_language(client, client_user, guide):
    client.force_login(client_user)
    page = client.get("/account/").content.decode()
    assert 'name="language"' in page and ">Español</option>" in page
    response = client.post(
        "/account/", {"display_name": "Alex", "language": "es", "region": "", "time_zone": ""}
    )
    assert response.status_code == 302
    client_user.refresh_from_db()
    assert client_user.language == "es"
    response = client.post(
        "/account/", {"display_name": "Alex", "language": "klingon", "region": "", "time_zone": ""}
    )
    assert response.status_code == 200
    client_user.refresh_from_db()
    assert client_user.language == "es"  # refused, unchanged


def test_text_made_for_a_person_outside_a_request_is_in_their_language(make_user):
    spanish = make_user("ana@example.com", language="es")
    english = make_user("bo@example.com")
    with languages.speaking(spanish):
        assert gettext("This field is required.") == "Este campo es obligatorio."
    with languages.speaking(english):
        assert gettext("This field is required.") == "This field is required."
    assert languages.of(make_user("cy@example.com", language="xx")) == settings.LANGUAGE_CODE
