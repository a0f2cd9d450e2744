"""FHIR R4 export of the pack's instruments, validated with fhir.resources (R4B models) and, because
those models do not check coded values, checked code by code against LOINC and the pack."""

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from kap.content.scoring import score
from kap.content.specs import InstrumentSpec
from kap.exports.fhir import (
    CALCULATED_EXPRESSION,
    LOINC,
    MAX_VALUE,
    MIN_VALUE,
    OBSERVATION_CATEGORY,
    ORDINAL_VALUE,
    UCUM,
    bundle,
    canonical_url,
    questionnaire,
    questionnaire_response,
    score_observation,
)
from kap.exports.fhir_import import answers_from_questionnaire_response
from tests.exports.helpers import BASE_URL, sample_answers, walk

PACK_KEYS = [
    "signs-you-might-benefit",
    "self-assessment",
    "grounding",
    "intention-setting",
    "gentle-awareness",
    "capture-insights",
    "insight-into-action",
    "build-support",
    "integration-worksheet",
    "first-session-preparation",
    "closing-outcomes",
    "phq9",
    "gad7",
]
AUTHORED = datetime(2026, 3, 14, 9, 30, tzinfo=timezone(timedelta(hours=-5)))
SUBJECT = "Patient/alex"

PHQ9_ITEM_CODES = {
    "q1": "44250-9",
    "q2": "44255-8",
    "q3": "44259-0",
    "q4": "44254-1",
    "q5": "44251-7",
    "q6": "44258-2",
    "q7": "44252-5",
    "q8": "44253-3",
    "q9": "44260-8",
    "q10": "69722-7",
}
GAD7_ITEM_CODES = {
    "q1": "69725-0",
    "q2": "68509-9",
    "q3": "69733-4",
    "q4": "69734-2",
    "q5": "69735-9",
    "q6": "69689-8",
    "q7": "69736-7",
    "q8": "69722-7",
}
FREQUENCY_ANSWERS = [  # (LOINC answer code, display, weight)
    ("LA6568-5", "Not at all", 0),
    ("LA6569-3", "Several days", 1),
    ("LA6570-1", "More than half the days", 2),
    ("LA6571-9", "Nearly every day", 3),
]
DIFFICULTY_ANSWERS = [
    ("LA6572-7", "Not difficult at all"),
    ("LA6573-5", "Somewhat difficult"),
    ("LA6575-0", "Very difficult"),
    ("LA6574-3", "Extremely difficult"),
]
INSTRUMENTS = [  # key, panel code, item codes, total code, total display, unscored item, max
    (
        "phq9",
        "44249-1",
        PHQ9_ITEM_CODES,
        "44261-6",
        "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]",
        "q10",
        27,
    ),
    (
        "gad7",
        "69737-5",
        GAD7_ITEM_CODES,
        "70274-6",
        "Generalized anxiety disorder 7 item (GAD-7) total score [Reported]",
        "q8",
        21,
    ),
]


def questions(q: dict) -> dict[str, dict]:
    return {i["linkId"]: i for i in walk(q.get("item", [])) if i["type"] != "display"}


def ordinal(answer_option: dict) -> float | None:
    return next(
        (
            e["valueDecimal"]
            for e in answer_option.get("extension", [])
            if e["url"] == ORDINAL_VALUE
        ),
        None,
    )


def export_response(spec: InstrumentSpec, answers: dict, **kw) -> dict:
    return questionnaire_response(
        spec,
        answers,
        response_id=f"{spec.key}-r1",
        questionnaire_url=canonical_url(spec, base_url=BASE_URL),
        authored=AUTHORED,
        subject_ref=SUBJECT,
        **kw,
    )


def test_the_test_covers_every_instrument_of_the_pack(pack_specs):
    assert sorted(pack_specs) == sorted(PACK_KEYS)


@pytest.mark.parametrize("key", PACK_KEYS)
def test_every_instrument_exports_a_valid_r4_questionnaire(pack_specs, key):
    spec = pack_specs[key]
    q = questionnaire(spec, base_url=BASE_URL + "/")
    Questionnaire.model_validate(q)
    assert q["url"] == f"{BASE_URL}/fhir/Questionnaire/{key}"
    assert q["id"] == key
    assert q["version"] == str(spec.version)
    assert q["status"] == "active"
    assert q["title"] == spec.title
    links = [i["linkId"] for i in walk(q.get("item", []))]
    assert len(links) == len(set(links)), "linkIds are unique across the Questionnaire"
    exported = questions(q)
    for item in spec.items:
        fhir_item = exported[item.key]
        assert fhir_item["text"] == item.text
        assert fhir_item["required"] is spec.is_required(item)
        expected = {"check": "boolean", "text": "text", "choice": "choice", "rating": "integer"}
        assert fhir_item["type"] == expected[spec.item_type(item)]


@pytest.mark.parametrize("key", PACK_KEYS)
def test_every_instrument_exports_a_valid_response_that_reads_back_as_the_same_answers(
    pack_specs, key
):
    spec = pack_specs[key]
    answers = sample_answers(spec, random.Random(key))
    qr = export_response(spec, answers)
    QuestionnaireResponse.model_validate(qr)
    assert qr["questionnaire"] == f"{BASE_URL}/fhir/Questionnaire/{key}|1"
    assert qr["authored"] == "2026-03-14T09:30:00-05:00"
    assert qr["subject"] == {"reference": SUBJECT}
    assert answers_from_questionnaire_response(spec, qr) == answers
    # Every answered linkId is a question of the exported Questionnaire, of the matching type.
    q_items = questions(questionnaire(spec, base_url=BASE_URL))
    value_type = {
        "boolean": "valueBoolean",
        "text": "valueString",
        "choice": "valueCoding",
        "integer": "valueInteger",
        "decimal": "valueDecimal",
    }
    for item in qr.get("item", []):
        (answer,) = item["answer"]
        assert list(answer) == [value_type[q_items[item["linkId"]]["type"]]]


def test_checks_texts_and_ratings_keep_their_types_and_bounds(pack_specs):
    signs = questionnaire(pack_specs["signs-you-might-benefit"], base_url=BASE_URL)
    assert {i["type"] for i in questions(signs).values()} == {"boolean"}
    reflection = questionnaire(pack_specs["self-assessment"], base_url=BASE_URL)
    assert {i["type"] for i in questions(reflection).values()} == {"text"}

    scale = pack_specs["closing-outcomes"]
    item = questions(questionnaire(scale, base_url=BASE_URL))["less-heaviness"]
    assert item["type"] == "integer"
    ext = {e["url"]: e for e in item["extension"]}
    assert ext[MIN_VALUE]["valueInteger"] == 0
    assert ext[MAX_VALUE]["valueInteger"] == 10
    labels = {
        child["extension"][0]["valueCodeableConcept"]["coding"][0]["code"]: child["text"]
        for child in item["item"]
    }
    assert labels == {"lower": "Not at all", "upper": "Very much"}


def test_a_practice_exports_its_prompt_and_steps_as_display_items(pack_specs):
    spec = pack_specs["grounding"]
    q = questionnaire(spec, base_url=BASE_URL)
    Questionnaire.model_validate(q)
    assert [i["type"] for i in q["item"]] == ["display"] * (1 + len(spec.steps))
    assert [i["text"] for i in q["item"]] == [spec.prompt] + [s.text for s in spec.steps]


def test_an_items_help_is_a_help_display_child(pack_specs):
    spec = pack_specs["first-session-preparation"]
    item = questions(questionnaire(spec, base_url=BASE_URL))["concerns-or-questions"]
    (child,) = item["item"]
    assert child["type"] == "display"
    assert child["text"] == spec.items_by_key["concerns-or-questions"].help
    assert child["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "help"


@pytest.mark.parametrize("key,panel,item_codes,total,display,unscored,maximum", INSTRUMENTS)
def test_phq9_and_gad7_carry_their_loinc_panel_item_and_answer_codes(
    pack_specs, key, panel, item_codes, total, display, unscored, maximum
):
    spec = pack_specs[key]
    q = questionnaire(spec, base_url=BASE_URL)
    assert q["code"] == [{"system": LOINC, "code": panel}]
    assert "Spitzer" in q["copyright"] and "https://www.phqscreeners.com/" in q["copyright"]
    exported = questions(q)
    for link, code in item_codes.items():
        assert exported[link]["code"] == [{"system": LOINC, "code": code}]
    for link in item_codes:
        options = exported[link]["answerOption"]
        codings = [(o["valueCoding"]["system"], o["valueCoding"]["code"]) for o in options]
        assert {s for s, _ in codings} == {LOINC}
        if link == unscored:
            assert [(o["valueCoding"]["code"], o["valueCoding"]["display"]) for o in options] == (
                DIFFICULTY_ANSWERS
            )
            assert [ordinal(o) for o in options] == [None] * 4
            assert exported[link]["required"] is False
        else:
            assert [
                (o["valueCoding"]["code"], o["valueCoding"]["display"], ordinal(o)) for o in options
            ] == FREQUENCY_ANSWERS
            pack_weights = [o.weight for o in spec.options_for(spec.items_by_key[link])]
            assert [ordinal(o) for o in options] == pack_weights
            assert exported[link]["required"] is True

    (total_item,) = [i for i in exported.values() if i.get("readOnly")]
    assert total_item["type"] == "decimal"
    assert total_item["code"] == [{"system": LOINC, "code": total, "display": display}]
    (calc,) = [e for e in total_item["extension"] if e["url"] == CALCULATED_EXPRESSION]
    expression = calc["valueExpression"]["expression"]
    scored = [k for k in item_codes if k != unscored]
    assert all(f"'{k}'" in expression for k in scored) and f"'{unscored}'" not in expression


def test_options_without_a_loinc_code_use_the_instruments_local_code_system():
    spec = InstrumentSpec.model_validate(
        {
            "key": "mood",
            "version": 2,
            "kind": "questionnaire",
            "title": "Mood",
            "options": [
                {"value": "low", "label": "Low", "weight": 0},
                {"value": "high", "label": "High", "weight": 1.5},
            ],
            "items": [{"key": "today", "text": "Today"}],
            "scoring": {"method": "sum", "min": 0, "max": 1.5},
        }
    )
    q = questionnaire(spec, base_url=BASE_URL)
    Questionnaire.model_validate(q)
    options = questions(q)["today"]["answerOption"]
    system = f"{BASE_URL}/fhir/CodeSystem/mood"
    assert [o["valueCoding"] for o in options] == [
        {"system": system, "code": "low", "display": "Low"},
        {"system": system, "code": "high", "display": "High"},
    ]
    assert [ordinal(o) for o in options] == [0, 1.5]
    assert "code" not in q and all(i["type"] != "decimal" for i in q["item"])
    qr = export_response(spec, {"today": "high"})
    assert qr["item"][0]["answer"] == [
        {"valueCoding": {"system": system, "code": "high", "display": "High"}}
    ]
    assert (
        score_observation(
            spec,
            1.5,
            observation_id="o",
            effective=AUTHORED,
            subject_ref=SUBJECT,
            derived_from_ref=None,
        )
        is None
    )


@pytest.mark.parametrize("key,panel,item_codes,total,display,unscored,maximum", INSTRUMENTS)
def test_a_response_codes_answers_in_loinc_and_states_the_total(
    pack_specs, key, panel, item_codes, total, display, unscored, maximum
):
    spec = pack_specs[key]
    answers = {k: "more-than-half" for k in item_codes if k != unscored}
    answers["q1"] = "nearly-every-day"
    answers[unscored] = "very-difficult"
    qr = export_response(spec, answers)
    QuestionnaireResponse.model_validate(qr)
    by_link = {i["linkId"]: i["answer"][0] for i in qr["item"]}
    assert by_link["q1"] == {
        "valueCoding": {"system": LOINC, "code": "LA6571-9", "display": "Nearly every day"}
    }
    assert by_link["q2"]["valueCoding"]["code"] == "LA6570-1"
    assert by_link[unscored]["valueCoding"] == {
        "system": LOINC,
        "code": "LA6575-0",
        "display": "Very difficult",
    }
    assert by_link["total"] == {"valueDecimal": score(spec, answers).total}
    assert score(spec, answers).total == 3 + 2 * (len(item_codes) - 2)


def test_unanswered_items_are_left_out_of_a_draft_response(phq9):
    qr = export_response(phq9, {"q1": "not-at-all", "q2": None, "q3": ""}, status="in-progress")
    QuestionnaireResponse.model_validate(qr)
    assert [i["linkId"] for i in qr["item"]] == ["q1"]
    assert qr["status"] == "in-progress"


def test_a_response_refuses_answers_it_cannot_state_truthfully(phq9, pack_specs):
    with pytest.raises(ValueError, match="q1"):
        export_response(phq9, {"q1": "sometimes"})
    with pytest.raises(ValueError, match="timezone"):
        questionnaire_response(
            phq9,
            {},
            response_id="r",
            questionnaire_url="x",
            authored=datetime(2026, 1, 1),
            subject_ref=SUBJECT,
        )
    with pytest.raises(ValueError, match="between|from 0 to 10"):
        export_response(pack_specs["closing-outcomes"], {"less-heaviness": 11})
    with pytest.raises(ValueError, match="FHIR id"):
        questionnaire_response(
            phq9,
            {},
            response_id="not an id",
            questionnaire_url="x",
            authored=AUTHORED,
            subject_ref=SUBJECT,
        )


@pytest.mark.parametrize("key,panel,item_codes,total,display,unscored,maximum", INSTRUMENTS)
def test_the_score_observation_is_a_loinc_coded_survey_whose_value_is_the_score(
    pack_specs, key, panel, item_codes, total, display, unscored, maximum
):
    spec = pack_specs[key]
    rng = random.Random(7)
    for _ in range(20):
        answers = sample_answers(spec, rng)
        result = score(spec, answers)
        obs = score_observation(
            spec,
            result.total,
            observation_id=f"{key}-score-1",
            effective=AUTHORED,
            subject_ref=SUBJECT,
            derived_from_ref=f"QuestionnaireResponse/{key}-r1",
        )
        Observation.model_validate(obs)
        assert obs["status"] == "final"
        assert obs["category"] == [
            {"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}
        ]
        assert obs["code"]["coding"] == [{"system": LOINC, "code": total, "display": display}]
        assert obs["valueQuantity"] == {
            "value": result.total,
            "unit": "{score}",
            "system": UCUM,
            "code": "{score}",
        }
        assert obs["interpretation"] == [{"text": result.band.label}]
        assert obs["derivedFrom"] == [{"reference": f"QuestionnaireResponse/{key}-r1"}]
        assert obs["subject"] == {"reference": SUBJECT}
        assert obs["effectiveDateTime"] == "2026-03-14T09:30:00-05:00"
    with pytest.raises(ValueError, match="outside"):
        score_observation(
            spec,
            maximum + 1,
            observation_id="o",
            effective=AUTHORED,
            subject_ref=SUBJECT,
            derived_from_ref=None,
        )


def test_instruments_without_a_loinc_total_have_no_observation(pack_specs):
    for key in ("signs-you-might-benefit", "closing-outcomes", "self-assessment"):
        obs = score_observation(
            pack_specs[key],
            1,
            observation_id="o",
            effective=AUTHORED,
            subject_ref=SUBJECT,
            derived_from_ref=None,
        )
        assert obs is None


def test_a_collection_bundle_holds_questionnaire_response_and_observation(phq9, gad7):
    resources = []
    for spec in (phq9, gad7):
        answers = sample_answers(spec, random.Random(spec.key))
        resources += [
            questionnaire(spec, base_url=BASE_URL),
            export_response(spec, answers),
            score_observation(
                spec,
                score(spec, answers).total,
                observation_id=f"{spec.key}-score-1",
                effective=AUTHORED,
                subject_ref=SUBJECT,
                derived_from_ref=f"QuestionnaireResponse/{spec.key}-r1",
            ),
        ]
    stamp = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
    b = bundle(resources, base_url=BASE_URL, timestamp=stamp)
    Bundle.model_validate(b)
    assert b["type"] == "collection"
    assert b["timestamp"] == "2026-03-15T12:00:00+00:00"
    assert [e["fullUrl"] for e in b["entry"]] == [
        f"{BASE_URL}/fhir/Questionnaire/phq9",
        f"{BASE_URL}/fhir/QuestionnaireResponse/phq9-r1",
        f"{BASE_URL}/fhir/Observation/phq9-score-1",
        f"{BASE_URL}/fhir/Questionnaire/gad7",
        f"{BASE_URL}/fhir/QuestionnaireResponse/gad7-r1",
        f"{BASE_URL}/fhir/Observation/gad7-score-1",
    ]
    # The Questionnaire's canonical url is its fullUrl; the response points at it with a version.
    assert b["entry"][0]["resource"]["url"] == b["entry"][0]["fullUrl"]
    assert b["entry"][1]["resource"]["questionnaire"] == b["entry"][0]["fullUrl"] + "|1"
    assert datetime.fromisoformat(bundle([], base_url=BASE_URL)["timestamp"]).tzinfo is not None
    with pytest.raises(ValueError, match="twice"):
        bundle(resources[:1] * 2, base_url=BASE_URL)
