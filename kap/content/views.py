from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse

from kap.content.crisis import default_pack, regions_for
from kap.content.markdown import split_on_instruments
from kap.content.models import Instrument, Pack, Page, Scope, clinics_of

NOT_LOADED = "The guide has not been loaded yet. Run `kap content load`."


@dataclass(frozen=True)
class Guide:
    """One pack as the guide shows it: its pages, each with the address it is read at."""

    pack: Pack
    is_default: bool
    pages: list[Page]


def _page_url(pack: Pack, is_default: bool, slug: str) -> str:
    """The default pack keeps the short addresses it always had (/guide/<slug>/: linked from many
    places and bookmarked); every other pack's pages live under its key."""
    if is_default:
        return reverse("guide-page", args=[slug])
    return reverse("guide-pack-page", args=[pack.key, slug])


def _with_urls(pack: Pack, is_default: bool, pages: list[Page]) -> list[Page]:
    for p in pages:
        p.url = _page_url(pack, is_default, p.slug)
    return pages


def _readable(user) -> Q:
    """The packs a person may read: the server's, their clinics' and (should there be any) their
    own. An anonymous visitor reads the server's only (clinics_of has nothing for them)."""
    where = Q(scope=Scope.SERVER) | Q(scope=Scope.CLINIC, clinic_id__in=clinics_of(user))
    if getattr(user, "pk", None):
        where |= Q(scope=Scope.PERSONAL, owner_id=user.pk)
    return where


def _is_default(pack: Pack) -> bool:
    return pack.scope == Scope.SERVER and pack.key == settings.DEFAULT_PACK


def _narrowest_first(packs: list[Pack]) -> list[Pack]:
    """Where two readable packs share a key, the narrower scope is what the key means for this
    person (as for an instrument key: kap.content.models.InstrumentQuerySet.for_person)."""
    return sorted(packs, key=lambda p: (-p.scope, p.clinic_id or 0, p.pk))


def guides_for(user) -> tuple[Guide | None, list[Guide]]:
    """The default pack's guide (None when it is not loaded) and every other pack this person may
    read, each with its pages: two queries however many packs there are."""
    packs = list(
        Pack.objects.filter(_readable(user))
        .select_related("clinic")
        .only("key", "title", "scope", "clinic_id", "owner_id", "clinic__name")
    )
    default = next((p for p in packs if _is_default(p)), None)
    others: dict[str, Pack] = {}
    for p in _narrowest_first([p for p in packs if p is not default]):
        others.setdefault(p.key, p)
    shown = ([default] if default else []) + sorted(
        others.values(), key=lambda p: (p.scope, p.title.casefold(), p.key)
    )
    pages: dict[int, list[Page]] = {p.pk: [] for p in shown}
    for page in Page.objects.filter(pack__in=shown).only("pack_id", "slug", "title", "order"):
        pages[page.pack_id].append(page)
    guides = [Guide(p, p is default, _with_urls(p, p is default, pages[p.pk])) for p in shown]
    if default is None:
        return None, guides
    return guides[0], guides[1:]


def _start_url(spec) -> str | None:
    """Where a person starts an instrument: its form, or (a practice without questions) the one
    practice page, which the spec sets up (paces give it the breath pacer)."""
    try:
        if spec.items:
            return reverse("journal:instrument", args=[spec.key])
        return reverse("practices:practice", args=[spec.key]) if spec.kind == "practice" else None
    except NoReverseMatch:
        return None


@login_not_required
def guide_index(request: HttpRequest) -> HttpResponse:
    default, others = guides_for(request.user)
    if default is None and not others:
        raise Http404(NOT_LOADED)
    return render(request, "content/guide_index.html", {"default": default, "others": others})


@login_not_required
def guide_page(request: HttpRequest, slug: str) -> HttpResponse:
    """A page of the default pack, at the address it has always had."""
    pack = default_pack()
    if pack is None:
        raise Http404(NOT_LOADED)
    return _render_page(request, pack, True, slug)


@login_not_required
def guide_pack_page(request: HttpRequest, pack: str, slug: str) -> HttpResponse:
    """A page of any pack this person may read. Another clinic's pack is not found, exactly as a
    pack that does not exist (its name is not given away)."""
    readable = Pack.objects.filter(_readable(request.user), key=pack)
    found = _narrowest_first(list(readable.only("key", "title", "scope", "clinic_id", "owner_id")))
    if not found:
        raise Http404("No such guide.")
    if _is_default(found[0]):
        return redirect("guide-page", slug=slug)
    return _render_page(request, found[0], False, slug)


def _render_page(request: HttpRequest, pack: Pack, is_default: bool, slug: str) -> HttpResponse:
    page = get_object_or_404(Page, pack=pack, slug=slug)
    pages = _with_urls(pack, is_default, list(pack.pages.only("slug", "title", "order")))
    index = next(i for i, p in enumerate(pages) if p.pk == page.pk)
    instruments = {
        i.key: i
        for i in Instrument.objects.for_person(request.user).filter(key__in=page.instrument_keys)
    }
    parts = split_on_instruments(page.body)
    placed = {value for kind, value in parts if kind == "instrument"}
    parts += [("instrument", k) for k in page.instrument_keys if k not in placed]
    sections = [
        {"kind": kind, "html": value}
        if kind == "html"
        else {
            "kind": kind,
            "instrument": instruments[value],
            "spec": instruments[value].parsed,
            "start_url": _start_url(instruments[value].parsed),
            # Placed under the page's own heading it is a sub-section; appended, a section.
            "level": 3 if value in placed else 2,
        }
        for kind, value in parts
        if kind == "html" or value in instruments
    ]
    return render(
        request,
        "content/guide_page.html",
        {
            "pack": pack,
            "is_default": is_default,
            "page": page,
            "pages": pages,
            "sections": sections,
            "previous": pages[index - 1] if index > 0 else None,
            "next": pages[index + 1] if index + 1 < len(pages) else None,
        },
    )


@login_not_required
def crisis(request: HttpRequest) -> HttpResponse:
    pack = default_pack()
    preferred = getattr(request.user, "region", "") or ""
    regions = regions_for(pack.parsed, preferred) if pack else []
    note = pack.parsed.not_monitored if pack else ""
    return render(request, "content/crisis.html", {"regions": regions, "not_monitored": note})
