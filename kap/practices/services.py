"""Checking and storing practice logs. The browser's JSON and the no-JavaScript form both end here."""

from __future__ import annotations

import uuid as uuidlib
from datetime import datetime, timedelta
from typing import Annotated, Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from kap.content.models import Instrument
from kap.content.specs import InstrumentSpec, Pace, Slug
from kap.lib.limits import EARLIEST_DATE, LATEST_DATE, in_date_range
from kap.practices.models import PracticeLog

CUSTOM_PACE = "custom"
# One breath of the slowest pace a spec allows (4 × 20 s): the pacer finishes the breath it is in.
LONGEST_BREATH = 80
Rating = Annotated[int, Field(ge=0, le=10)]


class UuidTaken(Exception):
    """The id was already used by someone else's log (never expected from a real browser)."""


class PaceChoice(BaseModel):
    model_config = ConfigDict(extra="ignore")
    key: Slug
    inhale: float | None = None
    hold_in: float | None = None
    exhale: float | None = None
    hold_out: float | None = None


class LogPayload(BaseModel):
    """What the practice page's JavaScript sends at the end of a practice."""

    model_config = ConfigDict(extra="ignore")
    uuid: uuidlib.UUID
    instrument: Slug
    version: int | None = Field(default=None, ge=1)
    started_at: AwareDatetime
    planned_seconds: int = Field(ge=1)
    elapsed_seconds: int = Field(ge=0)
    completed: bool
    settled_before: Rating | None = None
    settled_after: Rating | None = None
    pace: PaceChoice | None = None
    notings: dict[Slug, Annotated[int, Field(ge=0, le=100_000)]] = {}


# Each field's rule in words, for the message of a 400 answer.
RULES = {
    "uuid": gettext_lazy("a UUID made by the browser"),
    "instrument": gettext_lazy("the key of a practice you can see"),
    "version": gettext_lazy("a version number of that practice"),
    "started_at": gettext_lazy("a date and time with a time zone (ISO 8601)"),
    "planned_seconds": gettext_lazy("a whole number of seconds, more than 0"),
    "elapsed_seconds": gettext_lazy("a whole number of seconds, 0 or more"),
    "completed": gettext_lazy("true or false"),
    "settled_before": gettext_lazy("a whole number from 0 to 10, or null"),
    "settled_after": gettext_lazy("a whole number from 0 to 10, or null"),
    "pace": gettext_lazy(
        'an object with the key of one of the practice\'s paces, or "custom" and its seconds'
    ),
    "notings": gettext_lazy('an object counting the practice\'s notings, such as {"thought": 2}'),
}


def practice_instrument(user, key: str, version: int | None = None) -> Instrument | None:
    """The practice this key means for the person (the newest version unless one is asked for),
    or None."""
    if version is None:
        found = Instrument.objects.resolve(user, key)
    else:
        found = (
            Instrument.objects.visible_to(user)
            .filter(key=key, version=version)
            .order_by("-scope")
            .first()
        )
    return found if found is not None and found.kind == "practice" else None


def has_page(spec: InstrumentSpec) -> bool:
    """Whether a practice is done on the practice page (timer or breath pacer). One with questions
    to answer, such as an intention to write, is filled in on its form instead."""
    return spec.kind == "practice" and not spec.items


def planned_limits(spec: InstrumentSpec) -> tuple[int, int]:
    """The shortest and longest planned length, in seconds, that the practice page can offer."""
    if spec.duration is None:
        return 1, 4 * 3600
    timed_steps = sum(s.seconds or 0 for s in spec.steps)
    slack = LONGEST_BREATH if spec.paces else 0
    return spec.duration.min_minutes * 60, spec.duration.max_minutes * 60 + slack + timed_steps


def resolve_pace(spec: InstrumentSpec, choice: PaceChoice) -> Pace:
    """A preset of the spec (its own numbers, not the sender's), or the person's own pace."""
    for pace in spec.paces:
        if pace.key == choice.key:
            return pace
    if choice.key != CUSTOM_PACE:
        raise ValueError(f"pace {choice.key!r} is not one of this practice's paces.")
    seconds = {
        "inhale": choice.inhale,
        "hold_in": choice.hold_in or 0,
        "exhale": choice.exhale,
        "hold_out": choice.hold_out or 0,
    }
    try:
        return Pace(key=CUSTOM_PACE, label=custom_label(**seconds), **seconds)
    except (ValidationError, TypeError) as e:
        raise ValueError(
            _(
                "pace must give inhale and exhale of more than 0 and at most 20 seconds, "
                "and holds from 0 to 20 seconds."
            )
        ) from e


def custom_label(*, inhale: Any, hold_in: Any, exhale: Any, hold_out: Any) -> str:
    # Stored with the log (its pace's label), in the words of the person who practised.
    parts = [pgettext("breathing pace", "%(seconds)s in") % {"seconds": f"{inhale:g}"}]
    if hold_in:
        parts += [pgettext("breathing pace", "%(seconds)s hold") % {"seconds": f"{hold_in:g}"}]
    parts += [pgettext("breathing pace", "%(seconds)s out") % {"seconds": f"{exhale:g}"}]
    if hold_out:
        parts += [pgettext("breathing pace", "%(seconds)s hold") % {"seconds": f"{hold_out:g}"}]
    return _("Your own pace (%(parts)s)") % {"parts": ", ".join(parts)}


def check_payload(data: Any, *, user) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The fields of a new log from the browser's JSON, or each bad field with a message."""
    if not isinstance(data, dict):
        return None, {"body": _("The body must be a JSON object.")}
    try:
        p = LogPayload.model_validate(data)
    except ValidationError as e:
        errors: dict[str, str] = {}
        for err in e.errors():
            field = str(err["loc"][0]) if err["loc"] else "body"
            rule = RULES.get(field, _("left out"))
            errors.setdefault(
                field, _("%(field)s must be %(rule)s.") % {"field": field, "rule": rule}
            )
        return None, errors

    instrument = practice_instrument(user, p.instrument, p.version)
    if instrument is None:
        kinds = set(
            Instrument.objects.visible_to(user)
            .filter(key=p.instrument)
            .values_list("kind", flat=True)
        )
        if "practice" in kinds:
            return None, {
                "version": _("version: %(key)s has no version %(version)s.")
                % {"key": repr(p.instrument), "version": p.version}
            }
        if kinds:
            return None, {
                "instrument": _("instrument: %(key)s is not a practice.")
                % {"key": repr(p.instrument)}
            }
        return None, {
            "instrument": _("instrument: there is no practice called %(key)s.")
            % {"key": repr(p.instrument)}
        }
    spec = instrument.parsed
    errors = {}
    lo, hi = planned_limits(spec)
    if not lo <= p.planned_seconds <= hi:
        errors["planned_seconds"] = _(
            "planned_seconds must be from %(lo)s to %(hi)s for this practice."
        ) % {"lo": lo, "hi": hi}
    if p.elapsed_seconds > hi:
        errors["elapsed_seconds"] = _(
            "elapsed_seconds must be at most %(hi)s for this practice."
        ) % {"hi": hi}
    if p.started_at > timezone.now() + timedelta(days=1):
        errors["started_at"] = _("started_at must not be in the future.")
    elif not in_date_range(p.started_at):
        errors["started_at"] = _("started_at must be from %(first)s to %(last)s.") % {
            "first": EARLIEST_DATE.year,
            "last": LATEST_DATE.year,
        }
    pace = None
    if p.pace is not None:
        if not spec.paces:
            errors["pace"] = _("pace must be null: this practice has no breathing pace.")
        else:
            try:
                pace = resolve_pace(spec, p.pace)
            except ValueError as e:
                errors["pace"] = str(e)
    unknown = sorted(set(p.notings) - set(spec.notings))
    if unknown:
        errors["notings"] = _("notings: %(noting)s is not one of this practice's notings.") % {
            "noting": repr(unknown[0])
        }
    if errors:
        return None, errors
    return {
        "uuid": p.uuid,
        "instrument": instrument,
        "started_at": p.started_at,
        "planned_seconds": p.planned_seconds,
        "elapsed_seconds": p.elapsed_seconds,
        "completed": p.completed,
        "settled_before": p.settled_before,
        "settled_after": p.settled_after,
        "pace": pace,
        "notings": {k: p.notings[k] for k in spec.notings if k in p.notings},
    }, {}


def record_practice(
    *,
    client,
    uuid: uuidlib.UUID,
    instrument: Instrument,
    started_at: datetime,
    planned_seconds: int,
    elapsed_seconds: int,
    completed: bool,
    settled_before: int | None = None,
    settled_after: int | None = None,
    pace: Pace | None = None,
    notings: dict[str, int] | None = None,
    source: str = PracticeLog.Source.TIMER,
) -> tuple[PracticeLog, bool]:
    """Store a practice once per uuid: a repeat of the same send returns the stored log."""
    existing = PracticeLog.objects.filter(uuid=uuid).first()
    if existing is None:
        try:
            with transaction.atomic():
                log = PracticeLog.objects.create(
                    uuid=uuid,
                    client=client,
                    instrument=instrument,
                    started_at=started_at,
                    planned_seconds=planned_seconds,
                    elapsed_seconds=elapsed_seconds,
                    completed=completed,
                    settled_before=settled_before,
                    settled_after=settled_after,
                    pace=pace.model_dump() if pace else None,
                    notings=notings or {},
                    source=source,
                )
            return log, True
        except IntegrityError:
            # The same send arrived twice at once and the other request stored it first.
            existing = PracticeLog.objects.get(uuid=uuid)
    if existing.client_id != client.pk:
        raise UuidTaken(str(uuid))
    return existing, False
