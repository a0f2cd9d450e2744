"""Typed models of a content pack. A pack on disk is parsed into these and nothing else.

The YAML an author writes is the specification; these models say what it may contain. They are
strict (unknown fields are errors) so that a typo in a pack is caught by `kap content check`
instead of silently ignored.
"""

from __future__ import annotations

from collections import Counter
from functools import cached_property
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=60)]
Kind = Literal["checklist", "reflection", "scale", "questionnaire", "worksheet", "practice"]
KINDS: tuple[str, ...] = Kind.__args__  # type: ignore[attr-defined]
ItemType = Literal["check", "text", "choice", "rating"]
# A language a pack is written or translated in (BCP 47: "en", "es", "es-MX").
Language = Annotated[str, Field(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")]

# The answer type an item has when its instrument's kind leaves no doubt.
DEFAULT_ITEM_TYPE: dict[str, ItemType] = {
    "checklist": "check",
    "reflection": "text",
    "worksheet": "text",
    "scale": "rating",
    "questionnaire": "choice",
    "practice": "text",
}
# Kinds whose free text a person writes: stored encrypted, saved as drafts.
FREE_TEXT_TYPES = {"text"}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Option(Strict):
    value: Slug
    label: str
    weight: float | None = None
    code: str | None = None  # e.g. a LOINC answer code (LA6568-5)


class Item(Strict):
    key: Slug
    text: str
    help: str = ""
    type: ItemType | None = None
    required: bool | None = None
    options: list[Option] | None = None
    min: int = 0
    max: int = 10
    min_label: str = ""
    max_label: str = ""
    scored: bool = True
    code: str | None = None
    # Named roles other parts of the app look for, e.g. "questions-to-bring", "next-steps".
    tags: list[Slug] = []
    # The linkId of the FHIR Questionnaire item this came from (imports only). Left out of dumps
    # when unset, so that adding it changed no stored instrument's checksum.
    link_id: str | None = Field(default=None, exclude_if=lambda v: v is None)


class Band(Strict):
    min: float
    max: float
    label: str


class Scoring(Strict):
    method: Literal["sum", "count", "mean"]
    min: float | None = None
    max: float | None = None
    bands: list[Band] = []
    code: str | None = None  # LOINC code of the total, e.g. 44261-6
    label: str = "Total"

    def band_for(self, total: float) -> Band | None:
        return next((b for b in self.bands if b.min <= total <= b.max), None)


class Step(Strict):
    key: Slug
    text: str
    seconds: int | None = Field(default=None, ge=1, le=3600)


class Pace(Strict):
    key: Slug
    label: str
    inhale: float = Field(gt=0, le=20)
    hold_in: float = Field(default=0, ge=0, le=20)
    exhale: float = Field(gt=0, le=20)
    hold_out: float = Field(default=0, ge=0, le=20)


class Duration(Strict):
    min_minutes: int = Field(ge=1)
    max_minutes: int = Field(ge=1)
    default_minutes: int = Field(ge=1)


class Attribution(Strict):
    text: str
    url: str | None = None


class Interpretation(Strict):
    """Words shown with a result, chosen by the score (e.g. how many signs were ticked)."""

    min: float
    max: float
    text: str


class InstrumentSpec(Strict):
    key: Slug
    version: int = Field(ge=1)
    kind: Kind
    title: str
    page: Slug | None = None  # the guide page this instrument belongs to
    intro: str = ""
    prompt: str = ""  # the stem every item answers, e.g. "Over the last 2 weeks, ..."
    items: list[Item] = []
    options: list[Option] | None = None  # default options for choice items
    scoring: Scoring | None = None
    interpretations: list[Interpretation] = []
    steps: list[Step] = []
    paces: list[Pace] = []
    duration: Duration | None = None
    notings: list[Slug] = []  # labels a person may tap during a practice
    code: str | None = None  # LOINC panel code
    attribution: Attribution | None = None
    # Where an imported instrument came from: the FHIR Questionnaire's canonical url|version.
    source: str | None = Field(default=None, exclude_if=lambda v: v is None)
    # "published-only": the instrument's own words (title, prompt, items, options, scoring) are
    # shown in another language only in a translation its authors published, never in one of
    # ours; until the pack carries one, a person reading another language sees the original with
    # a note saying so (kap.content.translations). Never in a dump: it says how the text may be
    # translated, not what the instrument asks, so it is no part of the stored spec or its
    # checksum (marking an instrument makes no new version of it).
    translation: Literal["published-only"] | None = Field(default=None, exclude=True)

    # Set on the copy made for one language (kap.content.translations.shown_instrument).
    _text_language: str = PrivateAttr(default="")
    _noting_labels: dict[str, str] = PrivateAttr(default_factory=dict)
    _original: InstrumentSpec | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check_kind(self) -> InstrumentSpec:
        # Counted in one pass: list.count per item was quadratic (minutes for a 20,000-item file).
        dupes = sorted(k for k, n in Counter(i.key for i in self.items).items() if n > 1)
        if dupes:
            raise ValueError(f"duplicate item key {dupes[0]!r}")
        for item in self.items:
            kind_type = item.type or DEFAULT_ITEM_TYPE[self.kind]
            if kind_type == "choice":
                options = item.options or self.options
                if not options:
                    raise ValueError(f"item {item.key!r} is a choice but has no options")
                values = [o.value for o in options]
                if len(set(values)) != len(values):
                    raise ValueError(f"item {item.key!r} has duplicate option values")
                if self.kind == "questionnaire" and item.scored:
                    missing = [o.value for o in options if o.weight is None]
                    if missing:
                        raise ValueError(
                            f"scored item {item.key!r}: option {missing[0]!r} has no weight"
                        )
            if kind_type == "rating" and item.min >= item.max:
                raise ValueError(f"item {item.key!r}: min must be below max")
        if self.kind == "practice" and not self.steps:
            raise ValueError("a practice needs at least one step")
        if self.kind != "practice" and not self.items:
            raise ValueError(f"a {self.kind} needs at least one item")
        return self

    def item_type(self, item: Item) -> ItemType:
        return item.type or DEFAULT_ITEM_TYPE[self.kind]

    def options_for(self, item: Item) -> list[Option]:
        return list(item.options or self.options or [])

    def is_required(self, item: Item) -> bool:
        if item.required is not None:
            return item.required
        # Scored answers are never guessed: a missing one is refused, not counted as zero.
        return self.item_type(item) in {"choice", "rating"}

    @cached_property
    def items_by_key(self) -> dict[str, Item]:
        return {i.key: i for i in self.items}

    def tagged(self, tag: str) -> list[Item]:
        return [i for i in self.items if tag in i.tags]

    @property
    def has_free_text(self) -> bool:
        return any(self.item_type(i) in FREE_TEXT_TYPES for i in self.items)

    @property
    def text_language(self) -> str:
        """The language of the questions and options as shown, when it is not the language of
        the page around them (a published-only instrument, or one not translated into the
        person's language): for a `lang` attribute, so a screen reader reads them in it. ""
        when they are in the page's language."""
        return self._text_language

    @property
    def noting_labels(self) -> list[tuple[str, str]]:
        """(noting, its label as shown) for each noting: the noting itself is what is stored."""
        return [(n, self._noting_labels.get(n) or n.capitalize()) for n in self.notings]

    @property
    def noting_label_list(self) -> list[str]:
        """The notings' labels as shown, in order (for a sentence naming them)."""
        return [label for _noting, label in self.noting_labels]

    @property
    def original(self) -> InstrumentSpec:
        """The instrument as its pack wrote it, before any translation: for what compares or
        matches its words (kap.content.crisis) rather than shows them."""
        return self._original or self


class CrisisResource(Strict):
    name: str
    action: str  # what to do, in plain words: "Call or text 988"
    # tel:, sms: or https: only; a pack can never put a javascript: or data: link on every page.
    href: str | None = Field(default=None, pattern=r"^(tel:|sms:|https://)\S+$")
    # The language of `name` and `action` (BCP 47, e.g. "es") when it is not the pack's: read
    # aloud in that language by a screen reader.
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


class Region(Strict):
    name: str
    # The region's name's language when it is not the pack's ("México", "España").
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    resources: list[CrisisResource] = Field(min_length=1)


class SafetyRule(Strict):
    """A rule checked on every submitted response of one instrument."""

    key: Slug
    instrument: Slug
    item: Slug
    above: float  # triggers when the chosen option's weight is above this
    message: str


# What the app does with an instrument, named in a pack's `roles:` (kap.content.roles):
# intention — set before a session (Today, the session page, shown above other check-ins);
# worksheet — filled after a session (Today, the session page, the summary, the printed sheet);
# outcomes — the changes a person hopes for, rated now and again (Progress, the brief);
# preparation — done once before the first session (Today; its questions go to "Questions");
# screening — the first look at whether KAP might help (Today, until it is done);
# support — the longer reflection behind "Your support".
Role = Literal["intention", "worksheet", "outcomes", "preparation", "screening", "support"]
ROLES: tuple[str, ...] = Role.__args__  # type: ignore[attr-defined]
# The sharing scopes that share answers to instruments (kap.care.sharing says what else each
# scope shares, and whether it shares answers or only scores).
ShareScope = Literal["scores", "intentions", "worksheets"]
SHARE_SCOPES: tuple[str, ...] = ShareScope.__args__  # type: ignore[attr-defined]


class Measure(Strict):
    """A scored instrument followed over time: on Progress, Today, the roster and the brief."""

    instrument: Slug
    label: str = Field(max_length=30)  # its short name, e.g. "PHQ-9"
    # Suggested again on Today (and in reminders) this many days after it was last filled in.
    again_after_days: int | None = Field(default=None, ge=1, le=365)
    # Where the instrument's authors publish them: a fall to this fraction of the first score or
    # less is a "response"; a total below this from at or above it is a "remission".
    response_fraction: float | None = Field(default=None, gt=0, lt=1)
    remission_below: float | None = None


class TranslationMeta(Strict):
    """What a pack says of one of its translations (pack.yaml, `translations:`)."""

    # Awaiting review, each clinic's admins see a flag until their clinic marks it reviewed
    # (kap.content.reviews); a pack whose translation a clinician reviewed already says so.
    review: Literal["awaiting-clinical-review", "clinically-reviewed"] = "awaiting-clinical-review"


class PageRef(Strict):
    slug: Slug
    title: str
    file: str
    instruments: list[Slug] = []


class PackSpec(Strict):
    key: Slug
    title: str
    version: int = Field(ge=1)
    language: Language
    default_region: str
    crisis_resources: dict[str, Region] = Field(min_length=1)
    not_monitored: str = (
        "KAP Companion is not monitored in real time. Nobody reads what you write as you write it."
    )
    pages: list[PageRef] = Field(min_length=1)
    instruments: list[str] = []  # instrument files, relative to the pack folder
    safety_rules: list[SafetyRule] = []
    # What the app does with the pack's instruments (see Role, Measure, ShareScope). The loader
    # checks that every key named here is one of the pack's instruments.
    roles: dict[Role, Slug] = {}
    measures: list[Measure] = []
    sharing: dict[ShareScope, list[Slug]] = {}
    # The languages the pack is translated into, each in a folder of its own beside the pack's
    # files (kap.content.translations). Left out of dumps when there are none, so that a pack
    # without translations keeps the checksum it had.
    translations: dict[Language, TranslationMeta] = Field(
        default_factory=dict, exclude_if=lambda v: not v
    )

    @model_validator(mode="after")
    def _check(self) -> PackSpec:
        if self.language in self.translations:
            raise ValueError(f"translations: the pack is written in {self.language!r} already")
        if self.default_region not in self.crisis_resources:
            raise ValueError(f"default_region {self.default_region!r} has no crisis resources")
        dupes = sorted(s for s, n in Counter(p.slug for p in self.pages).items() if n > 1)
        if dupes:
            raise ValueError(f"duplicate page slug {dupes[0]!r}")
        dupes = sorted(k for k, n in Counter(m.instrument for m in self.measures).items() if n > 1)
        if dupes:
            raise ValueError(f"measure {dupes[0]!r} is listed twice")
        shared = Counter(k for keys in self.sharing.values() for k in keys)
        dupes = sorted(k for k, n in shared.items() if n > 1)
        if dupes:
            raise ValueError(f"instrument {dupes[0]!r} is shared under two scopes")
        return self

    def named_keys(self) -> list[tuple[str, str]]:
        """(field path, instrument key) for every key the pack's roles, measures and sharing name:
        each must be one of its instruments (the loader checks)."""
        out = [(f"roles.{role}", key) for role, key in self.roles.items()]
        out += [(f"measures.{n}.instrument", m.instrument) for n, m in enumerate(self.measures)]
        out += [
            (f"sharing.{scope}.{n}", key)
            for scope, keys in self.sharing.items()
            for n, key in enumerate(keys)
        ]
        return out
