from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from kap.content.crisis import default_pack, regions_for
from kap.content.markdown import split_on_instruments
from kap.content.models import Instrument, Pack, Page, Scope, clinics_of
from kap.content.reviews import AWAITING, Flag, clinic_packs, mark_reviewed
from kap.content.signals import translation_reviewed
from kap.content.translations import shown_pack_title, shown_page

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
    return _shown(pack, pages)


def _shown(pack: Pack, pages: list[Page]) -> list[Page]:
    """The pages' titles and bodies in the request's language, where the pack has them (set on
    these instances for the templates; never saved). `body` only when it was loaded."""
    for p in pages:
        shown = shown_page(p.translations, pack.language)
        p.title = shown.get("title", p.title)
        if "body" in shown and "body" in p.__dict__:
            p.body = shown["body"]
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
        .only(
            "key",
            "title",
            "scope",
            "clinic_id",
            "owner_id",
            "clinic__name",
            "language",
            "translations",
        )
    )
    for p in packs:
        p.title = shown_pack_title(p.translations, p.language, p.title)
    default = next((p for p in packs if _is_default(p)), None)
    others: dict[str, Pack] = {}
    for p in _narrowest_first([p for p in packs if p is not default]):
        others.setdefault(p.key, p)
    shown = ([default] if default else []) + sorted(
        others.values(), key=lambda p: (p.scope, p.title.casefold(), p.key)
    )
    pages: dict[int, list[Page]] = {p.pk: [] for p in shown}
    for page in Page.objects.filter(pack__in=shown).only(
        "pack_id", "slug", "title", "order", "translations"
    ):
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
    found = _narrowest_first(
        list(
            readable.only(
                "key", "title", "scope", "clinic_id", "owner_id", "language", "translations"
            )
        )
    )
    if not found:
        raise Http404("No such guide.")
    if _is_default(found[0]):
        return redirect("guide-page", slug=slug)
    return _render_page(request, found[0], False, slug)


def _render_page(request: HttpRequest, pack: Pack, is_default: bool, slug: str) -> HttpResponse:
    page = get_object_or_404(Page, pack=pack, slug=slug)
    _shown(pack, [page])
    pack.title = shown_pack_title(pack.translations, pack.language, pack.title)
    pages = _with_urls(
        pack, is_default, list(pack.pages.only("slug", "title", "order", "translations"))
    )
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


@require_POST
def translation_review(request: HttpRequest) -> HttpResponse:
    """A clinic admin marks a pack's translation reviewed for their clinic (kap.content.reviews).

    For a clinic's admins only: anyone else gets a 404, as from kap.accounts.decorators'
    clinic_admin_required (which content, below accounts, cannot import); a staff member who has
    not passed their second factor never gets here with a form (SecondFactorMiddleware). The form
    names the text it showed (`digest`): a translation that changed since is not marked."""
    user = request.user
    if not getattr(user, "is_clinic_admin", False) or not user.clinic_id or not user.is_verified():
        raise Http404
    pack_id = request.POST.get("pack", "")
    if not (pack_id.isascii() and pack_id.isdigit() and len(pack_id) <= 18):
        raise Http404
    pack = get_object_or_404(clinic_packs(user.clinic_id), pk=int(pack_id))
    language = request.POST.get("language", "")
    record = (pack.translations or {}).get(language)
    if not record or record.get("review") != AWAITING:
        raise Http404
    flag = Flag(pack, language, record["digest"], None)
    name, title = flag.language_name, flag.title
    if request.POST.get("digest") != record["digest"]:
        messages.error(
            request,
            _(
                "The %(language)s translation of “%(title)s” changed after the page was shown."
                " Nothing was marked: read it as it is now, then mark it reviewed."
            )
            % {"language": name, "title": title},
        )
    else:
        with transaction.atomic():  # the review and its line in the audit trail, or neither
            review, created = mark_reviewed(user, pack, language)
            if created:
                translation_reviewed.send(sender=type(review), review=review, request=request)
        messages.success(
            request,
            _("The %(language)s translation of “%(title)s” is marked reviewed for your clinic.")
            % {"language": name, "title": title},
        )
    return redirect("care:clinic")
