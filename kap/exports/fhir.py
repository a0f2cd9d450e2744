"""FHIR R4 export: pure functions from an instrument spec (and a set of answers) to FHIR JSON.

Every function returns plain dicts ready for `json.dumps`. Nothing here touches the database; the
only clock read is `bundle()`'s default timestamp. What each instrument becomes:

- `questionnaire(spec)`: a Questionnaire. check → boolean, text → text, choice → choice with
  answerOption valueCoding (LOINC when the option carries an LA answer code, else the instrument's
  local CodeSystem) and an ordinalValue for weighted options, rating → integer with minValue and
  maxValue. The prompt and a practice's steps are display items; an item's help is a display child
  with itemControl "help"; a rating's end labels are display children with itemControl "lower" and
  "upper". A LOINC-coded sum of weighted choices also gets a read-only calculated total item, as in
  the HL7 SDC examples, so that other systems score it the same way. A questionnaire imported
  from FHIR keeps its publisher's canonical url and version (`InstrumentSpec.source`), here and in
  QuestionnaireResponse.questionnaire (`canonical_url`).
- `questionnaire_response(spec, answers)`: the answers, typed as the Questionnaire asks.
- `score_observation(spec, total)`: the total as a LOINC-coded survey Observation.
- `bundle(resources)`: a collection Bundle of any of the above.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime

from kap.content.scoring import IncompleteAnswers, score
from kap.content.specs import InstrumentSpec, Item, Option

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ORDINAL_VALUE = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
ITEM_CONTROL = "http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl"
ITEM_CONTROL_SYSTEM = "http://hl7.org/fhir/questionnaire-item-control"
SLIDER_STEP = "http://hl7.org/fhir/StructureDefinition/questionnaire-sliderStepValue"
QUESTIONNAIRE_UNIT = "http://hl7.org/fhir/StructureDefinition/questionnaire-unit"
CALCULATED_EXPRESSION = (
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression"
)
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"

# LOINC answer codes ("LA6568-5") and the displays of the totals this app knows.
LOINC_ANSWER_CODE = re.compile(r"^LA\d{1,8}-\d$")
LOINC_DISPLAYS = {
    "44261-6": "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]",
    "70274-6": "Generalized anxiety disorder 7 item (GAD-7) total score [Reported]",
}
SCORE_UNIT = {"unit": "{score}", "system": UCUM, "code": "{score}"}
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")

ITEM_TYPES = {"check": "boolean", "text": "text", "choice": "choice", "rating": "integer"}
RESPONSE_STATUSES = {"in-progress", "completed", "amended", "entered-in-error", "stopped"}
_QUESTIONNAIRE_PATH = re.compile(r"^(?P<base>.*)/fhir/Questionnaire/[^/|]+(\|.*)?$")


def item_link_id(item: Item) -> str:
    """The linkId an item has in FHIR: the imported one when it came from FHIR, else its key."""
    return item.link_id or item.key


def canonical_url(spec: InstrumentSpec, *, base_url: str) -> str:
    """The versioned canonical URL to put in QuestionnaireResponse.questionnaire: an imported
    Questionnaire's own (url|version, as its publisher gave it), so that the answers still name the
    questionnaire they answer; otherwise this server's URL for the instrument."""
    if spec.source:
        return spec.source
    return f"{_base(base_url)}/fhir/Questionnaire/{spec.key}|{spec.version}"


def _identity(spec: InstrumentSpec, base: str) -> dict:
    """Questionnaire.url and .version: the publisher's for an import (the linkIds, answers and
    weights are theirs), this server's for a pack's instrument."""
    if spec.source:
        url, _, version = spec.source.partition("|")
        return {"url": url, "version": version} if version else {"url": url}
    return {"url": f"{base}/fhir/Questionnaire/{spec.key}", "version": str(spec.version)}


def local_code_system(spec: InstrumentSpec, *, base_url: str) -> str:
    """The code system of options that carry no LOINC answer code: code = the option's value."""
    return f"{_base(base_url)}/fhir/CodeSystem/{spec.key}"


# --- Questionnaire ---------------------------------------------------------------------------


def questionnaire(spec: InstrumentSpec, *, base_url: str) -> dict:
    base = _base(base_url)
    total_link = _total_link(spec)
    fresh = _LinkIds([item_link_id(i) for i in spec.items] + [total_link])
    items: list[dict] = []
    if spec.prompt:
        items.append(_display(fresh("prompt"), spec.prompt))
    for step in spec.steps:
        items.append(_display(fresh(f"step/{step.key}"), step.text))
    for item in spec.items:
        items.append(_question(spec, item, base, fresh))
    if _has_total_item(spec):
        items.append(_total_item(spec, total_link))

    out: dict = {
        "resourceType": "Questionnaire",
        "id": _fhir_id(spec.key),
        **_identity(spec, base),
    }
    name = _pascal(spec.key)
    if name:
        out["name"] = name
    out["title"] = spec.title
    out["status"] = "active"
    out["subjectType"] = ["Patient"]
    if spec.intro:
        out["description"] = spec.intro
    if spec.attribution:
        text = spec.attribution.text
        out["copyright"] = f"{text}\n\n{spec.attribution.url}" if spec.attribution.url else text
    if spec.code:
        out["code"] = [{"system": LOINC, "code": spec.code}]
    if items:
        out["item"] = items
    return out


def _question(spec: InstrumentSpec, item: Item, base: str, fresh: _LinkIds) -> dict:
    link = item_link_id(item)
    kind = spec.item_type(item)
    out: dict = {"linkId": link}
    if item.code:
        out["code"] = [{"system": LOINC, "code": item.code}]
    out["text"] = item.text
    out["type"] = ITEM_TYPES[kind]
    out["required"] = spec.is_required(item)
    extensions: list[dict] = []
    children: list[dict] = []
    if kind == "choice":
        out["answerOption"] = [_answer_option(spec, o, base) for o in spec.options_for(item)]
    elif kind == "rating":
        extensions += [
            {"url": MIN_VALUE, "valueInteger": item.min},
            {"url": MAX_VALUE, "valueInteger": item.max},
            _item_control("slider", "Slider"),
            {"url": SLIDER_STEP, "valueInteger": 1},
        ]
        if item.min_label:
            children.append(_display(fresh(f"{link}/lower"), item.min_label, control="lower"))
        if item.max_label:
            children.append(_display(fresh(f"{link}/upper"), item.max_label, control="upper"))
    if item.help:
        children.insert(0, _display(fresh(f"{link}/help"), item.help, control="help"))
    if extensions:
        out = {"extension": extensions, **out}
    if children:
        out["item"] = children
    return out


def _answer_option(spec: InstrumentSpec, option: Option, base: str) -> dict:
    out: dict = {}
    if option.weight is not None:
        out["extension"] = [{"url": ORDINAL_VALUE, "valueDecimal": _number(option.weight)}]
    out["valueCoding"] = option_coding(spec, option, base_url=base)
    return out


def option_coding(spec: InstrumentSpec, option: Option, *, base_url: str) -> dict:
    if option.code and LOINC_ANSWER_CODE.match(option.code):
        return {"system": LOINC, "code": option.code, "display": option.label}
    return {
        "system": local_code_system(spec, base_url=base_url),
        "code": option.value,
        "display": option.label,
    }


def _has_total_item(spec: InstrumentSpec) -> bool:
    """A LOINC-coded sum of weighted choices, the one total FHIRPath can state portably."""
    rule = spec.scoring
    if rule is None or not rule.code or rule.method != "sum":
        return False
    scored = [i for i in spec.items if i.scored]
    return bool(scored) and all(
        spec.item_type(i) == "choice" and all(o.weight is not None for o in spec.options_for(i))
        for i in scored
    )


def _total_link(spec: InstrumentSpec) -> str:
    return _LinkIds(item_link_id(i) for i in spec.items)("total")


def _total_item(spec: InstrumentSpec, link: str) -> dict:
    rule = spec.scoring
    assert rule is not None and rule.code
    ids = " | ".join(_fhirpath_string(item_link_id(i)) for i in spec.items if i.scored)
    coding = {"system": LOINC, "code": rule.code}
    if rule.code in LOINC_DISPLAYS:
        coding["display"] = LOINC_DISPLAYS[rule.code]
    return {
        "extension": [
            {
                "url": CALCULATED_EXPRESSION,
                "valueExpression": {
                    "description": f"{rule.label}: sum of the answers' ordinal values",
                    "language": "text/fhirpath",
                    "expression": (
                        f"%resource.item.where(linkId in ({ids})).answer.value.ordinal().sum()"
                    ),
                },
            },
            {"url": QUESTIONNAIRE_UNIT, "valueCoding": {"system": UCUM, "code": "{score}"}},
        ],
        "linkId": link,
        "code": [coding],
        "text": rule.label,
        "type": "decimal",
        "required": False,
        "readOnly": True,
    }


def _display(link: str, text: str, *, control: str | None = None) -> dict:
    out: dict = {"linkId": link, "text": text, "type": "display"}
    if control:
        display = {"help": "Help-Button", "lower": "Lower-bound", "upper": "Upper-bound"}[control]
        out = {"extension": [_item_control(control, display)], **out}
    return out


def _item_control(code: str, display: str) -> dict:
    return {
        "url": ITEM_CONTROL,
        "valueCodeableConcept": {
            "coding": [{"system": ITEM_CONTROL_SYSTEM, "code": code, "display": display}]
        },
    }


class _LinkIds:
    """Hands out linkIds for display and total items that no question already uses."""

    def __init__(self, taken):
        self.taken = set(taken)

    def __call__(self, wanted: str) -> str:
        link, n = wanted, 2
        while link in self.taken:
            link, n = f"{wanted}-{n}", n + 1
        self.taken.add(link)
        return link


# --- QuestionnaireResponse -------------------------------------------------------------------


def questionnaire_response(
    spec: InstrumentSpec,
    answers: dict,
    *,
    response_id: str,
    questionnaire_url: str,
    authored: datetime,
    subject_ref: str,
    status: str = "completed",
    base_url: str | None = None,
) -> dict:
    """Answers as FHIR. `base_url` names the local CodeSystem of options without a LOINC code;
    when left out it is read from `questionnaire_url` (`{base_url}/fhir/Questionnaire/{key}`),
    which an imported questionnaire's canonical URL is not: pass it for those."""
    if status not in RESPONSE_STATUSES:
        raise ValueError(f"status {status!r} is not a QuestionnaireResponse status")
    if base_url is None:
        match = _QUESTIONNAIRE_PATH.match(questionnaire_url)
        base_url = match["base"] if match else None
    items = []
    for item in spec.items:
        value = answers.get(item.key)
        if value is None or value == "":
            continue
        items.append(
            {
                "linkId": item_link_id(item),
                "text": item.text,
                "answer": [_answer(spec, item, value, base_url)],
            }
        )
    if status == "completed" and _has_total_item(spec):
        try:
            result = score(spec, answers)
        except IncompleteAnswers:
            result = None
        if result is not None:
            items.append(
                {
                    "linkId": _total_link(spec),
                    "text": spec.scoring.label,  # type: ignore[union-attr]
                    "answer": [{"valueDecimal": _number(result.total)}],
                }
            )
    out: dict = {
        "resourceType": "QuestionnaireResponse",
        "id": _fhir_id(response_id),
        "questionnaire": questionnaire_url,
        "status": status,
        "subject": {"reference": subject_ref},
        "authored": _datetime(authored, "authored"),
    }
    if items:
        out["item"] = items
    return out


def _answer(spec: InstrumentSpec, item: Item, value: object, base_url: str | None) -> dict:
    kind = spec.item_type(item)
    where = f"item {item.key!r}"
    if kind == "check":
        if not isinstance(value, bool):
            raise ValueError(f"{where}: a check answer must be true or false, not {value!r}")
        return {"valueBoolean": value}
    if kind == "text":
        return {"valueString": str(value)}
    if kind == "rating":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(f"{where}: {value!r} is not a whole number")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{where}: {value!r} is not a whole number") from None
        if not number.is_integer() or not item.min <= number <= item.max:
            raise ValueError(
                f"{where}: {value!r} is not a whole number from {item.min} to {item.max}"
            )
        return {"valueInteger": int(number)}
    for option in spec.options_for(item):
        if option.value == value:
            if not (option.code and LOINC_ANSWER_CODE.match(option.code)) and base_url is None:
                raise ValueError(
                    f"{where}: option {option.value!r} has no LOINC code; pass base_url to name"
                    " the local code system"
                )
            return {"valueCoding": option_coding(spec, option, base_url=base_url or "")}
    raise ValueError(f"{where}: {value!r} is not one of its options")


# --- Observation -----------------------------------------------------------------------------


def score_observation(
    spec: InstrumentSpec,
    total: float,
    *,
    observation_id: str,
    effective: datetime,
    subject_ref: str,
    derived_from_ref: str | None,
) -> dict | None:
    """The total as a survey Observation, or None when the instrument's total has no LOINC code."""
    rule = spec.scoring
    if rule is None or not rule.code:
        return None
    if (rule.min is not None and total < rule.min) or (rule.max is not None and total > rule.max):
        raise ValueError(f"total {total:g} is outside {rule.min:g}–{rule.max:g}")
    coding = {"system": LOINC, "code": rule.code}
    if rule.code in LOINC_DISPLAYS:
        coding["display"] = LOINC_DISPLAYS[rule.code]
    out: dict = {
        "resourceType": "Observation",
        "id": _fhir_id(observation_id),
        "status": "final",
        "category": [
            {"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}
        ],
        "code": {"coding": [coding], "text": rule.label},
        "subject": {"reference": subject_ref},
        "effectiveDateTime": _datetime(effective, "effective"),
        "valueQuantity": {"value": _number(total), **SCORE_UNIT},
    }
    band = rule.band_for(total)
    if band is not None:
        out["interpretation"] = [{"text": band.label}]
    if derived_from_ref:
        out["derivedFrom"] = [{"reference": derived_from_ref}]
    return out


# --- Bundle ----------------------------------------------------------------------------------


def bundle(
    resources: list[dict],
    *,
    base_url: str,
    timestamp: datetime | None = None,
    bundle_id: str | None = None,
) -> dict:
    """A collection Bundle; each entry's fullUrl is `{base_url}/fhir/{resourceType}/{id}`."""
    base = _base(base_url)
    entries, seen = [], set()
    for resource in resources:
        kind, ident = resource.get("resourceType"), resource.get("id")
        if not kind or not ident:
            raise ValueError("every resource in a bundle needs a resourceType and an id")
        full_url = f"{base}/fhir/{kind}/{ident}"
        if full_url in seen:
            raise ValueError(f"{kind}/{ident} is in the bundle twice")
        seen.add(full_url)
        entries.append({"fullUrl": full_url, "resource": resource})
    out: dict = {"resourceType": "Bundle"}
    if bundle_id:
        out["id"] = _fhir_id(bundle_id)
    out |= {
        "type": "collection",
        "timestamp": _datetime(timestamp or datetime.now(UTC), "timestamp"),
    }
    if entries:
        out["entry"] = entries
    return out


# --- helpers ---------------------------------------------------------------------------------


def _base(base_url: str) -> str:
    return base_url.rstrip("/")


def _fhir_id(value: str) -> str:
    if not FHIR_ID.match(value):
        raise ValueError(f"{value!r} is not a FHIR id (A-Z a-z 0-9 - . up to 64 characters)")
    return value


def _datetime(value: datetime, name: str) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware: FHIR needs an offset with a time")
    return value.isoformat()


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _pascal(key: str) -> str | None:
    """Questionnaire.name (a code-friendly label), when `slug` turns it back into the same key."""
    name = "".join(p[:1].upper() + p[1:] for p in key.split("-"))
    return name if re.match(r"^[A-Z][A-Za-z0-9_]*$", name) and slug(name) == key else None


def slug(text: str, *, max_length: int = 60) -> str:
    """A key from a FHIR name, linkId or code: "PHQ-9 panel" → "phq-9-panel",
    "/44250-9" → "44250-9", "H1/T1/Q1" → "h1-t1-q1", "SleepDiaryWeekly" → "sleep-diary-weekly".
    Empty when nothing usable is left."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1-\2", text)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1-\2", text)
    text = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return text[:max_length].rstrip("-")


def _fhirpath_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
