"""How much of what people wrote a printed summary shows: the client's summary to bring to
therapy and the therapist's pre-session brief (kap.progress.summary, kap.care.brief).

Both are made to be read in a few minutes and printed: each section shows the newest entries until
it has shown about SECTION_CHARS characters (every text counts at least one line, so a thousand
one-word check-ins are bounded as well as one long answer), and no text shows more than
SHOWN_IN_SUMMARIES characters. So the PDFs, and the pages they are printed from, stay a few pages
and take a bounded time to make whatever the record holds. Nothing is hidden silently: a shortened
text says how many characters are left out, and each section says how many entries it leaves out.
The whole text is in the app (and in the person's export).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.db.models import Count, QuerySet, Window
from django.utils.formats import number_format
from django.utils.translation import ngettext

from kap.lib.limits import SHOWN_IN_SUMMARIES

# What one section may show (some thirty lines: two thirds of an A4 page at the PDFs' type size,
# so a section, kept on one page, leaves room for its headings), and what a text counts as at the
# least: one printed line.
SECTION_CHARS = 2_500
LINE_CHARS = 80
# A shortened text ends at a word break if there is one this near the limit.
WORD_BREAK_WITHIN = 40


def shortened(text: str, limit: int) -> str:
    """The text, or its first `limit` characters (at a word break when one is near) and how many
    characters are left out, e.g. "… (19,520 more characters in the app)"."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ", max(0, limit - WORD_BREAK_WITHIN))
    if space > 0:
        cut = cut[:space]
    cut = cut.rstrip()
    left_out = len(text) - len(cut)
    note = ngettext(
        "%(count)s more character in the app", "%(count)s more characters in the app", left_out
    ) % {"count": number_format(left_out, force_grouping=True)}
    return f"{cut} … ({note})"


class Budget:
    """What one section may still show. Call `take` on each text in the order the section chooses
    them (newest first), and stop once `spent`."""

    def __init__(self, chars: int = SECTION_CHARS):
        self.left = chars

    @property
    def spent(self) -> bool:
        return self.left <= 0

    def line(self, count: int = 1) -> None:
        """Count lines the section shows that are not what people wrote: an entry's date, its
        title."""
        self.left -= count * LINE_CHARS

    def take(self, text: str | None) -> str:
        """The text as shown: at most SHOWN_IN_SUMMARIES characters, and at most what is left
        (but a line at least, so the last text shown is not a fragment of a few words)."""
        text = text or ""
        shown = shortened(text, min(SHOWN_IN_SUMMARIES, max(self.left, LINE_CHARS)))
        self.left -= max(len(shown), LINE_CHARS)
        return shown


def fitting[T, U](
    entries: Iterable[T], show: Callable[[T, Budget], U], budget: Budget | None = None
) -> tuple[list[U], int]:
    """(the first entries that fit in one section's budget, each shown by `show`, in the same
    order; how many were left out). Give them in the order they matter, newest first."""
    budget = budget or Budget()
    entries = list(entries)
    shown = []
    for entry in entries:
        if budget.spent:
            break
        shown.append(show(entry, budget))
    return shown, len(entries) - len(shown)


def answers_that_fit(answers: Iterable[tuple[str, str]], budget: Budget):
    """(the (question, answer) pairs of one response that fit, shortened; how many are left out):
    a clinic's form may have hundreds of questions."""
    return fitting(answers, lambda pair, b: (b.take(pair[0]), b.take(pair[1])), budget)


def newest(rows: QuerySet, shown: int) -> tuple[list, int]:
    """(the newest `shown` rows, newest first; how many more there are), in one query: `rows` is
    ordered newest first, and each row carries the count of them all (a window)."""
    found = list(rows.annotate(n_all=Window(Count("pk")))[:shown])
    return found, (found[0].n_all - len(found) if found else 0)
