"""A stored answer in words: the one rule every page, PDF and export uses.

An answer is stored as the form cleaned it (kap.journal.forms): True or False for a tick, the
option's value for a choice, a number for a rating, the person's words for text. Shown anywhere
(the person's own response page, the therapist's timeline and brief, the summary, the CSV
export), it reads as the person's response page shows it:

- check: "Yes" when ticked, "No" when not (a box left unticked is an answer too);
- choice: the option's label ("Several days"), or the stored value if no option has it (an
  option an older version of the instrument had);
- rating: the number ("7");
- text: the words, without surrounding blank space.

Nothing stored (None or "") is no answer, and reads as "" wherever the answer is.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from kap.content.specs import InstrumentSpec, Item


def answer_words(spec: InstrumentSpec, item: Item, value: object) -> str:
    """The answer `value` to `item` of `spec` in words (see the module's rule); "" if none."""
    if value is None or value == "":
        return ""
    kind = spec.item_type(item)
    if kind == "check":
        return _("Yes") if value else _("No")
    if kind == "choice":
        return next((o.label for o in spec.options_for(item) if o.value == str(value)), str(value))
    return str(value).strip()


def in_words(spec: InstrumentSpec, answers: dict | None) -> tuple[tuple[str, str], ...]:
    """(question, answer in words) for each question `answers` answers, in the form's order."""
    given = answers or {}
    return tuple((i.text, w) for i in spec.items if (w := answer_words(spec, i, given.get(i.key))))
