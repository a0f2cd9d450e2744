"""How the charts write what they show (kap.lib.charts, kap.lib.sparklines, and the notes of
kap.lib.chart_focus): text escaped for SVG (`xml_text`), numbers for its attributes (`num`),
values and dates as a person reads them, and a moment as a timestamp to compare and place.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from html import escape

SVG_NS = "http://www.w3.org/2000/svg"

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
DAY = 86_400.0  # seconds

_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(value: object) -> str:
    """Escape text for an element or an attribute, dropping characters XML cannot hold."""
    return escape(_INVALID_XML.sub("", str(value)), quote=True)


def num(value: float) -> str:
    """A number for an SVG attribute (a coordinate or a size), to one decimal place (plenty at
    screen resolution)."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def as_datetime(when: date) -> datetime:
    return when if isinstance(when, datetime) else datetime.combine(when, time())


def timestamp(when: date) -> float:
    """Seconds since the epoch; naive datetimes are read as UTC so they compare consistently."""
    moment = as_datetime(when)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def format_value(value: float) -> str:
    rounded = round(value, 2)
    if rounded == int(rounded):
        return str(int(rounded))
    return f"{rounded:g}"


def format_date(moment: datetime, *, year: bool = True) -> str:
    text = f"{moment.day} {MONTHS[moment.month - 1]}"
    return f"{text} {moment.year}" if year else text


def format_moment(when: date) -> str:
    """A date for a tooltip: "3 Nov 2026", with the time of day when there is one."""
    moment = as_datetime(when)
    text = format_date(moment)
    if (moment.hour, moment.minute) != (0, 0):
        text += f", {moment.hour:02d}:{moment.minute:02d}"
    return text
