"""People's time zones: IANA names such as "Europe/Paris", checked against the system's list."""

from __future__ import annotations

import zoneinfo
from datetime import tzinfo
from functools import cache

from django.utils import timezone

# In the list on some systems, but not places: a file of the system's and a placeholder.
NOT_PLACES = {"localtime", "Factory", "posixrules"}


@cache
def names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones() - NOT_PLACES)


def is_valid(name: str) -> bool:
    return name in names()


def clean(name: str | None) -> str:
    """The name if it is a known time zone, else "" (the server's default)."""
    name = (name or "").strip()
    return name if is_valid(name) else ""


def get(name: str) -> zoneinfo.ZoneInfo | None:
    return zoneinfo.ZoneInfo(name) if is_valid(name) else None


def of(person) -> tzinfo:
    """The person's own time zone (their `time_zone`), else the server's (TIME_ZONE): for times
    shown or sent to them outside a request of theirs (e-mails, their calendar feed)."""
    return get(getattr(person, "time_zone", "") or "") or timezone.get_default_timezone()


@cache
def _places() -> tuple[str, ...]:
    # Places by region ("America/New_York"); the old aliases and the Etc/ offsets are valid
    # names too, but only clutter a list to choose from.
    return tuple(sorted(n for n in names() if "/" in n and not n.startswith("Etc/"))) + ("UTC",)


def choices(current: str = "") -> list[tuple[str, str]]:
    places = list(_places())
    if current and is_valid(current) and current not in places:
        places.append(current)  # e.g. "Etc/GMT+5", as a browser reported it
    return [(n, n.replace("_", " ")) for n in places]
