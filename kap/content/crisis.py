"""Crisis resources by region, from the default pack."""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from django.conf import settings

from kap.content.models import Instrument, Pack, Scope
from kap.content.specs import PackSpec, Region, SafetyRule
from kap.content.translations import active_language, same_language


def default_pack() -> Pack | None:
    return Pack.objects.filter(scope=Scope.SERVER, key=settings.DEFAULT_PACK).first()


def pack_for_crisis(instrument: Instrument) -> Pack | None:
    """The pack whose crisis resources go with this instrument: its own, or (for a questionnaire
    imported from FHIR, which has no pack) the default pack."""
    return instrument.pack if instrument.pack_id else default_pack()


def safety_rules_for(instrument: Instrument) -> list[SafetyRule]:
    """The safety rules checked on every submitted response of this instrument.

    A pack's instruments have the pack's rules. A questionnaire imported from FHIR has none of its
    own, yet may ask the very question a rule watches (PHQ-9 item 9): each rule of the default pack
    applies to an imported item with the same LOINC code or, failing that, the same wording.
    """
    if instrument.pack_id:
        return list(instrument.pack.parsed.safety_rules)
    pack = default_pack()
    if pack is None:
        return []
    watched = _watched_items(pack)
    spec = instrument.source_spec
    rules = []
    for rule in pack.parsed.safety_rules:
        code, text = watched.get((rule.instrument, rule.item), (None, ""))
        for item in spec.items:
            if (code and item.code == code) or _same_wording(item.text, text):
                rules.append(rule.model_copy(update={"instrument": spec.key, "item": item.key}))
    return rules


def _watched_items(pack: Pack) -> dict[tuple[str, str], tuple[str | None, str]]:
    keys = {rule.instrument for rule in pack.parsed.safety_rules}
    out = {}
    for inst in Instrument.objects.current().filter(pack=pack, key__in=keys):
        for item in inst.source_spec.items:  # (the words as published, not as shown)
            out[(inst.key, item.key)] = (item.code, item.text)
    return out


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", (text or "").lower()))


def _same_wording(a: str, b: str) -> bool:
    """The same question in another publisher's punctuation and small rewordings."""
    a, b = _words(a), _words(b)
    return bool(a and b) and SequenceMatcher(None, a, b).ratio() >= 0.85


def regions_for(spec: PackSpec, preferred: str = "") -> list[tuple[str, Region]]:
    """All regions, the person's own (or the pack's default) first. Read in another language
    than the pack's, each region's resources in that language come first (in the United States,
    in Spanish: the 988 Lifeline's Spanish line and Crisis Text Line en español)."""
    first = preferred if preferred in spec.crisis_resources else spec.default_region
    ordered = [(first, spec.crisis_resources[first])]
    ordered += [(code, r) for code, r in spec.crisis_resources.items() if code != first]
    reading = active_language()
    if same_language(reading, spec.language):
        return ordered
    return [(code, _in_language_first(region, reading)) for code, region in ordered]


def _in_language_first(region: Region, language: str) -> Region:
    theirs = [r for r in region.resources if same_language(r.language or "", language)]
    if not theirs:
        return region
    rest = [r for r in region.resources if r not in theirs]
    return region.model_copy(update={"resources": theirs + rest})


def region_choices() -> list[tuple[str, str]]:
    pack = default_pack()
    if pack is None:
        return []
    return [(code, r.name) for code, r in pack.parsed.crisis_resources.items()]
