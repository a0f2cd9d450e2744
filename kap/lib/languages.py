"""The languages people read the app in (settings.LANGUAGES), and speaking to one person in theirs
outside a request: e-mails from the worker, the calendar feed, documents made for someone else."""

from django.conf import settings
from django.utils import translation


def known(code: str | None) -> bool:
    """Whether `code` is one of the languages offered."""
    return bool(code) and any(code == offered for offered, _name in settings.LANGUAGES)


def of(person) -> str:
    """The language to address `person` in: theirs if they chose one, else the server's."""
    chosen = getattr(person, "language", "")
    return chosen if known(chosen) else settings.LANGUAGE_CODE


def speaking(person):
    """A context manager: the text made inside it is in `person`'s language.

    with languages.speaking(user):
        subject = _("Your summary")
    """
    return translation.override(of(person))
