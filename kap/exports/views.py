"""Your data: download it (JSON, CSV, FHIR), bring it in (an export, a FHIR Questionnaire), or
delete the account with everything in it.

A client's own data only: every query takes `request.user`, and other roles (who keep no records
here) get a 404. Downloads are never cached: they hold what the person wrote, in plain text.
"""

from __future__ import annotations

import json

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache

from kap.accounts.decorators import client_required
from kap.content.crisis import safety_rules_for
from kap.exports import (
    csv_export,
    fhir_export,
    import_checks,
    json_export,
    json_import,
    questionnaire_import,
)
from kap.exports.erasure import erase_client
from kap.exports.schema import ImportRefused
from kap.lib.uploads import UploadForm, memory_upload


def _too_large(request: HttpRequest, form: UploadForm, limit: int) -> bool:
    if getattr(request, "upload_too_large", False):
        form.errors.clear()
        form.add_error(
            "file",
            _(
                "This file is larger than %(size)s MB, far larger than expected. Nothing was imported."
            )
            % {"size": limit // (1024 * 1024)},
        )
        return True
    return False


def _export_form(*args) -> UploadForm:
    return UploadForm(
        *args,
        prefix="export",
        label=_("Your JSON export"),
        help_text=_("A kap-export-….json file downloaded from KAP Companion."),
        accept=".json,application/json",
    )


def _questionnaire_form(*args) -> UploadForm:
    return UploadForm(
        *args,
        prefix="questionnaire",
        label=_("A FHIR Questionnaire"),
        help_text=_("A .json file holding one FHIR R4 Questionnaire resource."),
        accept=".json,application/json,application/fhir+json",
    )


def _index(request: HttpRequest, *, export_form=None, questionnaire_form=None, status=200):
    export_form = export_form or _export_form()
    questionnaire_form = questionnaire_form or _questionnaire_form()
    return render(
        request,
        "exports/index.html",
        {
            "export_form": export_form,
            "questionnaire_form": questionnaire_form,
            "forms_with_errors": [f for f in (export_form, questionnaire_form) if f.errors],
            "has_records": json_import.has_records(request.user),
        },
        status=status,
    )


@client_required
def index(request: HttpRequest) -> HttpResponse:
    return _index(request)


def _download(content: bytes, content_type: str, name: str, ext: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    filename = f"{name}-{timezone.localdate().isoformat()}.{ext}"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@never_cache
@client_required
def export_json(request: HttpRequest) -> HttpResponse:
    return _download(
        json_export.export_json(request.user),
        "application/json; charset=utf-8",
        "kap-export",
        "json",
    )


@never_cache
@client_required
def export_csv(request: HttpRequest) -> HttpResponse:
    return _download(
        csv_export.export_csv_zip(request.user), "application/zip", "kap-export", "zip"
    )


@never_cache
@client_required
def export_fhir(request: HttpRequest) -> HttpResponse:
    bundle = fhir_export.fhir_bundle(request.user, base_url=settings.BASE_URL)
    content = json.dumps(bundle, ensure_ascii=False, indent=2).encode("utf-8")
    return _download(content, "application/fhir+json; charset=utf-8", "kap-fhir", "json")


@client_required
@memory_upload(lambda: import_checks.MAX_IMPORT_BYTES)
def import_json(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return redirect("exports:index")
    form = _export_form(request.POST, request.FILES)
    if not _too_large(request, form, import_checks.MAX_IMPORT_BYTES) and form.is_valid():
        try:
            result = json_import.import_json(
                user=request.user, raw=form.read(import_checks.MAX_IMPORT_BYTES)
            )
        except ImportRefused as refused:
            form.add_error("file", str(refused))
        else:
            messages.success(
                request, _("Your data was imported: %(summary)s.") % {"summary": result.summary()}
            )
            for note in result.not_imported:
                messages.info(request, note)
            return redirect("exports:index")
    return _index(request, export_form=form, status=400)


@client_required
@memory_upload(lambda: questionnaire_import.MAX_QUESTIONNAIRE_BYTES)
def import_questionnaire(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return redirect("exports:index")
    form = _questionnaire_form(request.POST, request.FILES)
    if (
        not _too_large(request, form, questionnaire_import.MAX_QUESTIONNAIRE_BYTES)
        and form.is_valid()
    ):
        try:
            instrument, created = questionnaire_import.import_questionnaire(
                owner=request.user, raw=form.read(questionnaire_import.MAX_QUESTIONNAIRE_BYTES)
            )
        except ImportRefused as refused:
            form.add_error("file", str(refused))
        else:
            title = {"title": instrument.title}
            if created:
                if safety_rules_for(instrument):
                    added = _(
                        "“%(title)s” was added. You can fill it in below. Answers to its question"
                        " about self-harm show crisis support at once, as for the guide's PHQ-9."
                    )
                else:
                    added = _(
                        "“%(title)s” was added. You can fill it in below. Imported questionnaires"
                        " come without the guide's safety rules: answers here are not checked for"
                        " signs of crisis."
                    )
                messages.success(request, added % title)
            else:
                messages.info(request, _("“%(title)s” was imported before; here it is.") % title)
            return redirect("journal:instrument", instrument.key)
    return _index(request, questionnaire_form=form, status=400)


class DeleteForm(forms.Form):
    email = forms.CharField(
        label=gettext_lazy("Your email address"),
        required=False,
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    password = forms.CharField(
        label=gettext_lazy("Or your password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request
        self.user = request.user

    def clean(self):
        email = (self.cleaned_data.get("email") or "").strip()
        password = self.cleaned_data.get("password") or ""
        if not email and not password:
            raise forms.ValidationError(
                _("To confirm, type your email address or your password. Nothing was deleted.")
            )
        if email and email.casefold() == self.user.email.casefold():
            return self.cleaned_data
        # Through authenticate(), so that wrong passwords count towards the sign-in lockout: a
        # borrowed session is not a way to guess the password.
        if (
            password
            and authenticate(self.request, username=self.user.email, password=password) == self.user
        ):
            return self.cleaned_data
        raise forms.ValidationError(
            _("That is not this account's email address or password, so nothing was deleted.")
        )


@never_cache
@client_required
def delete(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = DeleteForm(request.POST, request=request)
        if form.is_valid():
            erase_client(request.user)
            logout(request)
            return render(request, "exports/goodbye.html")
        status = 400
    else:
        form = DeleteForm(request=request)
        status = 200
    return render(request, "exports/delete.html", {"form": form}, status=status)
