"""A pack's translations: a folder per language beside the pack's own files, holding text only.

A translated pack looks like this:

    pack.yaml                    translations: {es: {review: awaiting-clinical-review}}
    pages/01-understanding.md
    instruments/grounding.yaml
    es/pack.yaml                 title, not_monitored, crisis names and actions, page titles,
                                 safety messages, measure labels: nothing else
    es/pages/01-understanding.md the whole page, in Spanish
    es/instruments/grounding.yaml title, prompt, intro, items' text and help, options' labels,
                                 steps, paces, bands, interpretations, notings: nothing else

Why an overlay in its own folder, and not a `translations:` mapping inside each file, nor a second
copy of the pack:

- The English files stay exactly as they are: an instrument's stored spec and its checksum are
  made from them alone (kap.content.loader.instrument_checksum), so translating an instrument
  makes no new version of it. Answers given in Spanish and in English are answers to the same
  instrument and version: one history. Only the pack's own version goes up.
- An overlay cannot change what is asked or how it is scored. It carries text only; keys, option
  values, weights, codes, kinds and scoring are the English file's. Every field is checked: one
  that is not text, or a key, item, option, step or page the English does not have, is refused
  with its file and field path (`read_overlay`), as `kap content check` reports any problem.
- A translator copies the English file into `es/`, deletes what is not text and translates the
  rest: the same shape, so each Spanish line sits where its English one does. Lists whose entries
  have a key (items, options, steps, paces, pages, safety rules, measures) are matched by that
  key, which the overlay repeats; lists without one (bands, interpretations, a region's crisis
  resources) by position. A page is translated whole, as Markdown, and must place the same
  instruments in the same order.
- What is missing falls back to the English, field by field; a test holds the built-in guide to
  having every text (`untranslated`).

An instrument marked `translation: published-only` (the PHQ-9, the GAD-7) is shown in another
language only in a translation its authors published, never in one of ours: its overlay may carry
its intro (the pack's own words about it) and nothing else. Shown in another language, its
questions and options stay in the original, `text_language` names that language for a `lang`
attribute, and a note in the person's language, after its intro, says why.

In the database, the English stays in the columns and the stored spec; each row holds its own
translations beside them (Pack.translations, Page.translations, Instrument.translations), and
`shown_pack`, `shown_instrument` and `shown_page` give what a person reads, in the language of the
request (django.utils.translation.get_language). Instrument.parsed and Pack.parsed go through
them, so every page, form, result, summary and brief that shows a spec shows it translated.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from pydantic import BaseModel

from kap.content.specs import (
    Attribution,
    Band,
    CrisisResource,
    InstrumentSpec,
    Interpretation,
    Item,
    Measure,
    Option,
    Pace,
    PackSpec,
    PageRef,
    Region,
    SafetyRule,
    Scoring,
    Step,
)

PUBLISHED_ONLY = "published-only"
# What the overlay of a published-only instrument may translate: the pack's own words about it.
PUBLISHED_ONLY_TEXT = ("intro",)


# --- What is text: the shape of each file, its text fields and how list entries are matched ----


class _Text:
    def __repr__(self) -> str:
        return "TEXT"


TEXT = _Text()


class _Labels:
    """A list of slugs in the English file (an instrument's notings): the overlay maps each slug
    to its label."""


LABELS = _Labels()


@dataclass(frozen=True)
class Fields:
    model: type[BaseModel]  # the English model: a field of it that is not text is named so
    fields: dict[str, object]


@dataclass(frozen=True)
class ListOf:
    of: Fields
    by: str | None  # the field that matches an entry to the English one; None: by position
    noun: str  # "item", "option": for messages


@dataclass(frozen=True)
class MapOf:
    of: Fields
    noun: str


_OPTIONS = ListOf(Fields(Option, {"label": TEXT}), "value", "option")
INSTRUMENT_TEXT = Fields(
    InstrumentSpec,
    {
        "title": TEXT,
        "intro": TEXT,
        "prompt": TEXT,
        "items": ListOf(
            Fields(
                Item,
                {
                    "text": TEXT,
                    "help": TEXT,
                    "min_label": TEXT,
                    "max_label": TEXT,
                    "options": _OPTIONS,
                },
            ),
            "key",
            "item",
        ),
        "options": _OPTIONS,
        "scoring": Fields(
            Scoring,
            {"label": TEXT, "bands": ListOf(Fields(Band, {"label": TEXT}), None, "band")},
        ),
        "interpretations": ListOf(Fields(Interpretation, {"text": TEXT}), None, "interpretation"),
        "steps": ListOf(Fields(Step, {"text": TEXT}), "key", "step"),
        "paces": ListOf(Fields(Pace, {"label": TEXT}), "key", "pace"),
        "attribution": Fields(Attribution, {"text": TEXT}),
        "notings": LABELS,
    },
)
PACK_TEXT = Fields(
    PackSpec,
    {
        "title": TEXT,
        "not_monitored": TEXT,
        "crisis_resources": MapOf(
            Fields(
                Region,
                {
                    "name": TEXT,
                    "resources": ListOf(
                        Fields(CrisisResource, {"name": TEXT, "action": TEXT}),
                        None,
                        "crisis resource",
                    ),
                },
            ),
            "region",
        ),
        "pages": ListOf(Fields(PageRef, {"title": TEXT}), "slug", "page"),
        "safety_rules": ListOf(Fields(SafetyRule, {"message": TEXT}), "key", "safety rule"),
        "measures": ListOf(Fields(Measure, {"label": TEXT}), "instrument", "measure"),
    },
)


def _join(path: str, part: object) -> str:
    return f"{path}.{part}" if path else str(part)


def english_texts(node: Fields, data: dict) -> dict[str, str]:
    """Every text of an English file's data (a spec's JSON dump), by its path: `title`,
    `items.q1.text`, `scoring.bands.0.label`, `notings.thought`, `crisis_resources.US.name`."""
    out: dict[str, str] = {}
    _walk_english(node, data, "", out)
    return out


def _walk_english(node: object, data: object, path: str, out: dict[str, str]) -> None:
    if data is None:
        return
    if node is TEXT:
        if isinstance(data, str) and data.strip():
            out[path] = data
    elif node is LABELS:
        for slug in data if isinstance(data, list) else []:
            out[_join(path, slug)] = str(slug)
    elif isinstance(node, Fields) and isinstance(data, dict):
        for name, child in node.fields.items():
            _walk_english(child, data.get(name), _join(path, name), out)
    elif isinstance(node, ListOf) and isinstance(data, list):
        for i, entry in enumerate(data):
            if isinstance(entry, dict):
                ident = entry.get(node.by) if node.by else i
                _walk_english(node.of, entry, _join(path, ident), out)
    elif isinstance(node, MapOf) and isinstance(data, dict):
        for key, entry in data.items():
            _walk_english(node.of, entry, _join(path, key), out)


# --- Reading an overlay: text only, and only where the English has text --------------------------


@dataclass
class OverlayProblem:
    path: str  # where in the overlay file, as the loader reports fields: "items.2.text"
    reason: str


def read_overlay(
    node: Fields, overlay: dict, english: dict, english_file: str, *, only: Iterable[str] = ()
) -> tuple[dict[str, str], list[OverlayProblem]]:
    """The texts an overlay file gives (by path, as `english_texts` names them), and every problem
    with it. `english` is the English file's data; `only` (when given) the top-level fields the
    overlay may translate (a published-only instrument's)."""
    texts: dict[str, str] = {}
    problems: list[OverlayProblem] = []
    allowed = set(only)
    if allowed:
        for name in list(overlay):
            if name not in allowed:
                problems.append(
                    OverlayProblem(
                        name,
                        f"{english_file} is marked translation: {PUBLISHED_ONLY}; only a"
                        " translation its authors published may replace its words, so an"
                        f" overlay may translate its {', '.join(sorted(allowed))} only",
                    )
                )
        overlay = {k: v for k, v in overlay.items() if k in allowed}
    _read(node, overlay, english, "", "", english_file, texts, problems)
    return texts, problems


def _read(node, value, english, where, key, english_file, texts, problems) -> None:
    """Check `value` (the overlay's, at `where`) against `english` (at the text path `key`)."""

    def problem(reason: str, at: str = where) -> None:
        problems.append(OverlayProblem(at, reason))

    if node is TEXT:
        if not isinstance(value, str) or not value.strip():
            problem("expected text (leave the field out to show the English)")
        elif not (isinstance(english, str) and english.strip()):
            problem(f"{english_file} has no text here to translate")
        else:
            texts[key] = value
        return
    if node is LABELS:
        if not isinstance(value, dict):
            problem("expected a mapping of each noting to its label")
            return
        known = english if isinstance(english, list) else []
        for slug, label in value.items():
            at = _join(where, slug)
            if slug not in known:
                problem(f"{english_file} has no noting {slug!r}", at)
            elif not isinstance(label, str) or not label.strip():
                problem("expected text (leave the field out to show the English)", at)
            else:
                texts[_join(key, slug)] = label
        return
    if isinstance(node, Fields):
        if not isinstance(value, dict):
            problem("expected a mapping of fields")
            return
        for name, sub in value.items():
            at = _join(where, name)
            child = node.fields.get(name)
            if child is None:
                if name in node.model.model_fields:
                    problem(
                        f"not text: a translation carries text only ({name} is as"
                        f" {english_file} has it)",
                        at,
                    )
                else:
                    problem("unknown field", at)
                continue
            there = english.get(name) if isinstance(english, dict) else None
            _read(child, sub, there, at, _join(key, name), english_file, texts, problems)
        return
    if isinstance(node, ListOf):
        if not isinstance(value, list):
            problem("expected a list")
            return
        theirs = english if isinstance(english, list) else []
        # (Found by a lookup, not a search: an overlay's size is bounded, its work linear.)
        index = {e.get(node.by): e for e in theirs if isinstance(e, dict)} if node.by else {}
        seen: set = set()
        for i, entry in enumerate(value):
            at = _join(where, i)
            if not isinstance(entry, dict):
                problem("expected a mapping of fields", at)
                continue
            if node.by is None:
                if i >= len(theirs):
                    problem(
                        f"{english_file} has {len(theirs)} {node.noun}(s) here; a translation"
                        " matches them in order and may not add one",
                        at,
                    )
                    continue
                _read(node.of, entry, theirs[i], at, _join(key, i), english_file, texts, problems)
                continue
            ident = entry.get(node.by)
            if ident is None:
                problem(
                    f"missing required field (it names the {node.noun} this translates)",
                    _join(at, node.by),
                )
                continue
            if not isinstance(ident, str):
                problem(f"expected the {node.by} of a {node.noun}", _join(at, node.by))
                continue
            match = index.get(ident)
            if match is None:
                problem(f"{english_file} has no {node.noun} {ident!r}", _join(at, node.by))
                continue
            if ident in seen:
                problem(f"{node.noun} {ident!r} is translated twice", _join(at, node.by))
                continue
            seen.add(ident)
            rest = {k: v for k, v in entry.items() if k != node.by}
            _read(node.of, rest, match, at, _join(key, ident), english_file, texts, problems)
        return
    if isinstance(node, MapOf):
        if not isinstance(value, dict):
            problem("expected a mapping")
            return
        theirs = english if isinstance(english, dict) else {}
        for name, entry in value.items():
            at = _join(where, name)
            if name not in theirs:
                problem(f"{english_file} has no {node.noun} {name!r}", at)
                continue
            _read(node.of, entry, theirs[name], at, _join(key, name), english_file, texts, problems)


# --- One language of a pack, as read from its folder ---------------------------------------------


@dataclass
class LanguageText:
    """Everything a pack says in one language besides its own (read by kap.content.loader)."""

    language: str
    review: str
    pack: dict[str, str] = field(default_factory=dict)  # path -> text, of pack.yaml
    bodies: dict[str, str] = field(default_factory=dict)  # page slug -> Markdown
    instruments: dict[str, dict[str, str]] = field(default_factory=dict)  # key -> path -> text

    def page(self, slug: str) -> dict[str, str]:
        """A page's title and body in this language (either left out when not translated)."""
        out = {}
        if title := self.pack.get(f"pages.{slug}.title"):
            out["title"] = title
        if body := self.bodies.get(slug):
            out["body"] = body
        return out

    def as_json(self) -> dict:
        return {"pack": self.pack, "pages": self.bodies, "instruments": self.instruments}

    @property
    def digest(self) -> str:
        """Of this language's text: what a clinic's review of the translation is of."""
        return checksum(self.as_json())


def checksum(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def untranslated(
    spec: PackSpec, pages: dict[str, str], instruments: list[InstrumentSpec], text: LanguageText
) -> list[str]:
    """Every text of the pack that `text` leaves in the original ("file: path"), but what needs
    none: crisis resources already in that language, and a published-only instrument's own words.
    `pages` maps each page's slug to its file."""
    lang = text.language
    missing = []
    dump = spec.model_dump(mode="json")
    for path in english_texts(PACK_TEXT, dump):
        if path not in text.pack and not _in_language(dump, path, lang):
            missing.append(f"pack.yaml: {path}")
    for slug, file in pages.items():
        if slug not in text.bodies:
            missing.append(f"{file}: (the page)")
    for inst in instruments:
        given = text.instruments.get(inst.key, {})
        for path in english_texts(INSTRUMENT_TEXT, inst.model_dump(mode="json")):
            if inst.translation == PUBLISHED_ONLY and path.split(".")[0] not in PUBLISHED_ONLY_TEXT:
                continue
            if path not in given:
                missing.append(f"{inst.key}: {path}")
    return missing


def _in_language(dump: dict, path: str, lang: str) -> bool:
    """Whether the crisis region or resource at `path` is written in `lang` already."""
    parts = path.split(".")
    if parts[0] != "crisis_resources":
        return False
    region = dump["crisis_resources"][parts[1]]
    if parts[2] == "resources":
        return same_language(region["resources"][int(parts[3])].get("language") or "", lang)
    return same_language(region.get("language") or "", lang)


# --- Showing: the text of the request's language, field by field, the original where it has none --


def active_language() -> str:
    return (get_language() or settings.LANGUAGE_CODE).lower()


def same_language(a: str, b: str) -> bool:
    """Whether two language tags are one language here ("es" and "es-MX" are); "" is none."""
    return bool(a and b) and a.lower().split("-")[0] == b.lower().split("-")[0]


def pick(available: Iterable[str], active: str) -> str:
    """Which of the `available` translations to show for `active`: the same tag, else the same
    language ("es" for "es-mx"); "" if none."""
    available = list(available)
    exact = next((a for a in available if a.lower() == active.lower()), "")
    return exact or next((a for a in available if same_language(a, active)), "")


def _apply(node: object, data: object, texts: dict[str, str], path: str) -> object:
    if node is TEXT:
        return texts.get(path, data)
    if isinstance(node, Fields) and isinstance(data, dict):
        out = dict(data)
        for name, child in node.fields.items():
            if child is not LABELS and out.get(name) is not None:
                out[name] = _apply(child, out[name], texts, _join(path, name))
        return out
    if isinstance(node, ListOf) and isinstance(data, list):
        return [
            _apply(node.of, e, texts, _join(path, e.get(node.by) if node.by else i))
            if isinstance(e, dict)
            else e
            for i, e in enumerate(data)
        ]
    if isinstance(node, MapOf) and isinstance(data, dict):
        return {k: _apply(node.of, v, texts, _join(path, k)) for k, v in data.items()}
    return data


def published_only_note(source: str) -> str:
    """Said above a published-only instrument shown in its original language."""
    if same_language(source, "en"):
        return _(
            "This questionnaire is shown in its original, published English version, because we"
            " have not yet included its published, validated version in your language. You can"
            " ask your clinician for it."
        )
    return _(
        "This questionnaire is shown in its original, published language, because we have not"
        " yet included its published, validated version in your language. You can ask your"
        " clinician for it."
    )


def instrument_record(spec: InstrumentSpec, source: str, texts: dict[str, dict[str, str]]) -> dict:
    """What an instrument row keeps beside its spec (Instrument.translations): the language it is
    written in, its translation policy, and its texts in each language."""
    record: dict = {"source": source}
    if spec.translation:
        record["policy"] = spec.translation
    if texts:
        record["texts"] = texts
    record["digest"] = checksum(record)
    return record


def shown_instrument(spec: InstrumentSpec, record: dict | None) -> InstrumentSpec:
    """`spec` as a person reading the request's language sees it (`record`: the row's
    Instrument.translations). The same keys, values, weights and scoring: only words change."""
    source = (record or {}).get("source")
    active = active_language()
    if not source or same_language(source, active):
        return spec
    policy = record.get("policy")
    lang = pick(record.get("texts", {}), active)
    texts = record["texts"][lang] if lang else {}
    data = _apply(INSTRUMENT_TEXT, spec.model_dump(mode="json"), texts, "")
    if policy == PUBLISHED_ONLY:
        data["intro"] = " ".join(
            t for t in (data.get("intro", ""), published_only_note(source)) if t
        )
    shown = InstrumentSpec.model_validate(data)
    shown._original = spec
    shown._text_language = source if (policy == PUBLISHED_ONLY or not lang) else ""
    shown._noting_labels = {
        n: texts[f"notings.{n}"] for n in spec.notings if f"notings.{n}" in texts
    }
    return shown


def shown_title(record: dict | None, title: str) -> str:
    """An instrument row's title in the request's language (see Instrument.title)."""
    if not record or "texts" not in record:
        return title
    active = active_language()
    if same_language(record.get("source", ""), active):
        return title
    lang = pick(record["texts"], active)
    return record["texts"][lang].get("title", title) if lang else title


def pack_record(text: LanguageText) -> dict:
    """What a pack row keeps of one of its languages (Pack.translations[language])."""
    return {"review": text.review, "digest": text.digest, "texts": text.pack}


def shown_pack(spec: PackSpec, records: dict | None) -> PackSpec:
    """A pack's own text in the request's language (`records`: Pack.translations): its title,
    crisis resources, note and safety messages. A crisis resource or region left in the original
    is marked with the original's language (`language`), so a screen reader reads it so."""
    active = active_language()
    if same_language(spec.language, active):
        return spec
    lang = pick(records or {}, active)
    texts = records[lang].get("texts", {}) if lang else {}
    data = _apply(PACK_TEXT, spec.model_dump(mode="json"), texts, "")
    for code, region in data["crisis_resources"].items():
        at = f"crisis_resources.{code}"
        if not region.get("language") and f"{at}.name" not in texts:
            region["language"] = spec.language
        for i, r in enumerate(region["resources"]):
            done = {f"{at}.resources.{i}.name", f"{at}.resources.{i}.action"} & texts.keys()
            if not r.get("language") and not done:
                r["language"] = spec.language
    return PackSpec.model_validate(data)


def shown_pack_title(records: dict | None, source: str, title: str) -> str:
    """A pack row's title in the request's language (`records`: Pack.translations), without
    parsing its spec: for lists of packs."""
    active = active_language()
    lang = "" if same_language(source, active) else pick(records or {}, active)
    return records[lang].get("texts", {}).get("title", title) if lang else title


def shown_page(records: dict | None, source: str) -> dict[str, str]:
    """A page's title and body in the request's language, where the pack has them
    (`records`: Page.translations); {} for the original."""
    active = active_language()
    if not records or same_language(source, active):
        return {}
    lang = pick(records, active)
    return records[lang] if lang else {}
