"""FHIR R4 import: a Questionnaire (parsed JSON) becomes a new instrument spec; a
QuestionnaireResponse becomes an answer dict that `kap.content.scoring.score` scores.

Pure functions, no database. Real-world resources are read as they are (the NLM LHC-Forms PHQ-9
does not even pass strict model validation), so this reads only the elements it needs and refuses,
naming the item, only what it cannot honour: conditional display (enableWhen and
enableWhenExpression), repeating groups and repeated answers, answer lists outside the resource,
dynamic answer lists, attachments, references, URLs, open-choice, and any modifierExtension.
Rendering extensions, meta, identifiers, variables and the calculated total are safely ignored.

What an import becomes:
- kind `questionnaire` when any choice item has ordinal weights (answerOption ordinalValue or the
  older itemWeight, or a contained ValueSet's concept extensions), scored as the sum of the weighted
  choices; choice items without weights stay unscored and optional (PHQ-9 item 10).
- otherwise `checklist` (all boolean), `scale` (all bounded integers) or `reflection`, unscored.
- groups are flattened in order: the first group's text becomes the prompt (when no leading
  display item gave one), a later group's text goes into the help of its first question.
- a read-only or calculated item (the "total" item) is not a question; its LOINC code, if any,
  becomes scoring.code. Hidden items are dropped.
- keys are slugs of Questionnaire.name (else id) and of each linkId; the linkId is kept in
  `Item.link_id`, the canonical url|version in `InstrumentSpec.source`. LOINC codes are kept.

Score bands: FHIR R4 and SDC have no element or standard extension that states a Questionnaire's
score bands (the NLM PHQ-9 writes them only as prose in a displayCategory; the HL7 SDC PHQ-9 not at
all), so none are read from the resource. Instead `with_known_scoring` lends an import the bands of
the instrument the server already knows under the same LOINC panel code, when they score alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from pydantic import ValidationError

from kap.content.specs import Attribution, InstrumentSpec, Item, Option, Scoring
from kap.exports.fhir import (
    CALCULATED_EXPRESSION,
    ITEM_CONTROL,
    LOINC,
    LOINC_ANSWER_CODE,
    MAX_VALUE,
    MIN_VALUE,
    ORDINAL_VALUE,
    item_link_id,
    slug,
)

ITEM_WEIGHT = "http://hl7.org/fhir/StructureDefinition/itemWeight"
CO_VALUE = "http://hl7.org/fhir/StructureDefinition/iso21090-CO-value"  # STU3's ordinal value
WEIGHT_URLS = {ORDINAL_VALUE, ITEM_WEIGHT, CO_VALUE}
SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition/"
ENABLE_WHEN_EXPRESSION = SDC + "sdc-questionnaire-enableWhenExpression"
HIDDEN = "http://hl7.org/fhir/StructureDefinition/questionnaire-hidden"
# Extensions that change which answers exist or when an item is asked: not safe to ignore.
REFUSED_EXTENSIONS = {
    ENABLE_WHEN_EXPRESSION: gettext_lazy("enableWhenExpression (a FHIRPath condition)"),
    SDC + "sdc-questionnaire-answerExpression": gettext_lazy(
        "answerExpression (answers computed by FHIRPath)"
    ),
    SDC + "sdc-questionnaire-candidateExpression": "candidateExpression",
    SDC + "sdc-questionnaire-answerOptionsToggleExpression": "answerOptionsToggleExpression",
}
LOINC_CODE = re.compile(r"^\d{1,8}-\d$")
TEXT_TYPES = {"string", "text", "date", "dateTime", "time"}
NUMBER_TYPES = {"decimal", "integer", "quantity"}


class UnsupportedQuestionnaire(ValueError):
    """A Questionnaire that cannot be imported; the message names the item and the feature."""


class ResponseMismatch(ValueError):
    """A QuestionnaireResponse whose answers do not fit the instrument."""


# --- Questionnaire → InstrumentSpec ----------------------------------------------------------


def instrument_from_questionnaire(data: dict) -> InstrumentSpec:
    if not isinstance(data, dict):
        raise UnsupportedQuestionnaire(
            _("expected a FHIR Questionnaire resource (a JSON object), got %(found)s")
            % {"found": type(data).__name__}
        )
    if data.get("resourceType") != "Questionnaire":
        found = data.get("resourceType")
        if found:
            raise UnsupportedQuestionnaire(
                _("expected a FHIR Questionnaire resource, got resourceType %(found)s")
                % {"found": repr(found)}
            )
        raise UnsupportedQuestionnaire(
            _("expected a FHIR Questionnaire resource, got no resourceType")
        )
    if data.get("modifierExtension"):
        raise UnsupportedQuestionnaire(
            _("the Questionnaire has a modifierExtension, which changes its meaning")
        )
    try:
        return _instrument(data)
    except ValidationError as e:
        reason = "; ".join(err["msg"].removeprefix("Value error, ") for err in e.errors())
        raise UnsupportedQuestionnaire(
            _("the Questionnaire does not make a valid instrument: %(reason)s") % {"reason": reason}
        ) from None


def _instrument(data: dict) -> InstrumentSpec:
    reader = _Reader(data)
    reader.walk(data.get("item") or [])
    questions = reader.questions
    if not questions:
        raise UnsupportedQuestionnaire(_("the Questionnaire has no questions that can be imported"))

    weighted = [q for q in questions if q["type"] == "choice" and q["weighted"]]
    kind = "questionnaire" if weighted else _kind_without_weights(questions)
    keys: dict[str, int] = {}
    items = []
    for q in questions:
        key = _unique(slug(q["link_id"]) or "item", keys)
        scored = kind == "questionnaire" and q["type"] == "choice" and q["weighted"]
        fields = {
            "key": key,
            "text": q["text"],
            "help": q["help"],
            "type": q["type"],
            # The app never guesses a scored answer, so a weighted question is always required.
            "required": True if scored else q["required"],
            "scored": scored,
            "code": q["code"],
            "link_id": q["link_id"],
        }
        if q["type"] == "choice":
            fields["options"] = q["options"]
        if q["type"] == "rating":
            fields |= {k: q[k] for k in ("min", "max", "min_label", "max_label")}
        items.append(Item(**fields))

    scoring = None
    if kind == "questionnaire":
        codes = {code for code, _ in reader.totals if code}
        label = next((text for code, text in reader.totals if code and text), "") or "Total"
        scoring = Scoring(
            method="sum",
            min=sum(min(o.weight for o in q["options"]) for q in weighted),
            max=sum(max(o.weight for o in q["options"]) for q in weighted),
            code=codes.pop() if len(codes) == 1 else None,
            label=label,
        )

    key = slug(str(data.get("name") or "")) or slug(str(data.get("id") or ""))
    url = data.get("url")
    source = f"{url}|{data['version']}" if url and data.get("version") else url
    return InstrumentSpec(
        key=key or "imported-questionnaire",
        version=1,
        kind=kind,
        title=str(data.get("title") or data.get("name") or key or "Imported questionnaire"),
        intro=str(data.get("description") or ""),
        prompt="\n\n".join(reader.prompt),
        items=items,
        scoring=scoring,
        code=_loinc_code(data.get("code")),
        attribution=_attribution(data.get("copyright")),
        source=source,
    )


def with_known_scoring(spec: InstrumentSpec, known: Iterable[InstrumentSpec]) -> InstrumentSpec:
    """The import with the bands, label and total code of a known instrument that is the same
    measure: the same LOINC panel code (PHQ-9: 44249-1), scored the same way over the same range
    (a "PHQ-9" whose totals run over another range would be put in the wrong bands). `known` is
    tried in order, the first that fits wins; an import that already has bands, or no panel code,
    is left as it is.

    Only the wording of the result changes: the items, their weights and so the total do not.
    """
    own = spec.scoring
    if own is None or own.bands or not spec.code:
        return spec
    for other in known:
        rule = other.scoring
        if other.code != spec.code or rule is None or not rule.bands:
            continue
        if (rule.method, rule.min, rule.max) != (own.method, own.min, own.max):
            continue
        if own.code and rule.code and own.code != rule.code:
            continue  # the import says its total is another measure's
        scoring = own.model_copy(
            update={"bands": list(rule.bands), "label": rule.label, "code": rule.code or own.code}
        )
        return spec.model_copy(update={"scoring": scoring})
    return spec


class _Reader:
    def __init__(self, data: dict):
        self.contained = {
            f"#{r['id']}": r
            for r in data.get("contained") or []
            if isinstance(r, dict) and r.get("id")
        }
        self.questions: list[dict] = []
        self.prompt: list[str] = []
        self.totals: list[tuple[str | None, str]] = []  # (LOINC code, text) of calculated items
        self.group_note = ""  # a group's text waiting for the group's first question

    def walk(self, items: list) -> None:
        for fi in items:
            if not isinstance(fi, dict):
                raise UnsupportedQuestionnaire(_("an item is not a JSON object"))
            kind = fi.get("type")
            where = _where(fi)
            if kind == "display":
                # Text before the first question is the prompt; other loose text is dropped.
                if not self.questions and fi.get("text") and not _conditional(fi):
                    self.prompt.append(str(fi["text"]))
                continue
            if _ext(fi, HIDDEN, "valueBoolean") is True:
                continue
            computed = _ext(fi, CALCULATED_EXPRESSION) is not None or fi.get("readOnly") is True
            if computed and kind != "group":
                # A computed or read-only value (the "total" item) is not a question.
                if kind in NUMBER_TYPES:
                    self.totals.append((_loinc_code(fi.get("code")), str(fi.get("text") or "")))
                continue
            _refuse_features(fi, where)
            if kind == "group":
                if fi.get("repeats") is True:
                    raise UnsupportedQuestionnaire(
                        _("%(item)s: a repeating group is not supported") % {"item": where}
                    )
                text = str(fi.get("text") or "")
                if text and not self.questions and not self.prompt:
                    self.prompt.append(text)
                elif text:
                    self.group_note = text
                self.walk(fi.get("item") or [])
                self.group_note = ""
                continue
            self.questions.append(self._question(fi, kind, where))
            nested = [c for c in fi.get("item") or [] if c.get("type") != "display"]
            self.walk(nested)

    def _question(self, fi: dict, kind: str | None, where: str) -> dict:
        if fi.get("repeats") is True:
            raise UnsupportedQuestionnaire(
                _("%(item)s: repeats (more than one answer) is not supported") % {"item": where}
            )
        link = str(fi["linkId"])
        help_parts, labels = [], {}
        if self.group_note:
            help_parts.append(self.group_note)
            self.group_note = ""
        for child in fi.get("item") or []:
            if child.get("type") != "display" or not child.get("text") or _conditional(child):
                continue
            control = _item_control(child)
            if control in ("lower", "upper"):
                labels[control] = str(child["text"])
            else:
                help_parts.append(str(child["text"]))
        q = {
            "link_id": link,
            "text": str(fi.get("text") or _display_of(fi.get("code")) or link),
            "help": "\n\n".join(help_parts),
            "required": fi.get("required") is True,
            "code": _loinc_code(fi.get("code")),
            "weighted": False,
        }
        if kind == "boolean":
            return q | {"type": "check"}
        if kind in TEXT_TYPES:
            return q | {"type": "text"}
        if kind == "integer":
            low, high = _ext(fi, MIN_VALUE), _ext(fi, MAX_VALUE)
            if not (_is_whole(low) and _is_whole(high) and low < high):
                raise UnsupportedQuestionnaire(
                    _(
                        "%(item)s: an integer item needs whole-number minValue and maxValue"
                        " extensions (min below max) to become a rating"
                    )
                    % {"item": where}
                )
            return q | {
                "type": "rating",
                "min": int(low),
                "max": int(high),
                "min_label": labels.get("lower", ""),
                "max_label": labels.get("upper", ""),
            }
        if kind == "choice":
            options = self._options(fi, where)
            weights = [o.weight is not None for o in options]
            if any(weights) and not all(weights):
                raise UnsupportedQuestionnaire(
                    _("%(item)s: some answer options have an ordinal value and others do not")
                    % {"item": where}
                )
            return q | {"type": "choice", "options": options, "weighted": all(weights)}
        if kind in NUMBER_TYPES:
            raise UnsupportedQuestionnaire(
                _("%(item)s: type %(type)s is only supported as a calculated total")
                % {"item": where, "type": repr(kind)}
            )
        if kind == "open-choice":
            raise UnsupportedQuestionnaire(
                _("%(item)s: type 'open-choice' (choice or free text) is not supported")
                % {"item": where}
            )
        raise _type_not_supported(where, kind)

    def _options(self, fi: dict, where: str) -> list[Option]:
        raw: list[tuple[dict | None, str | None, dict]] = []  # (coding, plain, extension holder)
        if fi.get("answerOption"):
            for ao in fi["answerOption"]:
                if ao.get("modifierExtension"):
                    raise UnsupportedQuestionnaire(
                        _("%(item)s: an answerOption has a modifierExtension") % {"item": where}
                    )
                if "valueCoding" in ao:
                    raw.append((ao["valueCoding"], None, ao))
                elif "valueString" in ao:
                    raw.append((None, str(ao["valueString"]), ao))
                elif "valueInteger" in ao:
                    raw.append((None, str(ao["valueInteger"]), ao))
                else:
                    found = next((k for k in ao if k.startswith("value")), _("no value"))
                    raise UnsupportedQuestionnaire(
                        _("%(item)s: an answerOption with %(value)s is not supported")
                        % {"item": where, "value": found}
                    )
        elif fi.get("answerValueSet"):
            ref = str(fi["answerValueSet"])
            if not ref.startswith("#"):
                raise UnsupportedQuestionnaire(
                    _(
                        "%(item)s: answerValueSet %(ref)s points outside the Questionnaire; only"
                        " answerOption and contained ValueSets are supported"
                    )
                    % {"item": where, "ref": repr(ref)}
                )
            vs = self.contained.get(ref)
            if vs is None or vs.get("resourceType") != "ValueSet":
                raise UnsupportedQuestionnaire(
                    _("%(item)s: answerValueSet %(ref)s is not a contained ValueSet")
                    % {"item": where, "ref": repr(ref)}
                )
            raw = [(c, None, c) for c in _concepts(vs, ref, where)]
        else:
            raise UnsupportedQuestionnaire(
                _("%(item)s: a choice item has no answer options") % {"item": where}
            )

        values: dict[str, int] = {}
        options = []
        for n, (coding, plain, holder) in enumerate(raw, start=1):
            weight = _weight(holder)
            if weight is None and coding is not None:
                weight = _weight(coding)
            code = None
            if coding is not None:
                display, given = coding.get("display"), coding.get("code")
                label = str(display or given or f"Option {n}")
                if _is_loinc(coding.get("system"), given, LOINC_ANSWER_CODE):
                    code = str(given)
                    value = slug(label) or slug(str(given))
                else:
                    value = slug(str(given or "")) or slug(label)
            else:
                label = value = plain or ""
                value = slug(label)
            options.append(
                Option(
                    value=_unique(value or f"option-{n}", values),
                    label=label,
                    weight=weight,
                    code=code,
                )
            )
        return options


def _concepts(vs: dict, ref: str, where: str) -> list[dict]:
    """The codings a contained ValueSet lists, with their extensions (ordinal values)."""
    expansion = (vs.get("expansion") or {}).get("contains")
    if expansion:
        out: list[dict] = []

        def flat(contains: list) -> None:
            for c in contains:
                if c.get("code") and not c.get("abstract"):
                    out.append(c)
                flat(c.get("contains") or [])

        flat(expansion)
        return out
    out = []
    for include in (vs.get("compose") or {}).get("include") or []:
        if include.get("filter") or include.get("valueSet") or not include.get("concept"):
            raise UnsupportedQuestionnaire(
                _(
                    "%(item)s: answerValueSet %(ref)s does not list its concepts (filters, whole"
                    " code systems and imported value sets are not supported)"
                )
                % {"item": where, "ref": repr(ref)}
            )
        for concept in include["concept"]:
            out.append({"system": include.get("system"), **concept})
    if not out:
        raise UnsupportedQuestionnaire(
            _("%(item)s: answerValueSet %(ref)s lists no concepts")
            % {"item": where, "ref": repr(ref)}
        )
    return out


def _not_supported(where: str, feature: str) -> UnsupportedQuestionnaire:
    return UnsupportedQuestionnaire(
        _("%(item)s: %(feature)s is not supported") % {"item": where, "feature": feature}
    )


def _type_not_supported(where: str, kind) -> UnsupportedQuestionnaire:
    return UnsupportedQuestionnaire(
        _("%(item)s: type %(type)s is not supported") % {"item": where, "type": repr(kind)}
    )


def _refuse_features(fi: dict, where: str) -> None:
    if fi.get("modifierExtension"):
        raise _not_supported(where, "modifierExtension")
    if fi.get("enableWhen"):
        raise _not_supported(where, "enableWhen")
    for ext in fi.get("extension") or []:
        feature = REFUSED_EXTENSIONS.get(ext.get("url"))
        if feature:
            raise _not_supported(where, feature)
    if fi.get("type") in ("attachment", "reference", "url"):
        raise _type_not_supported(where, fi["type"])
    if "linkId" not in fi:
        raise UnsupportedQuestionnaire(_("%(item)s: the item has no linkId") % {"item": where})


def _conditional(fi: dict) -> bool:
    return bool(fi.get("enableWhen")) or _ext(fi, ENABLE_WHEN_EXPRESSION) is not None


def _where(fi: dict) -> str:
    text = " ".join(str(fi.get("text") or "").split())
    short = text if len(text) <= 40 else text[:39].rstrip() + "…"
    link = fi.get("linkId")
    name = (
        _("item %(link)s") % {"link": repr(str(link))}
        if link is not None
        else _("an item without linkId")
    )
    return f'{name} ("{short}")' if short else name


def _ext(element: dict, url: str, key: str | None = None):
    """The value of an element's first extension with this url (None when absent)."""
    for ext in element.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == url:
            if key:
                return ext.get(key)
            return next((v for k, v in ext.items() if k.startswith("value")), ext)
    return None


def _item_control(fi: dict) -> str | None:
    concept = _ext(fi, ITEM_CONTROL, "valueCodeableConcept") or {}
    return next((c.get("code") for c in concept.get("coding") or []), None)


def _weight(element: dict) -> float | None:
    for url in WEIGHT_URLS:
        value = _ext(element, url)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise UnsupportedQuestionnaire(
                    _("an ordinal value is not a number: %(value)s") % {"value": repr(value)}
                )
            return float(value)
    return None


def _is_loinc(system, code, pattern: re.Pattern) -> bool:
    if not code:
        return False
    return system == LOINC or (not system and bool(pattern.match(str(code))))


def _loinc_code(codings) -> str | None:
    for coding in codings or []:
        if isinstance(coding, dict):
            code = coding.get("code")
            system = coding.get("system")
            if _is_loinc(system, code, LOINC_CODE):
                return str(code)
    return None


def _display_of(codings) -> str | None:
    return next((c.get("display") for c in codings or [] if c.get("display")), None)


def _is_whole(value) -> bool:
    return (
        isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer()
    )


def _kind_without_weights(questions: list[dict]) -> str:
    types = {q["type"] for q in questions}
    if types == {"check"}:
        return "checklist"
    if types == {"rating"}:
        return "scale"
    return "reflection"


def _unique(value: str, taken: dict[str, int]) -> str:
    """`value`, or `value-2`, `value-3`... when taken. `taken` maps each key handed out to the
    next suffix to try for it, so 20,000 items with one linkId cost 20,000 steps, not 20,000²/2
    (the old scan from "-2" each time)."""
    candidate, n = value, taken.get(value, 2)
    while candidate in taken:
        suffix = f"-{n}"
        candidate, n = value[: 60 - len(suffix)].rstrip("-") + suffix, n + 1
    if candidate != value:
        taken[value] = n
    taken[candidate] = 2
    return candidate


def _attribution(copyright) -> Attribution | None:
    if not copyright:
        return None
    text, _sep, last = str(copyright).strip().rpartition("\n\n")
    if text and re.match(r"^https?://\S+$", last.strip()):
        return Attribution(text=text.strip(), url=last.strip())
    return Attribution(text=str(copyright).strip())


# --- QuestionnaireResponse → answers ---------------------------------------------------------


def answers_from_questionnaire_response(spec: InstrumentSpec, qr: dict) -> dict:
    """The response's answers as the app stores them: item key → bool / option value / int / str.

    Items are matched by linkId (the imported `link_id`, else the key), through nested groups and
    answers' nested items. Coded answers match an option by LOINC code, by value (local codes), or
    by display. Items the instrument does not have (e.g. a calculated total) are ignored.
    """
    if not isinstance(qr, dict) or qr.get("resourceType") != "QuestionnaireResponse":
        found = qr.get("resourceType") if isinstance(qr, dict) else type(qr).__name__
        raise ResponseMismatch(f"expected a FHIR QuestionnaireResponse, got {found!r}")
    by_link = {item_link_id(i): i for i in spec.items}
    answers: dict = {}
    for ri in _response_items(qr.get("item") or []):
        item = by_link.get(str(ri.get("linkId")))
        values = ri.get("answer") or []
        if item is None or not values:
            continue
        where = f"item {ri.get('linkId')!r}"
        if item.key in answers:
            raise ResponseMismatch(f"{where} is answered more than once")
        if len(values) > 1:
            raise ResponseMismatch(f"{where} has more than one answer")
        answers[item.key] = _answer_value(spec, item, values[0], where)
    return answers


def _response_items(items: list):
    for ri in items:
        yield ri
        yield from _response_items(ri.get("item") or [])
        for answer in ri.get("answer") or []:
            yield from _response_items(answer.get("item") or [])


def _answer_value(spec: InstrumentSpec, item: Item, answer: dict, where: str):
    kind = spec.item_type(item)
    value_key = next((k for k in answer if k.startswith("value")), None)
    value = answer.get(value_key) if value_key else None
    if kind == "check" and isinstance(value, bool):
        return value
    if kind == "text" and value_key in (
        "valueString",
        "valueDate",
        "valueDateTime",
        "valueTime",
    ):
        return str(value)
    if kind == "rating" and _is_whole(value):
        return int(value)
    if kind == "choice":
        options = spec.options_for(item)
        if value_key == "valueCoding" and isinstance(value, dict):
            code, display = value.get("code"), value.get("display")
            found = (
                next((o for o in options if code and o.code == code), None)
                or next((o for o in options if code and o.value in (code, slug(str(code)))), None)
                or next((o for o in options if display and _same(o.label, display)), None)
            )
        elif value_key in ("valueString", "valueInteger"):
            text = str(value)
            found = next((o for o in options if text in (o.value, o.label)), None)
        else:
            found = None
        if found is not None:
            return found.value
        raise ResponseMismatch(f"{where}: {value!r} is not one of its answer options")
    raise ResponseMismatch(f"{where}: a {kind} item cannot take {value_key or 'no value'}")


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(str(b).split()).casefold()
