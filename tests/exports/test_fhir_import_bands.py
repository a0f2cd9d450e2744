"""An imported questionnaire that is a measure the server knows (by its LOINC panel code) gets that
measure's score bands; and an imported questionnaire keeps its publisher's canonical URL in every
export, so that the answers still name the questionnaire they answer."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from kap.accounts.models import CareLink, Clinic
from kap.content.crisis import safety_rules_for
from kap.content.loader import _checksum
from kap.content.models import Instrument, Scope
from kap.content.scoring import score
from kap.content.specs import Band
from kap.exports import fhir_export, json_export, questionnaire_import
from kap.exports.fhir import ORDINAL_VALUE, canonical_url, questionnaire, questionnaire_response
from kap.exports.fhir_import import instrument_from_questionnaire, with_known_scoring
from kap.journal.models import Response
from tests.exports.helpers import (
    BASE_URL,
    FIXTURES,
    NLM_PHQ9,
    SDC_PHQ9,
    read_fixture,
    sample_answers,
)

SEVERITY = ["Minimal", "Mild", "Moderate", "Moderately severe", "Severe"]
SDC_CANONICAL = "http://hl7.org/fhir/uv/sdc/Questionnaire/questionnaire-sdc-profile-example-PHQ9"


def by_position(spec, other, answers: dict) -> dict:
    """The same choices, item by item and option by option, in another instrument's values."""
    out = {}
    for item, theirs in zip(spec.items, other.items, strict=False):
        if item.key in answers:
            values = [o.value for o in spec.options_for(item)]
            out[theirs.key] = other.options_for(theirs)[values.index(answers[item.key])].value
    return out


# --- with_known_scoring (pure) -----------------------------------------------------------------


def test_the_nlm_phq9_gets_the_phq9_bands_and_scores_identically(phq9):
    spec = with_known_scoring(instrument_from_questionnaire(read_fixture(NLM_PHQ9)), [phq9])
    assert [b.label for b in spec.scoring.bands] == SEVERITY
    assert spec.scoring.bands == phq9.scoring.bands
    assert (spec.scoring.label, spec.scoring.code) == (phq9.scoring.label, "44261-6")
    assert (spec.scoring.min, spec.scoring.max) == (0, 27)
    rng = random.Random(9)
    for _ in range(300):
        answers = sample_answers(phq9, rng)
        mine, theirs = score(spec, by_position(phq9, spec, answers)), score(phq9, answers)
        assert (mine.total, mine.band.label) == (theirs.total, theirs.band.label)


def test_without_a_known_measure_an_import_has_no_bands(phq9, gad7):
    spec = instrument_from_questionnaire(read_fixture(NLM_PHQ9))
    assert spec.scoring.bands == []
    assert with_known_scoring(spec, []) == spec
    assert with_known_scoring(spec, [gad7]) == spec, "another panel code"


def test_a_questionnaire_without_a_panel_code_is_left_as_it_is(phq9):
    """The HL7 SDC PHQ-9 has no Questionnaire.code (only its total item is LOINC-coded)."""
    spec = instrument_from_questionnaire(read_fixture(SDC_PHQ9))
    assert spec.code is None
    assert with_known_scoring(spec, [phq9]) == spec


def test_a_different_score_range_gets_no_bands(phq9):
    data_ = read_fixture(NLM_PHQ9)
    for item in data_["item"][:9]:
        for option in item["answerOption"]:
            for ext in option["extension"]:
                if ext["url"] == ORDINAL_VALUE:
                    ext["valueDecimal"] += 1  # 1..4 per item: 9..36
    spec = instrument_from_questionnaire(data_)
    assert (spec.scoring.min, spec.scoring.max) == (9, 36)
    assert with_known_scoring(spec, [phq9]).scoring.bands == []


def test_a_different_total_code_gets_no_bands(phq9):
    spec = instrument_from_questionnaire(read_fixture(NLM_PHQ9))
    other_total = spec.model_copy(
        update={"scoring": spec.scoring.model_copy(update={"code": "12345-6"})}
    )
    assert with_known_scoring(other_total, [phq9]) == other_total


def test_the_first_known_measure_that_fits_wins_and_own_bands_are_kept(phq9):
    spec = instrument_from_questionnaire(read_fixture(NLM_PHQ9))
    ours = [Band(min=0, max=13, label="Lower"), Band(min=14, max=27, label="Higher")]
    clinic = phq9.model_copy(update={"scoring": phq9.scoring.model_copy(update={"bands": ours})})
    assert with_known_scoring(spec, [clinic, phq9]).scoring.bands == ours
    banded = with_known_scoring(spec, [clinic])
    assert with_known_scoring(banded, [phq9]) == banded, "an import with bands keeps them"


# --- Stored imports ------------------------------------------------------------------------------


def upload_nlm(owner, change=None):
    doc = read_fixture(NLM_PHQ9)
    if change:
        change(doc)
    return questionnaire_import.import_questionnaire(owner=owner, raw=json.dumps(doc).encode())[0]


@pytest.mark.django_db
def test_an_imported_phq9_is_stored_with_bands_and_keeps_its_safety_rule(client, make_user, guide):
    alex = make_user("alex@example.com")
    instrument = upload_nlm(alex)
    spec = instrument.parsed
    assert (instrument.scope, instrument.owner) == (Scope.PERSONAL, alex)
    assert [b.label for b in spec.scoring.bands] == SEVERITY
    rules = safety_rules_for(instrument)
    assert [(r.key, r.item) for r in rules] == [("phq9-item-9", "44260-8")]

    client.force_login(alex)
    options = ["several-days"] * 5 + ["more-than-half-the-days"] * 2 + ["not-at-all"] * 2
    answers = {item.key: value for item, value in zip(spec.items, options, strict=False)}
    response = client.post(reverse("journal:instrument", args=[instrument.key]), answers)
    assert response.status_code == 302
    stored = Response.objects.get(client=alex, instrument=instrument)
    assert (stored.score_total, stored.score_band) == (9, "Mild")


@pytest.mark.django_db
def test_a_clinic_measure_lends_its_bands_to_its_own_peoples_imports(make_user, guide):
    north = Clinic.objects.create(name="North Clinic")
    therapist = make_user("dr@example.com", role="therapist", clinic=north)
    linked, unlinked = make_user("linked@example.com"), make_user("unlinked@example.com")
    CareLink.objects.create(client=linked, therapist=therapist, scopes=[])
    phq9 = Instrument.objects.server().get(spec__code="44249-1")
    bands = [{"min": 0, "max": 13, "label": "Lower"}, {"min": 14, "max": 27, "label": "Higher"}]
    spec = phq9.spec | {
        "key": "north-mood",
        "code": "99999-9",
        "scoring": phq9.spec["scoring"] | {"bands": bands, "label": "North total"},
    }
    Instrument.objects.create(
        scope=Scope.CLINIC,
        clinic=north,
        pack=guide,  # a pack instrument (a clinic pack in real life; only `pack` counts here)
        key="north-mood",
        version=1,
        kind="questionnaire",
        title="North mood",
        spec=spec,
        # The real checksum: parsed specs are cached by (pk, checksum), and primary keys are
        # reused between tests.
        checksum=_checksum(spec),
    )

    def recode(doc):
        doc["code"][0]["code"] = "99999-9"

    assert [b.label for b in upload_nlm(linked, recode).parsed.scoring.bands] == ["Lower", "Higher"]
    assert upload_nlm(linked, recode).parsed.scoring.label == "North total"
    assert upload_nlm(unlinked, recode).parsed.scoring.bands == []


# --- The canonical URL in exports -----------------------------------------------------------------


def test_an_imported_questionnaire_exports_under_its_publishers_canonical_url(phq9):
    spec = instrument_from_questionnaire(read_fixture(SDC_PHQ9))
    assert canonical_url(spec, base_url=BASE_URL) == f"{SDC_CANONICAL}|0.0.1"
    q = questionnaire(spec, base_url=BASE_URL)
    assert (q["url"], q["version"]) == (SDC_CANONICAL, "0.0.1")
    assert "derivedFrom" not in q
    assert BASE_URL not in json.dumps({k: v for k, v in q.items() if k != "item"})
    # Imported again, it is still the publisher's questionnaire.
    assert instrument_from_questionnaire(q).source == spec.source

    # A pack's own instrument keeps this server's URL.
    assert canonical_url(phq9, base_url=BASE_URL) == f"{BASE_URL}/fhir/Questionnaire/phq9|1"
    assert questionnaire(phq9, base_url=BASE_URL)["url"] == f"{BASE_URL}/fhir/Questionnaire/phq9"


def test_a_canonical_url_without_a_version_is_kept_without_one():
    doc = read_fixture(SDC_PHQ9)
    del doc["version"]
    spec = instrument_from_questionnaire(doc)
    assert canonical_url(spec, base_url=BASE_URL) == SDC_CANONICAL
    assert "version" not in questionnaire(spec, base_url=BASE_URL)
    qr = questionnaire_response(
        spec,
        {i.key: "not-at-all" for i in spec.items},
        response_id="r",
        questionnaire_url=canonical_url(spec, base_url=BASE_URL),
        authored=datetime(2026, 1, 1, tzinfo=UTC),
        subject_ref="Patient/p",
        base_url=BASE_URL,
    )
    assert qr["questionnaire"] == SDC_CANONICAL


@pytest.mark.django_db
def test_the_fhir_bundle_names_an_imported_questionnaire_by_its_canonical_url(client, make_user):
    alex = make_user("alex@example.com")
    instrument = questionnaire_import.import_questionnaire(
        owner=alex, raw=(FIXTURES / SDC_PHQ9).read_bytes()
    )[0]
    client.force_login(alex)
    answers = {item.key: "several-days" for item in instrument.parsed.items}
    assert client.post(reverse("journal:instrument", args=[instrument.key]), answers).status_code
    assert Response.objects.filter(client=alex, submitted_at__isnull=False).count() == 1

    bundle = fhir_export.fhir_bundle(alex, base_url=BASE_URL)
    resources = [e["resource"] for e in bundle["entry"]]
    (q,) = [r for r in resources if r["resourceType"] == "Questionnaire"]
    (qr,) = [r for r in resources if r["resourceType"] == "QuestionnaireResponse"]
    assert qr["questionnaire"] == f"{SDC_CANONICAL}|0.0.1"
    assert f"{q['url']}|{q['version']}" == qr["questionnaire"], "the bundle holds what it names"

    # The JSON export names it by key and version, and carries the canonical URL in its spec.
    (entry,) = json_export.export_dict(alex)["instruments"]
    assert entry["spec"]["source"] == f"{SDC_CANONICAL}|0.0.1"
