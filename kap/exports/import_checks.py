"""An export file read and checked before anything of it is stored (for kap.exports.json_import).

Nothing in the file is taken on trust where it could mislead: `parse_export` reads it through the
schema (kap.exports.schema) and refuses numbers no export holds; `work_out` checks that every
answer is one its item allows and works scores, bands and safety events out again from the
answers, with the journal's own scoring and this instance's safety rules (the file's own are never
stored); `check_practices` checks what the schema cannot. Each refusal is an ImportRefused naming
the record and field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime

from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from pydantic import ValidationError

from kap.content.crisis import safety_rules_for
from kap.content.models import Instrument
from kap.content.scoring import IncompleteAnswers, Score, score, triggered
from kap.content.specs import InstrumentSpec, Item, Pace, SafetyRule
from kap.exports.schema import FORMAT, SCHEMA_VERSION, Export, ImportRefused
from kap.journal.models import Response
from kap.lib.limits import LONG_TEXT

# One person's data is small (years of use export to a few MB); these stop a wrong or hostile
# file from filling memory and bound the whole import's time. (The database's write lock is held
# only for short batches: kap.exports.json_import.)
MAX_IMPORT_BYTES = 32 * 1024 * 1024
MAX_IMPORT_RECORDS = 50_000

# No number an export holds comes near this (ids, versions, seconds, counts, ratings, scores),
# and it is the largest the database's integer columns take.
LARGEST_NUMBER = 2**31 - 1
# Longer than any practice can be logged for (the timer offers hours, the form 180 minutes).
LONGEST_PRACTICE_SECONDS = 24 * 3600
MOST_NOTINGS = 100_000  # as for a practice sent from the browser

# The kinds of record a file holds, and what one of each is called in a refusal.
_KIND_NAMES = {
    "instruments": gettext_lazy("instrument"),
    "sessions": gettext_lazy("session"),
    "responses": gettext_lazy("response"),
    "safety_events": gettext_lazy("safety event"),
    "insights": gettext_lazy("insight"),
    "action_steps": gettext_lazy("action step"),
    "questions": gettext_lazy("question"),
    "support_items": gettext_lazy("support item"),
    "practice_logs": gettext_lazy("practice"),
    "care_links": gettext_lazy("link to a therapist"),
}


def _damaged(problems: str) -> str:
    return _(
        "This export is damaged or was changed by hand, so nothing was imported: %(problems)s"
    ) % {"problems": problems}


def _grouped(n: int) -> str:
    return number_format(n, force_grouping=True)


def parse_export(raw: bytes) -> Export:
    """The file read through the schema, or ImportRefused saying what is wrong with it."""
    if len(raw) > MAX_IMPORT_BYTES:
        raise ImportRefused(
            _(
                "This file is larger than %(size)s MB, far larger than an export; nothing was imported."
            )
            % {"size": MAX_IMPORT_BYTES // (1024 * 1024)}
        )
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ImportRefused(
            _(
                "This file is not a KAP Companion export: it is not UTF-8 text. Nothing was imported."
            )
        ) from None
    except json.JSONDecodeError as e:
        raise ImportRefused(
            _(
                "This file is not a KAP Companion export: it is not valid JSON (%(error)s at line"
                " %(line)s, column %(column)s). Nothing was imported."
            )
            % {"error": e.msg, "line": e.lineno, "column": e.colno}
        ) from None
    except (ValueError, RecursionError):
        # A number of thousands of digits, or lists nested thousands deep: no export is either.
        raise ImportRefused(
            _(
                "This file is not a KAP Companion export: it holds a number far too long or lists"
                " nested far too deep. Nothing was imported."
            )
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else None
        if found:
            words = _(
                "This file is not a KAP Companion export (its format is %(found)s; expected"
                " %(expected)s). Nothing was imported."
            )
        else:
            words = _(
                "This file is not a KAP Companion export (it has no format; expected"
                " %(expected)s). Nothing was imported."
            )
        raise ImportRefused(words % {"found": repr(found), "expected": repr(FORMAT)})
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ImportRefused(
            _(
                "This export has schema version %(found)s; this app reads schema version"
                " %(expected)s. Nothing was imported."
            )
            % {"found": repr(version), "expected": SCHEMA_VERSION}
        )
    if (count := _record_count(data)) > MAX_IMPORT_RECORDS:
        raise ImportRefused(
            _(
                "This file holds %(count)s records, more than the %(most)s an import takes at"
                " once; nothing was imported."
            )
            % {"count": _grouped(count), "most": _grouped(MAX_IMPORT_RECORDS)}
        )
    if problem := _number_problem(data):
        raise ImportRefused(_damaged(problem) + ".")
    try:
        return Export.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors()[:5]:
            where = ".".join(str(p) for p in err["loc"])
            reason = err["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: {reason}" if where else reason)
        more = ""
        if e.error_count() > 5:
            more = " " + _("(and %(count)s more)") % {"count": e.error_count() - 5}
        raise ImportRefused(_damaged("; ".join(problems)) + more) from None


def _record_count(data: dict) -> int:
    """Every record the file would write, with the versions and check-ins inside them."""
    count = 0
    for kind in _KIND_NAMES:
        rows = data.get(kind)
        if not isinstance(rows, list):
            continue
        count += len(rows)
        for row in rows:
            if isinstance(row, dict):
                for nested in ("history", "check_ins"):
                    if isinstance(row.get(nested), list):
                        count += len(row[nested])
    return count


def _shown(value: object) -> str:
    """A value of the file in its JSON spelling, kept short."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return f"{value:g}"
    if isinstance(value, int):
        digits = str(value)
        if len(digits) <= 20:
            return digits
        return _("a number of %(count)s digits") % {"count": len(digits.lstrip("-"))}
    if value is None:
        return "null"
    if isinstance(value, str):
        return json.dumps(value[:40] + ("…" if len(value) > 40 else ""), ensure_ascii=False)
    return _("a list") if isinstance(value, list) else _("an object")


def _record(kind: str, index: int, ident: object = None, key: object = None) -> str:
    """A record of the file by its kind, local id and position: "response 5 (responses[4], phq9)"."""
    name = str(_KIND_NAMES[kind])
    if isinstance(ident, int) and not isinstance(ident, bool):
        name = f"{name} {ident}"
    extra = f"{kind}[{index}]" + (f", {key[:60]}" if isinstance(key, str) and key else "")
    return f"{name} ({extra})"


def _field(parts) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _where(data: dict, path: tuple) -> str:
    """The record and field at `path` of the file as read from JSON."""
    head, rest = "", path
    if len(path) >= 2 and path[0] in _KIND_NAMES and isinstance(path[1], int):
        row = data[path[0]][path[1]]
        ident = key = None
        if isinstance(row, dict):
            ident = row.get("id")
            ref = row.get("instrument")
            key = ref.get("key") if isinstance(ref, dict) else row.get("key")
        head, rest = _record(path[0], path[1], ident, key), path[2:]
    field = _field(rest)
    return f"{head}, {field}" if head and field else head or field


def _number_problem(data: dict) -> str | None:
    """The first number of the file that no export holds, named by record and field: NaN and
    ±Infinity (Python's json reads them, and reads 1e999 as Infinity), or one beyond
    LARGEST_NUMBER (1e308 is finite, and no score, id or count)."""
    stack: list[tuple[tuple, object]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            stack.extend(reversed([((*path, k), v) for k, v in value.items()]))
        elif isinstance(value, list):
            stack.extend(reversed([((*path, i), v) for i, v in enumerate(value)]))
        elif isinstance(value, bool) or not isinstance(value, int | float):
            continue
        elif isinstance(value, float) and not math.isfinite(value):
            return _("%(where)s: %(value)s is not a finite number") % {
                "where": _where(data, path),
                "value": _shown(value),
            }
        elif abs(value) > LARGEST_NUMBER:
            return _("%(where)s: %(value)s is far beyond any value an export holds") % {
                "where": _where(data, path),
                "value": _shown(value),
            }
    return None


def _refuse(where: str, problem: str) -> ImportRefused:
    return ImportRefused(_damaged(f"{where}: {problem}") + ".")


def _answer_problem(spec: InstrumentSpec, item: Item, value: object) -> str | None:
    """Why `value` cannot be an answer to `item`, or None when it can."""
    kind = spec.item_type(item)
    shown = {"value": _shown(value)}
    if kind == "check":
        return None if isinstance(value, bool) else _("%(value)s is not true or false") % shown
    if kind == "text":
        if not isinstance(value, str):
            return _("%(value)s is not text") % shown
        if len(value) > LONG_TEXT:
            return _("the answer has %(count)s characters, more than the %(most)s allowed") % {
                "count": _grouped(len(value)),
                "most": _grouped(LONG_TEXT),
            }
        return None
    if kind == "choice":
        values = [o.value for o in spec.options_for(item)]
        if isinstance(value, str) and value in values:
            return None
        return _("%(value)s is not one of its options (%(options)s)") % {
            **shown,
            "options": ", ".join(values),
        }
    if isinstance(value, int) and not isinstance(value, bool) and item.min <= value <= item.max:
        return None
    return _("%(value)s is not a whole number from %(min)s to %(max)s") % {
        **shown,
        "min": item.min,
        "max": item.max,
    }


def _score_range(spec: InstrumentSpec) -> tuple[float, float]:
    """The lowest and highest score the instrument can give: its published range, or else the
    range its items allow."""
    rule = spec.scoring
    assert rule is not None
    if rule.min is not None and rule.max is not None:
        return rule.min, rule.max
    scored = [i for i in spec.items if i.scored]
    if rule.method == "count":
        return 0.0, float(len(scored))
    bounds = []
    for item in scored:
        if spec.item_type(item) == "rating":
            bounds.append((float(item.min), float(item.max)))
        else:
            weights = [o.weight for o in spec.options_for(item) if o.weight is not None]
            bounds.append((min(weights), max(weights)) if weights else (0.0, 0.0))
    if not bounds:
        return 0.0, 0.0
    if rule.method == "sum":
        return sum(lo for lo, _ in bounds), sum(hi for _, hi in bounds)
    return min(lo for lo, _ in bounds), max(hi for _, hi in bounds)


def _score(spec: InstrumentSpec, answers: dict, where: str) -> Score | None:
    """The score the journal gives these answers on submit (kap.content.scoring.score)."""
    try:
        result = score(spec, answers)
    except IncompleteAnswers as e:
        raise _refuse(
            where,
            _("it was submitted without an answer to %(items)s, so its score cannot be worked out")
            % {"items": ", ".join(e.missing)},
        ) from None
    except (ValueError, ArithmeticError) as e:
        raise _refuse(
            where, _("its score cannot be worked out (%(error)s)") % {"error": e}
        ) from None
    if result is not None and not math.isfinite(result.total):
        raise _refuse(where, _("its score is not a finite number"))
    return result


@dataclass
class Worked:
    """One response of the file as this instance works it out from its answers."""

    answers: dict
    total: float | None
    band: str
    history: list[tuple[dict, float | None]]
    # (rule key, when the answer that first set it off was saved), in that order.
    events: list[tuple[str, datetime]]
    # Scores and bands of the file that were not those of the answers.
    corrected: int


def _differs(claimed: float | None, total: float | None) -> bool:
    if claimed is None or total is None:
        return claimed is not total
    return abs(claimed - total) > 1e-9


def work_out(export: Export, instruments: dict[tuple[str, int], Instrument]) -> list[Worked]:
    """Each response's answers checked, its scores, bands and safety events worked out again."""
    rules: dict[int, list[SafetyRule]] = {}
    worked = []
    for index, r in enumerate(export.responses):
        instrument = instruments[r.instrument.as_tuple()]
        spec = instrument.parsed.original  # bands are stored in the pack's own words
        for answers in [r.answers, *(h.answers for h in r.history)]:
            unknown = sorted(set(answers) - set(spec.items_by_key))
            if unknown:
                raise ImportRefused(
                    _(
                        "Response %(id)s answers an item %(item)s that the instrument %(key)s"
                        " version %(version)s does not have. Nothing was imported."
                    )
                    % {
                        "id": r.id,
                        "item": repr(unknown[0]),
                        "key": repr(spec.key),
                        "version": spec.version,
                    }
                )
        record = _record("responses", index, r.id, spec.key)
        submitted = r.status == Response.Status.SUBMITTED
        # Oldest first: the history (each an earlier submitted version), then the answers now.
        versions = [
            (f"history[{n}].", h.answers, h.score_total, h.saved_at, True)
            for n, h in enumerate(r.history)
        ]
        now_saved = r.updated_at if r.history else (r.submitted_at or r.updated_at)
        versions.append(("", r.answers, r.score_total, now_saved, submitted))
        found: list[tuple[dict, Score | None]] = []
        events: list[tuple[str, datetime]] = []
        corrected = 0
        for prefix, given, claimed, saved, scored in versions:
            answers = {}
            for key, value in given.items():
                if value is None or value == "":  # left empty: not stored, as on submit
                    continue
                problem = _answer_problem(spec, spec.items_by_key[key], value)
                if problem:
                    raise _refuse(f"{record}, {prefix}answers.{key}", problem)
                answers[key] = value
            if claimed is not None and spec.scoring is not None:
                lo, hi = _score_range(spec)
                if not lo <= claimed <= hi:
                    raise _refuse(
                        f"{record}, {prefix}score_total",
                        _("%(value)s is outside %(low)s–%(high)s, the scores of %(title)s")
                        % {
                            "value": _shown(claimed),
                            "low": f"{lo:g}",
                            "high": f"{hi:g}",
                            "title": repr(spec.title),
                        },
                    )
            where = f"{record}, {prefix[:-1]}" if prefix else record
            result = _score(spec, answers, where) if scored else None
            corrected += _differs(claimed, result.total if result else None)
            found.append((answers, result))
            if scored:
                if instrument.pk not in rules:
                    rules[instrument.pk] = safety_rules_for(instrument)
                for rule in triggered(rules[instrument.pk], spec, answers):
                    if rule.key not in {key for key, _ in events}:
                        events.append((rule.key, saved))
        answers, result = found.pop()
        band = result.band.label if result and result.band else ""
        corrected += r.score_band != band
        worked.append(
            Worked(
                answers=answers,
                total=result.total if result else None,
                band=band,
                history=[(a, s.total if s else None) for a, s in found],
                events=events,
                corrected=corrected,
            )
        )
    return worked


def check_practices(export: Export) -> None:
    for index, p in enumerate(export.practice_logs):
        where = _record("practice_logs", index, p.id, p.instrument.key)
        for name in ("planned_seconds", "elapsed_seconds"):
            value = getattr(p, name)
            if value > LONGEST_PRACTICE_SECONDS:
                raise _refuse(
                    f"{where}, {name}",
                    _("%(value)s seconds is longer than a day") % {"value": value},
                )
        for label, count in p.notings.items():
            if not 0 <= count <= MOST_NOTINGS:
                raise _refuse(
                    f"{where}, notings.{label}",
                    _("%(value)s is not a count from 0 to %(most)s")
                    % {"value": count, "most": MOST_NOTINGS},
                )
        if p.pace is not None:
            try:
                Pace.model_validate(p.pace)
            except ValidationError:
                raise _refuse(
                    f"{where}, pace",
                    _(
                        "it is not a breathing pace (inhale and exhale of more than 0 and at most"
                        " 20 seconds, holds from 0 to 20)"
                    ),
                ) from None
