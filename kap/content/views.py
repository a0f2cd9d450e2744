from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import NoReverseMatch, reverse

from kap.content.crisis import default_pack, regions_for
from kap.content.markdown import split_on_instruments
from kap.content.models import Instrument, Page


def _guide_pack():
    pack = default_pack()
    if pack is None:
        raise Http404("The guide has not been loaded yet. Run `kap content load`.")
    return pack


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
    pack = _guide_pack()
    pages = list(pack.pages.only("slug", "title", "order"))
    return render(request, "content/guide_index.html", {"pack": pack, "pages": pages})


@login_not_required
def guide_page(request: HttpRequest, slug: str) -> HttpResponse:
    pack = _guide_pack()
    page = get_object_or_404(Page, pack=pack, slug=slug)
    pages = list(pack.pages.only("slug", "title", "order"))
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
