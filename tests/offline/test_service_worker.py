"""/sw.js: served from the root with the headers a service worker needs, the same file for
everyone, keeping only public files and public pages for anyone on the device."""

import json
import re

import pytest

from kap.content.crisis import default_pack
from kap.content.models import Page

pytestmark = pytest.mark.django_db


def config(response) -> dict:
    found = re.search(r"^const KAP = (\{.*\});$", response.content.decode(), re.M)
    assert found, "the worker starts with its configuration"
    return json.loads(found.group(1))


def test_the_worker_is_served_as_javascript_for_the_whole_site_and_checked_on_every_visit(
    client, guide
):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    assert response["Service-Worker-Allowed"] == "/"
    assert response["Cache-Control"] == "no-cache"
    # Asked again with its ETag: "not modified", nothing sent again.
    again = client.get("/sw.js", HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304


def test_the_worker_is_the_same_file_for_a_visitor_and_a_logged_in_person(client, logged_in):
    from django.test import Client

    assert Client().get("/sw.js").content == logged_in.get("/sw.js").content


def test_it_keeps_for_anyone_only_public_static_files_and_public_pages(client, guide):
    from django.test import Client

    kept = config(client.get("/sw.js"))["precache"]
    pages = [url for url in kept if not url.startswith("/static/")]
    guide_pages = {f"/guide/{p.slug}/" for p in Page.objects.filter(pack=guide)}
    assert set(pages) == {"/offline/", "/crisis/", "/manifest.webmanifest", "/guide/"} | guide_pages
    assert "/" not in kept  # Today is a person's: never kept for anyone
    visitor = Client()
    for url in kept:
        response = visitor.get(url)
        assert response.status_code == 200, url  # public: open with no login at all
        assert "Kap-Person" not in response
    statics = [url for url in kept if url.startswith("/static/")]
    for needed in ("kap/app.css", "kap/practices/pacer.js", "kap/offline/outbox.js"):
        assert f"/static/{needed}" in statics


def test_a_new_guide_makes_a_new_version_of_the_worker(client, guide):
    before = config(client.get("/sw.js"))["version"]
    assert before == client.get("/sw.js")["ETag"].strip('"')
    pack = default_pack()
    pack.checksum = "0" * 64
    pack.save(update_fields=["checksum"])
    after = config(client.get("/sw.js"))["version"]
    assert after != before


def test_the_page_shown_offline_is_public_and_links_what_still_opens(client, guide):
    response = client.get("/offline/")
    assert response.status_code == 200
    html = response.content.decode()
    for link in ('href="/guide/"', 'href="/practices/"', 'href="/crisis/"'):
        assert link in html
