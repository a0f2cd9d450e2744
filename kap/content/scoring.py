"""Scoring: pure functions of an instrument spec and a set of answers. No database, no clock.

Answers are a dict of item key to value: bool for a check, str for text and for a choice (the
option's value), int for a rating. A missing required answer is an error, never a zero.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _

from kap.content.specs import Band, InstrumentSpec, SafetyRule


class IncompleteAnswers(ValueError):
    def __init__(self, missing: list[str]):
        self.missing = missing
        super().__init__(f"missing answers: {', '.join(missing)}")


@dataclass(frozen=True)
class Score:
    total: float
    min: float | None
    max: float | None
    band: Band | None
    label: str

    @property
    def display(self) -> str:
        value = f"{self.total:g}" if self.total == int(self.total) else f"{self.total:.1f}"
        if self.max is None:
            return value
        return _("%(total)s of %(max)s") % {"total": value, "max": f"{self.max:g}"}


def score(spec: InstrumentSpec, answers: dict) -> Score | None:
    """The instrument's published score, or None when it has no scoring."""
    rule = spec.scoring
    if rule is None:
        return None
    scored = [i for i in spec.items if i.scored]
    missing = [
        i.key for i in scored if answers.get(i.key) in (None, "") and spec.item_type(i) != "check"
    ]
    if missing:
        raise IncompleteAnswers(missing)
    if rule.method == "count":
        total = float(sum(1 for i in scored if answers.get(i.key) is True))
    elif rule.method == "sum":
        total = float(sum(_weight(spec, i.key, answers[i.key]) for i in scored))
    else:  # mean
        values = [_number(spec, i.key, answers[i.key]) for i in scored]
        total = sum(values) / len(values)
    return Score(total, rule.min, rule.max, rule.band_for(total), rule.label)


def _weight(spec: InstrumentSpec, key: str, value: object) -> float:
    item = spec.items_by_key[key]
    if spec.item_type(item) == "rating":
        return _number(spec, key, value)
    for option in spec.options_for(item):
        if option.value == value:
            if option.weight is None:
                raise ValueError(f"option {value!r} of {key!r} has no weight")
            return option.weight
    raise ValueError(f"{value!r} is not an option of {key!r}")


def _number(spec: InstrumentSpec, key: str, value: object) -> float:
    item = spec.items_by_key[key]
    if spec.item_type(item) == "choice":
        return _weight(spec, key, value)
    number = float(value)  # type: ignore[arg-type]
    if not item.min <= number <= item.max:
        raise ValueError(f"{key!r} must be between {item.min} and {item.max}")
    return number


def triggered(rules: list[SafetyRule], spec: InstrumentSpec, answers: dict) -> list[SafetyRule]:
    """The safety rules of a pack that these answers to this instrument set off."""
    hits = []
    for rule in rules:
        if rule.instrument != spec.key or rule.item not in answers:
            continue
        if _weight(spec, rule.item, answers[rule.item]) > rule.above:
            hits.append(rule)
    return hits


def interpretation(spec: InstrumentSpec, result: Score | None) -> str:
    if result is None:
        return ""
    return next((i.text for i in spec.interpretations if i.min <= result.total <= i.max), "")
