"""Helpers for the FHIR export and import tests: the built-in pack, the real-world fixtures (copied
unchanged into tests/fixtures/fhir from the team's shared/fixtures/fhir, see SOURCES.md there), and
sample answers."""

import json
import random
from pathlib import Path

from kap.content.specs import InstrumentSpec

REPO = Path(__file__).resolve().parents[2]
PACK_DIR = REPO / "kap" / "content" / "packs" / "kap-guide"
FIXTURES = REPO / "tests" / "fixtures" / "fhir"
BASE_URL = "https://kap.example.org"

NLM_PHQ9 = "nlm-lhcforms-phq9-questionnaire.json"
SDC_PHQ9 = "hl7-sdc-phq9-questionnaire.json"
SDC_PHQ9_RESPONSE = "hl7-sdc-phq9-questionnaireresponse.json"


def read_fixture(name: str) -> dict:
    """A fixture exactly as published."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def sample_answers(spec: InstrumentSpec, rng: random.Random) -> dict:
    """A complete, plausible answer set for any instrument."""
    answers: dict = {}
    for item in spec.items:
        kind = spec.item_type(item)
        if kind == "check":
            answers[item.key] = rng.random() < 0.5
        elif kind == "text":
            answers[item.key] = rng.choice(["A quiet morning.", "Breathing — slowly.\nAgain."])
        elif kind == "choice":
            answers[item.key] = rng.choice(spec.options_for(item)).value
        else:
            answers[item.key] = rng.randint(item.min, item.max)
    return answers


def walk(items: list[dict]):
    """Every item of a Questionnaire or QuestionnaireResponse, nested ones included."""
    for item in items:
        yield item
        yield from walk(item.get("item", []))
        for answer in item.get("answer", []):
            yield from walk(answer.get("item", []))
