"""The manifest, the service worker, the page shown when a page is not on the device, and the
list of a person's own pages to keep for offline use.

The service worker is the same file for everyone: it holds nothing about a person. Its version is
a hash of everything it would keep for anyone (static files, templates, translations, the guide's
pack), so a new release or a reloaded guide makes a new worker, whose first act is to delete the
caches of the one before (kap/templates/offline/sw.js). The public pages are kept once in each
language of the site, and the worker answers from the device in the language of the last page
the person saw."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import AnonymousUser
from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import condition, require_GET

from kap.content.models import Instrument, Pack, Scope
from kap.content.views import guides_for
from kap.journal.models import KapSession
from kap.offline.middleware import PRECACHE_HEADER
from kap.practices.services import has_page

KAP = Path(__file__).resolve().parents[1]
# htmx is the one static file from elsewhere that the app's own pages load.
OTHER_STATIC = ("django_htmx/htmx-2.min.js",)
ICONS = (
    ("kap/offline/icon-192.png", "192x192", "image/png", "any"),
    ("kap/offline/icon-512.png", "512x512", "image/png", "any"),
    ("kap/offline/icon-maskable-512.png", "512x512", "image/png", "maskable"),
    ("kap/offline/icon.svg", "any", "image/svg+xml", "any"),
)
# The manifest's colours: the page's paper and the brand's sea green (kap/static/kap/app.css).
BACKGROUND = "#f7f4ee"
THEME = "#2b6360"


def static_files() -> list[str]:
    """Every static file the app's pages use, as a path under the static root."""
    found = {
        path
        for finder in finders.get_finders()
        for path, _storage in finder.list(["*.map", "*.txt", "*.md"])
        if path.startswith("kap/")
    }
    return sorted(found | set(OTHER_STATIC))


def shared_pages() -> list[str]:
    """The pages every visitor may read, kept for anyone: fetched without a cookie, so that no
    person's name, navigation or data is in them."""
    pages = [reverse("offline:page"), reverse("crisis"), reverse("offline:manifest")]
    default, _others = guides_for(AnonymousUser())
    if default is not None:
        pages += [reverse("guide-index")] + [page.url for page in default.pages]
    return pages


def precache() -> list[str]:
    """What the service worker keeps at install, for anyone who opens the site on this device:
    public static files and public pages only."""
    return [static(path) for path in static_files()] + shared_pages()


def languages() -> list[str]:
    """The languages the public pages are kept in (settings.LANGUAGES)."""
    return [code for code, _name in settings.LANGUAGES]


@cache
def _files_digest() -> str:
    """A hash of the static files, templates and translations (they change only with a new
    release)."""
    digest = hashlib.sha256()
    roots = [KAP / "static", KAP / "templates", *map(Path, settings.LOCALE_PATHS)]
    for root in roots:
        for path in sorted(root.rglob("*")) if root.is_dir() else []:
            if path.is_file():
                digest.update(str(path.relative_to(root.parent)).encode())
                digest.update(path.read_bytes())
    for path in OTHER_STATIC:
        if found := finders.find(path):
            digest.update(Path(found).read_bytes())
    return digest.hexdigest()


def _worker() -> tuple[str, str]:
    """The service worker's source and its version."""
    if settings.DEBUG:
        _files_digest.cache_clear()
    urls = precache()
    codes = languages()
    offline_text = {}
    for code in codes:
        with translation.override(code):
            # Shown only if even the page shown offline is not on the device.
            offline_text[code] = _("You are offline.")
    guide = Pack.objects.filter(scope=Scope.SERVER, key=settings.DEFAULT_PACK)
    version = hashlib.sha256(
        json.dumps(
            [
                _files_digest(),
                list(guide.values_list("checksum", flat=True)),
                settings.SITE_NAME,  # in every page and the manifest
                urls,
                codes,
                offline_text,
            ]
        ).encode()
    ).hexdigest()[:16]
    config = {
        "version": version,
        "precache": urls,
        "languages": codes,
        "defaultLanguage": settings.LANGUAGE_CODE,
        "offlineText": offline_text,
        "offlinePage": reverse("offline:page"),
        "manifest": reverse("offline:manifest"),
        "personPages": reverse("offline:pages"),
        "precacheHeader": PRECACHE_HEADER,
        "staticPrefix": settings.STATIC_URL,
    }
    # JSON is a JavaScript expression; the file is served as JavaScript, never as HTML.
    source = render_to_string("offline/sw.js", {"config": mark_safe(json.dumps(config))})
    return source, version


def _worker_for(request: HttpRequest) -> tuple[str, str]:
    # Built once per request: the ETag check and the response both need it.
    if not hasattr(request, "_kap_worker"):
        request._kap_worker = _worker()  # type: ignore[attr-defined]
    return request._kap_worker  # type: ignore[attr-defined]


@login_not_required
@require_GET
@condition(etag_func=lambda request: _worker_for(request)[1])
def service_worker(request: HttpRequest) -> HttpResponse:
    source, _version = _worker_for(request)
    response = HttpResponse(source, content_type="text/javascript; charset=utf-8")
    # Served from the root, so its scope is the whole site; asked for again on every visit.
    response["Service-Worker-Allowed"] = "/"
    response["Cache-Control"] = "no-cache"
    return response


@login_not_required
@require_GET
def manifest(request: HttpRequest) -> HttpResponse:
    data = {
        "id": "/",
        "name": settings.SITE_NAME,
        "short_name": settings.SITE_NAME if len(settings.SITE_NAME) <= 12 else "Companion",
        "description": _("Read the guide, prepare for sessions and capture insights."),
        "start_url": reverse("home"),
        "scope": "/",
        "display": "standalone",
        "background_color": BACKGROUND,
        "theme_color": THEME,
        "icons": [
            {"src": static(src), "sizes": sizes, "type": kind, "purpose": purpose}
            for src, sizes, kind, purpose in ICONS
        ],
    }
    return JsonResponse(data, content_type="application/manifest+json")


@login_not_required
@require_GET
def offline_page(request: HttpRequest) -> HttpResponse:
    return render(request, "offline/offline.html")


@require_GET
def person_pages(request: HttpRequest) -> JsonResponse:
    """The pages of this person to keep on their device: Today, their guides (the clinic's and
    their own too), the practices, and their latest session (to write an insight the evening
    after). The service worker fetches them right after login, in this person's cache."""
    user = request.user
    pages = [reverse("home")] if user.is_client else []
    default, others = guides_for(user)
    pages.append(reverse("guide-index"))
    for guide in ([default] if default else []) + others:
        pages += [page.url for page in guide.pages]
    pages.append(reverse("practices:list"))
    practices = Instrument.objects.for_person(user).filter(kind="practice").order_by("key")
    pages += [reverse("practices:practice", args=[i.key]) for i in practices if has_page(i.parsed)]
    pages.append(reverse("crisis"))
    if user.is_client:
        latest = (
            KapSession.objects.for_client(user)
            .filter(starts_at__lte=timezone.now())
            .exclude(status=KapSession.Status.CANCELLED)
            .first()
        )
        if latest is not None:
            pages.append(reverse("journal:session", args=[latest.pk]))
    return JsonResponse({"person": user.pk, "pages": pages})
