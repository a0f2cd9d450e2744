"""Importing a FHIR Questionnaire: the upload read (kap.exports.fhir_import turns it into an
instrument spec) and stored as the person's own instrument, under a key that never shadows a
pack's.
"""

from __future__ import annotations

from django.db import models, transaction
from django.utils.translation import gettext as _

from kap.accounts.models import User
from kap.content.loader import instrument_checksum
from kap.content.models import Instrument, Scope, clinics_of
from kap.content.specs import InstrumentSpec
from kap.exports.fhir_import import instrument_from_questionnaire, with_known_scoring
from kap.exports.schema import ImportRefused
from kap.lib.jsonbody import BadJson, parse_json

# A Questionnaire is small; this only stops a wrong file from filling memory.
MAX_QUESTIONNAIRE_BYTES = 5 * 1024 * 1024


def parse_questionnaire(raw: bytes) -> InstrumentSpec:
    """An uploaded Questionnaire as an instrument spec; ImportRefused says why it cannot be."""
    if len(raw) > MAX_QUESTIONNAIRE_BYTES:
        raise ImportRefused(
            _(
                "This file is larger than %(size)s MB; a Questionnaire is far smaller. Nothing"
                " was imported."
            )
            % {"size": MAX_QUESTIONNAIRE_BYTES // (1024 * 1024)}
        )
    try:
        data = parse_json(raw, max_bytes=MAX_QUESTIONNAIRE_BYTES, max_depth=64)
    except BadJson as e:  # not UTF-8, not valid JSON, nested too deep, NaN, ...
        raise ImportRefused(
            _("This file is %(reason)s. Nothing was imported.") % {"reason": e.reason}
        ) from None
    try:
        return instrument_from_questionnaire(data)
    except ValueError as e:  # UnsupportedQuestionnaire names the item and the feature
        raise ImportRefused(
            _("This Questionnaire cannot be imported: %(reason)s. Nothing was stored.")
            % {"reason": e}
        ) from None


def _taken_elsewhere(owner, key: str) -> Instrument | None:
    """The server's or the person's clinic's instrument under this key, if there is one."""
    return (
        Instrument.objects.visible_to(owner)
        .filter(key=key, scope__lt=Scope.PERSONAL)
        .order_by("-scope", "-version")
        .first()
    )


def _free_key(owner, key: str) -> str:
    """The key itself, unless the person already sees it in server or clinic content: then
    the key with "-imported" (their import never shadows a pack's instrument, which would drop
    the pack's safety rules for them). Other people's imports do not count: keys are unique
    per person."""
    candidate, n = key, 1
    while _taken_elsewhere(owner, candidate) is not None:
        suffix = "-imported" if n == 1 else f"-imported-{n}"
        candidate, n = key[: 60 - len(suffix)].rstrip("-") + suffix, n + 1
    return candidate


def _spec_without_version(spec: dict) -> dict:
    return {k: v for k, v in spec.items() if k != "version"}


@transaction.atomic
def store_instrument(spec: InstrumentSpec, *, owner) -> tuple[Instrument, bool]:
    """Store an instrument imported by `owner`, as theirs alone. Returns (instrument, created).

    The same questionnaire imported again by the same person is their instrument already
    stored; a different one under a key of theirs becomes that key's next version (their earlier
    answers keep the version they answered). Another person's import of the same key is that
    person's own instrument and never touches this one.

    A key the person already sees from the server or their clinic is never reused: the import
    is stored as "KEY-imported", so that each key means one instrument for each person and the
    guide's own (with its safety rules) is never shadowed.
    """
    # One import at a time per person: the next version number is read, then written.
    User.objects.select_for_update().filter(pk=owner.pk).exists()
    key = _free_key(owner, spec.key)
    existing = list(
        Instrument.objects.filter(scope=Scope.PERSONAL, owner=owner, key=key).order_by("version")
    )
    wanted = _spec_without_version(spec.model_dump(mode="json")) | {"key": key}
    for inst in reversed(existing):
        if _spec_without_version(inst.spec) == wanted:
            return inst, False
    versions = {i.version for i in existing}
    version = spec.version
    if version in versions:
        version = max(versions) + 1
    spec = spec.model_copy(update={"key": key, "version": version})
    spec = InstrumentSpec.model_validate(spec.model_dump(mode="json"))
    dumped = spec.model_dump(mode="json")
    instrument = Instrument.objects.create(
        scope=Scope.PERSONAL,
        owner=owner,
        pack=None,
        key=spec.key,
        version=spec.version,
        kind=spec.kind,
        title=spec.title,
        spec=dumped,
        checksum=instrument_checksum(spec),
    )
    return instrument, True


def _known_measures(owner, code: str | None) -> list[InstrumentSpec]:
    """The scored pack instruments `owner` sees under this LOINC panel code, their clinic's before
    the server's (a narrower scope wins), for `with_known_scoring`. One query."""
    if not code:
        return []
    found = (
        Instrument.objects.current()
        .filter(
            models.Q(scope=Scope.SERVER)
            | models.Q(scope=Scope.CLINIC, clinic_id__in=clinics_of(owner)),
            pack__isnull=False,
            spec__code=code,
        )
        .order_by("-scope", "key")
    )
    return [i.parsed for i in found]


def import_questionnaire(*, owner, raw: bytes) -> tuple[Instrument, bool]:
    """A FHIR Questionnaire uploaded by `owner`: a personal instrument of theirs. One that is a
    measure a pack already has (the PHQ-9 by its LOINC code) gets that measure's score bands."""
    spec = parse_questionnaire(raw)
    return store_instrument(
        with_known_scoring(spec, _known_measures(owner, spec.code)), owner=owner
    )
