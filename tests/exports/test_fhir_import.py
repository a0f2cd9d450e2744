"""Importing FHIR R4 Questionnaires: two real-world PHQ-9s (NLM LHC-Forms and HL7 SDC), read
unchanged, become instruments that score like the PHQ-9; what cannot be honoured is refused by name;
and the app's own export comes back as the same instrument."""

import copy
import json
import random
from datetime import UTC, datetime

import pytest
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from kap.content.scoring import score
from kap.content.specs import InstrumentSpec
from kap.exports.fhir import ORDINAL_VALUE, canonical_url, questionnaire, questionnaire_response
from kap.exports.fhir_import import (
    ResponseMismatch,
    UnsupportedQuestionnaire,
    answers_from_questionnaire_response,
    instrument_from_questionnaire,
)
from tests.exports.helpers import (
    BASE_URL,
    NLM_PHQ9,
    SDC_PHQ9,
    SDC_PHQ9_RESPONSE,
    read_fixture,
    sample_answers,
    walk,
)

PHQ9_LINK_IDS = {
    NLM_PHQ9: [
        "/44250-9",
        "/44255-8",
        "/44259-0",
        "/44254-1",
        "/44251-7",
        "/44258-2",
        "/44252-5",
        "/44253-3",
        "/44260-8",
    ],
    SDC_PHQ9: [f"H1/T1/Q{n}" for n in range(1, 10)],
}
FREQUENCY = ["Not at all", "Several days", "More than half the days", "Nearly every day"]
ENABLE_WHEN_EXPRESSION = (
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-enableWhenExpression"
)


def imported(name: str) -> InstrumentSpec:
    data = read_fixture(name)
    before = json.dumps(data, sort_keys=True)
    spec = instrument_from_questionnaire(data)
    assert json.dumps(data, sort_keys=True) == before, "the import leaves its input untouched"
    return spec


def answers_by_index(spec: InstrumentSpec, indexes: list[int]) -> dict:
    """Answers that pick the n-th option of each scored item, in order."""
    scored = [i for i in spec.items if i.scored]
    assert len(scored) == len(indexes)
    return {i.key: spec.options_for(i)[n].value for i, n in zip(scored, indexes, strict=True)}


def find(data: dict, link_id: str) -> dict:
    return next(i for i in walk(data["item"]) if i["linkId"] == link_id)


# --- the two real-world PHQ-9s -----------------------------------------------------------------


@pytest.mark.parametrize("name", [NLM_PHQ9, SDC_PHQ9])
def test_a_published_phq9_imports_unchanged_as_a_scored_questionnaire(name):
    spec = imported(name)
    assert spec.kind == "questionnaire"
    assert spec.version == 1
    scored = [i for i in spec.items if i.scored]
    assert [i.link_id for i in scored] == PHQ9_LINK_IDS[name]
    for item in scored:
        assert spec.item_type(item) == "choice"
        assert spec.is_required(item)
        options = spec.options_for(item)
        assert [o.label for o in options] == FREQUENCY
        assert [o.weight for o in options] == [0, 1, 2, 3]
    rule = spec.scoring
    assert (rule.method, rule.min, rule.max, rule.code) == ("sum", 0, 27, "44261-6")


@pytest.mark.parametrize("name", [NLM_PHQ9, SDC_PHQ9])
@pytest.mark.parametrize(
    "indexes,total",
    [
        ([3] * 9, 27),
        ([0] * 9, 0),
        ([0, 1, 2, 3, 0, 1, 2, 3, 1], 13),
        ([2, 2, 1, 0, 3, 0, 0, 1, 2], 11),
    ],
)
def test_a_published_phq9_scores_answers_to_the_published_sum(name, indexes, total):
    spec = imported(name)
    assert score(spec, answers_by_index(spec, indexes)).total == total


@pytest.mark.parametrize("name", [NLM_PHQ9, SDC_PHQ9])
def test_the_calculated_total_item_is_not_a_question(name):
    spec = imported(name)
    total_link = {NLM_PHQ9: "/44261-6", SDC_PHQ9: "H1/TS"}[name]
    assert total_link not in {i.link_id for i in spec.items}
    assert not any("total score" in i.text for i in spec.items)
    assert spec.scoring.label == "Patient health questionnaire 9 item total score"


def test_the_nlm_phq9_keeps_its_loinc_codes_and_ordinal_values_from_answer_options():
    data = read_fixture(NLM_PHQ9)
    spec = imported(NLM_PHQ9)
    assert spec.key == "phq-9-quick-depression-assessment-panel"
    assert spec.title == "PHQ-9 quick depression assessment panel"
    assert spec.code == "44249-1"
    for item in spec.items:
        assert item.link_id == f"/{item.code}"
        assert item.key == item.code
        source = find(data, item.link_id)
        expected = [
            (
                o["valueCoding"]["code"],
                next(
                    (e["valueDecimal"] for e in o.get("extension", []) if "ordinal" in e["url"]),
                    None,
                ),
            )
            for o in source["answerOption"]
        ]
        assert [(o.code, o.weight) for o in spec.options_for(item)] == expected
    first = spec.options_for(spec.items[0])
    assert [o.code for o in first] == ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]


def test_item_10_of_the_nlm_phq9_is_imported_but_unscored_and_optional():
    spec = imported(NLM_PHQ9)
    item10 = spec.items[-1]
    assert item10.link_id == "/69722-7" and item10.code == "69722-7"
    assert item10.text.startswith("How difficult have these problems made it")
    assert item10.scored is False and spec.is_required(item10) is False
    assert [(o.label, o.code, o.weight) for o in spec.options_for(item10)] == [
        ("Not difficult at all", "LA6572-7", None),
        ("Somewhat difficult", "LA6573-5", None),
        ("Very difficult", "LA6575-0", None),
        ("Extremely difficult", "LA6574-3", None),
    ]
    answers = answers_by_index(spec, [1] * 9)
    assert score(spec, answers | {item10.key: "very-difficult"}).total == 9
    assert score(spec, answers).total == 9, "item 10 may be left out"


def test_the_hl7_sdc_phq9_takes_its_weights_from_the_contained_value_set_and_flattens_its_group():
    data = read_fixture(SDC_PHQ9)
    spec = imported(SDC_PHQ9)
    (value_set,) = data["contained"]
    concepts = value_set["compose"]["include"][0]["concept"]
    expected = [
        (c["display"], next(e["valueDecimal"] for e in c["extension"] if e["url"] == ORDINAL_VALUE))
        for c in concepts
    ]
    for item in spec.items:
        assert [(o.label, o.weight) for o in spec.options_for(item)] == expected
        assert [o.code for o in spec.options_for(item)] == [None] * 4, "not LOINC answer codes"
    assert [i.key for i in spec.items] == [f"h1-t1-q{n}" for n in range(1, 10)]
    assert spec.prompt == data["item"][0]["text"]
    assert spec.key == "sdcphq9"
    assert spec.title == "Patient Health Questionnaire - 9 Item"
    assert spec.source == (
        "http://hl7.org/fhir/uv/sdc/Questionnaire/questionnaire-sdc-profile-example-PHQ9|0.0.1"
    )
    assert "Pfizer" in spec.attribution.text


def test_the_hl7_sdc_response_scores_the_sum_of_its_answers_not_the_13_it_states():
    """The published example response states a total of 13, but its answers (0+0+0+1+2+1+3+2+1,
    by the ordinal values of the Questionnaire's own ValueSet) add up to 10: the upstream example
    is inconsistent. The import scores what was answered."""
    questionnaire_data = read_fixture(SDC_PHQ9)
    response = read_fixture(SDC_PHQ9_RESPONSE)
    spec = imported(SDC_PHQ9)
    answers = answers_from_questionnaire_response(spec, response)
    assert len(answers) == 9
    assert answers["h1-t1-q7"] == "nearly-every-day"

    ordinals = {
        c["code"]: c["extension"][0]["valueDecimal"]
        for c in questionnaire_data["contained"][0]["compose"]["include"][0]["concept"]
    }
    by_link = {i["linkId"]: i for i in walk(response["item"])}
    summed = sum(
        ordinals[by_link[link]["answer"][0]["valueCoding"]["code"]]
        for link in PHQ9_LINK_IDS[SDC_PHQ9]
    )
    stated = by_link["H1/TS"]["answer"][0]["valueQuantity"]["value"]
    assert score(spec, answers).total == summed == 10
    assert stated == 13, "the fixture's stated total (kept unchanged, known to be wrong)"


def test_an_lhc_forms_style_response_matches_options_by_loinc_code_or_display():
    spec = imported(NLM_PHQ9)
    items = [
        {"linkId": link, "answer": [{"valueCoding": {"code": "LA6570-1"}}]}
        for link in PHQ9_LINK_IDS[NLM_PHQ9]
    ]
    items[0]["answer"] = [{"valueCoding": {"display": "nearly  every day"}}]
    items.append({"linkId": "/69722-7", "answer": [{"valueCoding": {"code": "LA6573-5"}}]})
    items.append({"linkId": "/44261-6", "answer": [{"valueDecimal": 19}]})
    response = {"resourceType": "QuestionnaireResponse", "status": "completed", "item": items}
    answers = answers_from_questionnaire_response(spec, response)
    assert answers["69722-7"] == "somewhat-difficult"
    assert score(spec, answers).total == 3 + 8 * 2


def test_a_response_that_does_not_fit_is_refused_with_the_item_named():
    spec = imported(NLM_PHQ9)
    wrong = {
        "resourceType": "QuestionnaireResponse",
        "item": [{"linkId": "/44250-9", "answer": [{"valueCoding": {"code": "LA0000-0"}}]}],
    }
    with pytest.raises(ResponseMismatch, match="'/44250-9'"):
        answers_from_questionnaire_response(spec, wrong)
    sdc = imported(SDC_PHQ9)
    unknown_code = {
        "resourceType": "QuestionnaireResponse",
        "item": [{"linkId": "H1/T1/Q1", "answer": [{"valueCoding": {"code": "sometimes"}}]}],
    }
    with pytest.raises(ResponseMismatch, match="'H1/T1/Q1'.*sometimes"):
        answers_from_questionnaire_response(sdc, unknown_code)
    two_answers = {
        "resourceType": "QuestionnaireResponse",
        "item": [{"linkId": "H1/T1/Q1", "answer": [{"valueString": "Not at all"}] * 2}],
    }
    with pytest.raises(ResponseMismatch, match="more than one answer"):
        answers_from_questionnaire_response(sdc, two_answers)
    with pytest.raises(ResponseMismatch, match="QuestionnaireResponse"):
        answers_from_questionnaire_response(spec, read_fixture(NLM_PHQ9))


# --- what is refused, and what is safely ignored -----------------------------------------------


def add_enable_when(data):
    find(data, "/44255-8")["enableWhen"] = [
        {"question": "/44250-9", "operator": "exists", "answerBoolean": True}
    ]


def add_enable_when_expression(data):
    find(data, "/44259-0").setdefault("extension", []).append(
        {
            "url": ENABLE_WHEN_EXPRESSION,
            "valueExpression": {"language": "text/fhirpath", "expression": "%age > 18"},
        }
    )


def add_enable_when_to_nested_item(data):
    find(data, "H1/T1/Q6")["enableWhen"] = [
        {"question": "H1/T1/Q1", "operator": "exists", "answerBoolean": True}
    ]


def make_group_repeat(data):
    find(data, "H1/T1")["repeats"] = True


def point_answers_outside(data):
    find(data, "H1/T1/Q2")["answerValueSet"] = "http://loinc.org/vs/LL358-3"


def add_attachment(data):
    data["item"].append(
        {"linkId": "photo", "text": "A photo of your journal", "type": "attachment"}
    )


def make_answers_repeat(data):
    find(data, "/44254-1")["repeats"] = True


def add_modifier_extension(data):
    find(data, "/44251-7")["modifierExtension"] = [{"url": "http://x.org/y", "valueBoolean": True}]


@pytest.mark.parametrize(
    "name,change,expected",
    [
        (NLM_PHQ9, add_enable_when, ["item '/44255-8'", '"Feeling down', "enableWhen"]),
        (NLM_PHQ9, add_enable_when_expression, ["item '/44259-0'", "enableWhenExpression"]),
        (SDC_PHQ9, add_enable_when_to_nested_item, ["item 'H1/T1/Q6'", "enableWhen"]),
        (SDC_PHQ9, make_group_repeat, ["item 'H1/T1'", '"Over the last two', "repeating group"]),
        (SDC_PHQ9, point_answers_outside, ["item 'H1/T1/Q2'", "LL358-3", "outside"]),
        (NLM_PHQ9, add_attachment, ["item 'photo'", "'attachment'"]),
        (NLM_PHQ9, make_answers_repeat, ["item '/44254-1'", "repeats"]),
        (NLM_PHQ9, add_modifier_extension, ["item '/44251-7'", "modifierExtension"]),
    ],
)
def test_an_unsupported_feature_is_refused_naming_the_item_and_the_feature(name, change, expected):
    data = copy.deepcopy(read_fixture(name))
    change(data)
    with pytest.raises(UnsupportedQuestionnaire) as exc:
        instrument_from_questionnaire(data)
    for words in expected:
        assert words in str(exc.value)
    assert isinstance(exc.value, ValueError)


@pytest.mark.parametrize(
    "resource,expected",
    [
        ({"resourceType": "Patient", "id": "p"}, "got resourceType 'Patient'"),
        ({"item": []}, "got no resourceType"),
        ([], "got list"),
    ],
)
def test_a_resource_that_is_not_a_questionnaire_is_refused(resource, expected):
    with pytest.raises(UnsupportedQuestionnaire, match="expected a FHIR Questionnaire") as exc:
        instrument_from_questionnaire(resource)
    assert expected in str(exc.value)


def test_a_questionnaire_response_passed_as_a_questionnaire_is_refused():
    with pytest.raises(UnsupportedQuestionnaire, match="'QuestionnaireResponse'"):
        instrument_from_questionnaire(read_fixture(SDC_PHQ9_RESPONSE))


def test_rendering_meta_identifiers_and_variables_are_safely_ignored():
    plain = imported(SDC_PHQ9)
    data = copy.deepcopy(read_fixture(SDC_PHQ9))
    data["identifier"] = [{"system": "urn:ietf:rfc:3986", "value": "urn:uuid:1"}]
    data["meta"]["tag"] = [{"code": "x"}]
    data["extension"].append(
        {
            "url": "http://hl7.org/fhir/StructureDefinition/variable",
            "valueExpression": {"name": "v", "language": "text/fhirpath", "expression": "1"},
        }
    )
    q1 = find(data, "H1/T1/Q1")
    q1["_text"] = {
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/rendering-xhtml",
                "valueString": "<b>Little interest</b>",
            }
        ]
    }
    q1["extension"] = [
        {
            "url": "http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl",
            "valueCodeableConcept": {"coding": [{"code": "radio-button"}]},
        }
    ]
    assert instrument_from_questionnaire(data) == plain


# --- round trip of the app's own export -------------------------------------------------------


@pytest.mark.parametrize("key", ["phq9", "gad7"])
def test_an_exported_questionnaire_imports_back_with_the_same_items_weights_and_scores(
    pack_specs, key
):
    spec = pack_specs[key]
    back = instrument_from_questionnaire(questionnaire(spec, base_url=BASE_URL))
    assert (back.key, back.kind, back.title, back.code) == (
        spec.key,
        spec.kind,
        spec.title,
        spec.code,
    )
    assert (back.prompt, back.intro, back.attribution) == (
        spec.prompt,
        spec.intro,
        spec.attribution,
    )
    assert [i.key for i in back.items] == [i.key for i in spec.items]
    for old, new in zip(spec.items, back.items, strict=True):
        assert (new.text, new.code, new.scored, new.link_id) == (
            old.text,
            old.code,
            old.scored,
            old.key,
        )
        assert back.item_type(new) == spec.item_type(old)
        assert back.is_required(new) == spec.is_required(old)
        old_options, new_options = spec.options_for(old), back.options_for(new)
        assert [(o.label, o.weight, o.code) for o in new_options] == [
            (o.label, o.weight, o.code) for o in old_options
        ]
    for field in ("method", "min", "max", "code", "label"):
        assert getattr(back.scoring, field) == getattr(spec.scoring, field)

    rng = random.Random(key)
    for _ in range(300):
        answers = sample_answers(spec, rng)
        # The same choices by position (LOINC-coded options get their values from the display).
        mapped = {
            i.key: back.options_for(j)[
                [o.value for o in spec.options_for(i)].index(answers[i.key])
            ].value
            for i, j in zip(spec.items, back.items, strict=True)
        }
        assert score(back, mapped).total == score(spec, answers).total
        # A response exported from the pack's instrument reads into the imported one by LOINC code.
        qr = questionnaire_response(
            spec,
            answers,
            response_id="r",
            questionnaire_url=canonical_url(spec, base_url=BASE_URL),
            authored=datetime(2026, 1, 1, tzinfo=UTC),
            subject_ref="Patient/p",
        )
        assert answers_from_questionnaire_response(back, qr) == mapped


@pytest.mark.parametrize(
    "key,kind",
    [
        ("signs-you-might-benefit", "checklist"),
        ("self-assessment", "reflection"),
        ("first-session-preparation", "reflection"),
        ("closing-outcomes", "scale"),
    ],
)
def test_unweighted_instruments_import_back_as_their_kind_with_items_help_and_labels(
    pack_specs, key, kind
):
    spec = pack_specs[key]
    back = instrument_from_questionnaire(questionnaire(spec, base_url=BASE_URL))
    assert back.kind == kind and back.scoring is None
    assert back.prompt == spec.prompt and back.intro == spec.intro
    for old, new in zip(spec.items, back.items, strict=True):
        assert (new.key, new.text, new.help) == (old.key, old.text, old.help)
        assert back.item_type(new) == spec.item_type(old)
        assert (new.min, new.max, new.min_label, new.max_label) == (
            old.min,
            old.max,
            old.min_label,
            old.max_label,
        )


def test_an_imported_instrument_survives_storage_as_json_with_its_link_ids():
    spec = imported(SDC_PHQ9)
    stored = json.loads(json.dumps(spec.model_dump(mode="json")))
    again = InstrumentSpec.model_validate(stored)
    assert again == spec
    assert [i.link_id for i in again.items] == PHQ9_LINK_IDS[SDC_PHQ9]


def test_pack_instruments_dump_without_the_import_only_fields(phq9):
    dumped = phq9.model_dump(mode="json")
    assert "source" not in dumped
    assert all("link_id" not in item for item in dumped["items"])


def test_the_older_item_weight_extension_gives_the_same_weights():
    data = copy.deepcopy(read_fixture(NLM_PHQ9))
    for item in walk(data["item"]):
        for option in item.get("answerOption", []):
            for ext in option.get("extension", []):
                if ext["url"] == ORDINAL_VALUE:
                    ext["url"] = "http://hl7.org/fhir/StructureDefinition/itemWeight"
    assert instrument_from_questionnaire(data) == imported(NLM_PHQ9)


def small_questionnaire(*items: dict) -> dict:
    return {"resourceType": "Questionnaire", "id": "small", "status": "active", "item": list(items)}


def test_plain_answer_options_booleans_and_bounded_integers_are_imported():
    spec = instrument_from_questionnaire(
        small_questionnaire(
            {
                "linkId": "mood",
                "text": "Mood",
                "type": "choice",
                "answerOption": [{"valueString": "Low"}, {"valueString": "High"}],
            },
            {"linkId": "slept", "text": "Slept well", "type": "boolean", "required": True},
            {
                "linkId": "calm",
                "text": "Calm",
                "type": "integer",
                "extension": [
                    {"url": "http://hl7.org/fhir/StructureDefinition/minValue", "valueInteger": 1},
                    {"url": "http://hl7.org/fhir/StructureDefinition/maxValue", "valueInteger": 5},
                ],
            },
            {"linkId": "when", "text": "When", "type": "date"},
        )
    )
    assert spec.key == "small" and spec.kind == "reflection" and spec.scoring is None
    mood, slept, calm, when = spec.items
    assert [(o.value, o.label, o.weight) for o in spec.options_for(mood)] == [
        ("low", "Low", None),
        ("high", "High", None),
    ]
    assert spec.item_type(slept) == "check" and spec.is_required(slept)
    assert (spec.item_type(calm), calm.min, calm.max) == ("rating", 1, 5)
    assert spec.item_type(when) == "text" and not spec.is_required(when)


@pytest.mark.parametrize(
    "item,expected",
    [
        ({"type": "integer"}, "minValue and maxValue"),
        ({"type": "decimal"}, "only supported as a calculated total"),
        ({"type": "open-choice", "answerOption": [{"valueString": "a"}]}, "open-choice"),
        ({"type": "choice"}, "no answer options"),
        ({"type": "choice", "answerValueSet": "#missing"}, "not a contained ValueSet"),
        (
            {
                "type": "choice",
                "answerOption": [
                    {"valueString": "a", "extension": [{"url": ORDINAL_VALUE, "valueDecimal": 1}]},
                    {"valueString": "b"},
                ],
            },
            "some answer options have an ordinal value",
        ),
        ({"type": "choice", "answerOption": [{"valueDate": "2020-01-01"}]}, "valueDate"),
        ({"type": "reference"}, "type 'reference'"),
        ({"type": "url"}, "type 'url'"),
    ],
)
def test_items_the_app_cannot_represent_are_refused_by_name(item, expected):
    data = small_questionnaire({"linkId": "q-odd", "text": "An odd one", **item})
    with pytest.raises(UnsupportedQuestionnaire) as exc:
        instrument_from_questionnaire(data)
    assert "item 'q-odd' (\"An odd one\")" in str(exc.value)
    assert expected in str(exc.value)


def test_a_questionnaire_with_nothing_to_answer_is_refused():
    data = small_questionnaire({"linkId": "hello", "text": "Hello", "type": "display"})
    with pytest.raises(UnsupportedQuestionnaire, match="no questions"):
        instrument_from_questionnaire(data)


@pytest.mark.parametrize("name", [NLM_PHQ9, SDC_PHQ9])
def test_an_imported_phq9_exports_again_as_valid_fhir(name):
    spec = imported(name)
    q = questionnaire(spec, base_url=BASE_URL)
    Questionnaire.model_validate(q)
    assert [i["linkId"] for i in q["item"] if i["type"] == "choice"][:9] == PHQ9_LINK_IDS[name]
    answers = answers_by_index(spec, [3, 2, 1, 0, 3, 2, 1, 0, 3])
    qr = questionnaire_response(
        spec,
        answers,
        response_id="r",
        questionnaire_url=canonical_url(spec, base_url=BASE_URL),
        authored=datetime(2026, 1, 1, tzinfo=UTC),
        subject_ref="Patient/p",
        # An import's canonical URL is its publisher's, so the local code system is named here.
        base_url=BASE_URL,
    )
    QuestionnaireResponse.model_validate(qr)
    assert qr["item"][-1]["answer"] == [{"valueDecimal": 15}]
    assert answers_from_questionnaire_response(spec, qr) == answers
