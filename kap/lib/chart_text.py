"""How the charts write what they show (kap.lib.charts, kap.lib.sparklines, and the notes of
kap.lib.chart_focus): text escaped for SVG (`xml_text`), numbers for its attributes (`num`),
values and dates as a person reads them, and a moment as a timestamp to compare and place.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from functools import lru_cache
from html import escape

from django.utils.formats import date_format, get_format
from django.utils.translation import get_language
from django.utils.translation import gettext as _

SVG_NS = "http://www.w3.org/2000/svg"

# English month abbreviations ("M" in a date format); format_date and format_month say them in
# the language of the moment.
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
DAY = 86_400.0  # seconds

_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(value: object) -> str:
    """Escape text for an element or an attribute, dropping characters XML cannot hold."""
    return escape(_INVALID_XML.sub("", str(value)), quote=True)


def num(value: float) -> str:
    """A number for an SVG attribute (a coordinate or a size), to one decimal place (plenty at
    screen resolution)."""
    return f"{value:.1f}".removesuffix(".0")


def as_datetime(when: date) -> datetime:
    return when if isinstance(when, datetime) else datetime.combine(when, time())


def timestamp(when: date) -> float:
    """Seconds since the epoch; naive datetimes are read as UTC so they compare consistently."""
    moment = as_datetime(when)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def format_value(value: float) -> str:
    """A value as a person reads it: 7, 6.5 (6,5 in Spanish)."""
    rounded = round(value, 2)
    if rounded == int(rounded):
        return str(int(rounded))
    return f"{rounded:g}".replace(".", decimal_separator())


def decimal_separator() -> str:
    """The decimal separator of the language of the moment: a point, or a comma in Spanish."""
    return _separator(get_language())


@lru_cache(maxsize=16)
def _separator(language: str | None) -> str:
    return get_format("DECIMAL_SEPARATOR")


def format_date(
    moment: date, *, year: bool = True, long: bool = False, weekday: bool = False
) -> str:
    """The date as "3 Nov 2026", or "3 Nov" without the year, or "3 November 2026" when `long`,
    or "Tuesday 3 November 2026" with its `weekday`, in the language of the moment."""
    shape = "weekday" if weekday else "long" if long else "year" if year else "short"
    return _day(get_language(), date(moment.year, moment.month, moment.day), shape)


@lru_cache(maxsize=4096)
def _day(language: str | None, day: date, shape: str) -> str:
    # Remembered: a chart dates every point's tooltip, twice (its wide and its phone drawing),
    # and a page may list the same few days again and again.
    if shape == "weekday":
        return date_format(day, _("l j F Y"))
    if shape == "long":
        return date_format(day, _("j F Y"))
    return date_format(day, _("j M Y") if shape == "year" else _("j M"))


def format_month(day: date) -> str:
    """The month as "Nov 2026", in the language of the moment."""
    return date_format(day, _("M Y"))


def format_moment(when: date) -> str:
    """A date for a tooltip: "3 Nov 2026", with the time of day when there is one."""
    moment = as_datetime(when)
    text = format_date(moment)
    if (moment.hour, moment.minute) != (0, 0):
        text += f", {moment.hour:02d}:{moment.minute:02d}"
    return text
