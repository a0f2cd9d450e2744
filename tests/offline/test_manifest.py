"""The web app manifest: what makes the app installable on a phone's home screen."""

import json
from io import BytesIO

import pytest
from django.contrib.staticfiles import finders
from PIL import Image

pytestmark = pytest.mark.django_db


def manifest(client):
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/manifest+json"
    return json.loads(response.content)


def test_the_manifest_names_the_app_and_opens_it_on_today_for_the_whole_site(client):
    data = manifest(client)
    assert data["name"] == "KAP Companion"
    assert data["short_name"] and len(data["short_name"]) <= 12
    assert data["start_url"] == "/"
    assert data["scope"] == "/"
    assert data["display"] == "standalone"
    assert data["background_color"].startswith("#") and data["theme_color"].startswith("#")


def test_every_icon_is_a_file_of_the_size_it_claims(client):
    icons = manifest(client)["icons"]
    purposes = {(icon["sizes"], icon["purpose"]) for icon in icons}
    # What a phone needs to install it: 192 and 512 pixels, and one that survives a mask.
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= purposes
    for icon in icons:
        assert icon["src"].startswith("/static/")
        path = finders.find(icon["src"].removeprefix("/static/"))
        assert path, f"{icon['src']} is not a static file"
        if icon["type"] == "image/png":
            with open(path, "rb") as f:
                image = Image.open(BytesIO(f.read()))
            assert f"{image.width}x{image.height}" == icon["sizes"]


def test_every_page_links_the_manifest_and_the_worker_script(logged_in):
    from django.test import Client

    for page in (Client().get("/guide/"), logged_in.get("/")):
        html = page.content.decode()
        assert '<link rel="manifest" href="/manifest.webmanifest">' in html
        assert "/static/kap/offline/register.js" in html


def test_the_policy_lets_the_worker_and_the_manifest_come_from_this_site_only(client):
    policy = client.get("/guide/")["Content-Security-Policy"]
    assert "worker-src 'self'" in policy
    assert "manifest-src 'self'" in policy


def test_pages_register_the_service_worker_unless_it_is_turned_off(client, settings):
    assert "kap/offline/register.js" in client.get("/crisis/").content.decode()
    settings.OFFLINE = False
    assert "kap/offline/register.js" not in client.get("/crisis/").content.decode()
