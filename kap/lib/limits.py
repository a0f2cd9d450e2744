"""How long free text may be, and which dates are accepted: the limits on what people type.

Free text is stored encrypted, so the database cannot enforce a length: these limits, checked in
the forms (server-side; a browser's `maxlength` is only a convenience), are the only ones. They are
listed for operators in SECURITY.md ("Limits on input").
"""

from __future__ import annotations

from datetime import date, datetime

from django import forms
from django.core.validators import MaxLengthValidator
from django.utils.formats import number_format
from django.utils.functional import lazy
from django.utils.translation import gettext, gettext_noop

# One line of text: an action step, a check-in note, a question to bring, a support item.
SHORT_TEXT = 500
# Writing: an answer to a reflection or worksheet, an insight, a session's notes.
LONG_TEXT = 20_000
# A therapist's private note about a client.
THERAPIST_NOTE = 10_000
# The summary to bring to therapy and the therapist's brief show at most this much of each text
# (the rest is in the app), so their PDFs stay a few pages and render in bounded time.
SHOWN_IN_SUMMARIES = 500

# Dates people enter (sessions, "start from", a practice's start): the only range a calendar
# app, a PDF and every time zone handle without surprises.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2100, 12, 31)
_DATE_RANGE = gettext_noop("Please give a date between %(first)s and %(last)s.")
_YEARS = {"first": EARLIEST_DATE.year, "last": LATEST_DATE.year}
# In English; date_range_message() says it in the reader's language.
DATE_RANGE_MESSAGE = _DATE_RANGE % _YEARS


def date_range_message() -> str:
    """DATE_RANGE_MESSAGE in the language of the moment."""
    return gettext(_DATE_RANGE) % _YEARS


def _too_long(what: str, limit: int) -> str:
    return gettext(
        "Please shorten %(what)s to %(limit)s characters or fewer; it has %(show_value)s."
    ) % {
        "what": what,
        "limit": number_format(limit, force_grouping=True),
        # Left for the validator to fill in (Django's MaxLengthValidator gives it).
        "show_value": "%(show_value)s",
    }


_too_long_lazy = lazy(_too_long, str)


def too_long(what: str, limit: int) -> str:
    """The message for text over its limit, naming the field (for `error_messages`): worded in
    the language of the moment it is shown (`what` may be a gettext_lazy string)."""
    return _too_long_lazy(what, limit)


def limit_length(field: forms.Field, limit: int, what: str) -> forms.Field:
    """Enforce at most `limit` characters on a (possibly already built) CharField, with a message
    that names the field, e.g. limit_length(form.fields["text"], SHORT_TEXT, "the step")."""
    field.max_length = limit
    field.validators = [v for v in field.validators if not isinstance(v, MaxLengthValidator)]
    field.validators.append(MaxLengthValidator(limit))
    field.widget.attrs["maxlength"] = str(limit)
    field.error_messages["max_length"] = too_long(what, limit)
    return field


def in_date_range(value: date | datetime | None) -> bool:
    if value is None:
        return True
    day = value.date() if isinstance(value, datetime) else value
    return EARLIEST_DATE <= day <= LATEST_DATE


def check_date_range(value: date | datetime | None) -> None:
    """A ValidationError for a date outside EARLIEST_DATE..LATEST_DATE (None passes)."""
    if not in_date_range(value):
        raise forms.ValidationError(date_range_message(), code="date_range")


# A clinic's content pack uploaded through the web (kap.content.uploads): a zip of YAML and
# Markdown. Sized for dozens of instruments with room to spare; anything larger is refused before
# it is unpacked or validated, so checking a pack takes time in proportion to these at most.
PACK_ZIP_BYTES = 2 * 1024 * 1024  # the zip as uploaded
PACK_UNPACKED_BYTES = 10 * 1024 * 1024  # everything in it, unpacked
PACK_FILES = 200  # files and folders in the zip
PACK_INSTRUMENTS = 100  # instruments listed in pack.yaml
PACK_PAGES = 200  # Markdown pages listed in pack.yaml
PACK_ITEMS = 500  # items (or steps) of one instrument
PACK_OPTIONS = 50  # answer options of one item, or an instrument's shared options
# Values in one YAML file once its anchors and aliases (`&name`, `*name`) are expanded: a few
# lines of aliases can otherwise stand for billions of values.
PACK_YAML_VALUES = 200_000

# Inviting by e-mail (kap.care.invitations): one list at a time, pasted or uploaded as CSV, so a
# clinic of hundreds onboards in a few lists while one click cannot queue thousands of e-mails.
INVITES_PER_LIST = 500
INVITE_LIST_BYTES = 256 * 1024  # the pasted text, or the CSV file
# A clinic's own opening words for its invitation e-mails.
INVITATION_TEXT = 2_000
