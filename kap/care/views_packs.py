"""A clinic's own content packs, managed by its admins (mounted at /care/clinic/packs/).

Upload a zip → it is kept aside (no client sees it) and checked as `kap content check` checks a
pack → the report lists every problem, or previews each instrument as the clinic's clients will
see it → Publish stores it as the clinic's pack (kap.content.sync.store_clinic_pack). Only the
clinic's own admins see its uploads: anyone else gets a 404.

A clinic pack never replaces the server's: its keys live in the clinic's scope, and they win for
that clinic's people only (kap.content.models.InstrumentQuerySet). Its crisis resources go with
its own instruments only (kap.content.crisis.pack_for_crisis); the crisis page and every other
instrument keep the server's.
"""

from __future__ import annotations

from django.contrib import messages
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from kap.accounts.decorators import clinic_admin_required
from kap.care.audit import record_request
from kap.content import uploads
from kap.content.loader import PackError, PackInvalid
from kap.content.models import Pack, PackUpload, Scope
from kap.content.specs import InstrumentSpec
from kap.content.sync import plan_clinic_pack, store_clinic_pack
from kap.journal.forms import InstrumentForm
from kap.lib.limits import (
    PACK_FILES,
    PACK_INSTRUMENTS,
    PACK_ITEMS,
    PACK_UNPACKED_BYTES,
    PACK_ZIP_BYTES,
)
from kap.lib.uploads import UploadForm, memory_upload

# Uploads kept per clinic (the newest); older ones are deleted when another arrives. What was
# published stays in the clinic's pack either way.
KEEP_UPLOADS = 20
# Problems kept and shown for one upload: a pack with more has one mistake repeated, and the
# first ones show it.
MOST_PROBLEMS = 1000
_MB = 1024 * 1024


def _uploads(request: HttpRequest):
    """The uploads of this admin's clinic: the only ones they may see (any other is a 404)."""
    if request.user.clinic_id is None:
        raise Http404("Your account is not part of a clinic.")
    return PackUpload.objects.filter(clinic_id=request.user.clinic_id)


def _pack_form(*args) -> UploadForm:
    return UploadForm(
        *args,
        prefix="pack",
        label=_("The pack, as a .zip file"),
        help_text=_(
            "A zip of the pack's folder: pack.yaml with its instruments and Markdown pages."
            " At most %(zip_mb)s MB (%(unpacked_mb)s MB unpacked), %(files)s files,"
            " %(instruments)s instruments and %(items)s questions per instrument."
        )
        % {
            "zip_mb": PACK_ZIP_BYTES // _MB,
            "unpacked_mb": PACK_UNPACKED_BYTES // _MB,
            "files": PACK_FILES,
            "instruments": PACK_INSTRUMENTS,
            "items": PACK_ITEMS,
        },
        accept=".zip,application/zip",
    )


def _packs_page(request: HttpRequest, *, form=None, status: int = 200) -> HttpResponse:
    clinic_id = request.user.clinic_id
    return render(
        request,
        "content/clinic/packs.html",
        {
            "clinic": request.user.clinic,
            "form": form or _pack_form(),
            "uploads": list(
                _uploads(request).defer("archive", "instruments")[:KEEP_UPLOADS]
                if clinic_id
                else []
            ),
            "packs": list(
                Pack.objects.filter(scope=Scope.CLINIC, clinic_id=clinic_id)
                .defer("spec")
                .order_by("key")
                if clinic_id
                else []
            ),
        },
        status=status,
    )


def _problem_rows(problems: list[PackError]) -> list[list[str]]:
    """Problems as stored: [file, field path, reason], each cut to a length a page can show."""
    return [[p.file[:200], p.path[:200], p.reason[:500]] for p in problems[:MOST_PROBLEMS]]


@transaction.atomic
def _keep(request: HttpRequest, name: str, data: bytes, checked: uploads.Checked) -> PackUpload:
    """Keep the upload aside with its report; only the newest KEEP_UPLOADS stay."""
    bundle = checked.bundle
    upload = PackUpload.objects.create(
        clinic_id=request.user.clinic_id,
        uploaded_by=request.user,
        filename=(name or "pack.zip")[:200],
        archive=data,
        problems=_problem_rows(checked.problems),
        pack_key=bundle.spec.key if bundle else "",
        pack_title=bundle.spec.title[:200] if bundle else "",
        pack_version=bundle.spec.version if bundle else None,
        instruments=[s.model_dump(mode="json") for s in bundle.instruments] if bundle else [],
    )
    older = list(_uploads(request).values_list("pk", flat=True)[KEEP_UPLOADS:])
    PackUpload.objects.filter(pk__in=older).delete()
    return upload


@clinic_admin_required
@never_cache
def packs(request: HttpRequest) -> HttpResponse:
    return _packs_page(request)


@clinic_admin_required
@require_POST
@memory_upload(lambda: PACK_ZIP_BYTES)
def pack_upload(request: HttpRequest) -> HttpResponse:
    """Check an uploaded zip and keep it aside; its report is the next page. A zip that cannot
    be used at all (unsafe, too large, not a zip) is refused here and nothing is kept."""
    if request.user.clinic_id is None:
        raise Http404("Your account is not part of a clinic.")
    form = _pack_form(request.POST, request.FILES)
    if getattr(request, "upload_too_large", False):
        form.errors.clear()
        form.add_error(
            "file",
            _(
                "This file is larger than %(mb)s MB; a pack may be at most %(mb)s MB as a zip."
                " Nothing was uploaded."
            )
            % {"mb": PACK_ZIP_BYTES // _MB},
        )
    elif form.is_valid():
        data = form.read(PACK_ZIP_BYTES)
        try:
            checked = uploads.check(data)
        except uploads.UploadRefused as refused:
            form.add_error("file", str(refused))
        else:
            upload = _keep(request, form.cleaned_data["file"].name, data, checked)
            return redirect("care:clinic-pack", upload_id=upload.pk)
    return _packs_page(request, form=form, status=400)


def _report(request: HttpRequest, upload: PackUpload, *, status: int = 200) -> HttpResponse:
    specs = [InstrumentSpec.model_validate(d) for d in upload.instruments]
    plans = (
        {p.key: p for p in plan_clinic_pack(upload.pack_key, specs, request.user.clinic)}
        if upload.is_valid and not upload.published_at
        else {}
    )
    return render(
        request,
        "content/clinic/report.html",
        {
            "upload": upload,
            "problems": upload.problems,
            "more_problems": len(upload.problems) >= MOST_PROBLEMS,
            "instruments": [(s, plans.get(s.key)) for s in specs],
            "blocked": any(p.status == "taken" for p in plans.values()),
        },
        status=status,
    )


@clinic_admin_required
@never_cache
def pack_report(request: HttpRequest, upload_id: int) -> HttpResponse:
    upload = get_object_or_404(_uploads(request).defer("archive"), pk=upload_id)
    return _report(request, upload)


@clinic_admin_required
@never_cache
def pack_preview(request: HttpRequest, upload_id: int, key: str) -> HttpResponse:
    """One uploaded instrument as the clinic's clients will see it; nothing can be saved here."""
    upload = get_object_or_404(_uploads(request).defer("archive"), pk=upload_id)
    spec = upload.instrument_spec(key)
    if spec is None:
        raise Http404("The pack has no such instrument.")
    return render(
        request,
        "content/clinic/preview.html",
        {"upload": upload, "spec": spec, "form": InstrumentForm(spec) if spec.items else None},
    )


@clinic_admin_required
@require_POST
def pack_publish(request: HttpRequest, upload_id: int) -> HttpResponse:
    """Store the upload as the clinic's pack, from the zip exactly as it was checked."""
    upload = get_object_or_404(_uploads(request), pk=upload_id)
    if not upload.is_valid:
        messages.error(request, _("This pack has problems to fix first; nothing was published."))
        return redirect("care:clinic-pack", upload_id=upload.pk)
    try:
        checked = uploads.check(bytes(upload.archive))
        if checked.bundle is None:
            raise PackInvalid(checked.problems)
        with transaction.atomic():
            result = store_clinic_pack(checked.bundle, request.user.clinic)
            if result.changed:
                added = ", ".join(result.new_instruments) or "no new instruments"
                record_request(
                    request,
                    subject=None,
                    action="publish",
                    what=f"clinic pack {result.pack} ({added})"[:200],
                )
            upload.published_at = timezone.now()
            upload.published_by = request.user
            upload.published_pack = result.pack
            upload.published_version = result.pack.version
            upload.save(
                update_fields=[
                    "published_at",
                    "published_by",
                    "published_pack",
                    "published_version",
                ]
            )
    except (uploads.UploadRefused, PackInvalid) as refused:
        problems = (
            [PackError("", "", str(refused))]
            if isinstance(refused, uploads.UploadRefused)
            else refused.errors
        )
        upload.problems = _problem_rows(problems)
        messages.error(request, _("The pack could not be published; nothing was changed."))
        return _report(request, upload, status=400)
    except IntegrityError:
        messages.error(
            request,
            _(
                "Someone else published a pack at the same moment; nothing was changed. Please"
                " try again."
            ),
        )
        return redirect("care:clinic-pack", upload_id=upload.pk)
    if result.changed:
        messages.success(
            request,
            _("“%(title)s” is published (version %(version)s). Your clinic's clients see it now.")
            % {"title": result.pack.title, "version": result.pack.version},
        )
    else:
        messages.info(
            request,
            _("“%(title)s” was already published; nothing changed.") % {"title": result.pack.title},
        )
    return redirect("care:clinic-packs")
