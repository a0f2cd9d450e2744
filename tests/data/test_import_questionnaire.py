"""Importing a FHIR Questionnaire (POST /data/import-questionnaire/) with the two published PHQ-9
files: it becomes an instrument to fill in, scored to the published sum, and an answer above
"not at all" to item 9 brings the default pack's crisis support, as the guide's PHQ-9 does."""

from __future__ import annotations

import copy
import json
from urllib.parse import urlsplit

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from kap.content.crisis import safety_rules_for
from kap.content.models import Instrument
from kap.journal.models import Response, SafetyEvent
from tests.data.conftest import page_text, row_counts, upload
from tests.data.people import FHIR_FIXTURES, NLM_PHQ9, SDC_PHQ9

# Each fixture: its instrument key, its nine scored items (in order) and item 9's key.
FIXTURES = {
    NLM_PHQ9: (
        "phq-9-quick-depression-assessment-panel",
        [
            "44250-9",
            "44255-8",
            "44259-0",
            "44254-1",
            "44251-7",
            "44258-2",
            "44252-5",
            "44253-3",
            "44260-8",
        ],
    ),
    SDC_PHQ9: ("sdcphq9", [f"h1-t1-q{i}" for i in range(1, 10)]),
}
# The published PHQ-9 options and their weights (0-3).
OPTIONS = ["not-at-all", "several-days", "more-than-half-the-days", "nearly-every-day"]


def fixture_bytes(name: str) -> bytes:
    return (FHIR_FIXTURES / name).read_bytes()


def import_questionnaire(client, content: bytes, name: str = "questionnaire.json"):
    return upload(client, "exports:import-questionnaire", "questionnaire-file", content, name)


def messages_of(response) -> list[str]:
    return [m.message for m in get_messages(response.wsgi_request)]


def answers(items: list[str], weights: list[int]) -> dict[str, str]:
    return {key: OPTIONS[w] for key, w in zip(items, weights, strict=True)}


@pytest.mark.parametrize("name", [NLM_PHQ9, SDC_PHQ9])
def test_an_imported_phq9_opens_as_a_check_in_and_says_it_watches_item_9(logged_in, name):
    key, items = FIXTURES[name]
    response = import_questionnaire(logged_in, fixture_bytes(name), name)

    assert response.status_code == 302
    assert response.url == reverse("journal:instrument", args=[key])
    instrument = Instrument.objects.get(key=key)
    assert instrument.pack is None and instrument.kind == "questionnaire"
    (message,) = messages_of(response)
    assert message.startswith(f"“{instrument.title}” was added. You can fill it in below.")
    assert "Answers to its question about self-harm show crisis support at once" in message
    assert "not checked for signs of crisis" not in message

    page = logged_in.get(response.url)
    assert page.status_code == 200
    for key_ in items:
        assert f'name="{key_}"' in page.content.decode()


@pytest.mark.parametrize("name", [NLM_PHQ9, SDC_PHQ9])
def test_the_default_packs_item_9_rule_applies_to_both_published_phq9s(guide, client_user, name):
    from kap.exports import questionnaire_import

    instrument, created = questionnaire_import.import_questionnaire(
        owner=client_user, raw=fixture_bytes(name)
    )
    key, items = FIXTURES[name]
    assert created and instrument.key == key
    rules = safety_rules_for(instrument)
    assert [(r.key, r.instrument, r.item, r.above) for r in rules] == [
        ("phq9-item-9", key, items[8], 0)
    ]
    # The NLM file matches by LOINC code, the SDC file (no codes) by the question's wording.
    item9 = instrument.parsed.items_by_key[items[8]]
    assert item9.code == ("44260-8" if name == NLM_PHQ9 else None)


@pytest.mark.parametrize("name", [NLM_PHQ9, SDC_PHQ9])
def test_item_9_above_zero_stores_a_safety_event_and_shows_crisis_support_at_once(
    logged_in, client_user, name
):
    key, items = FIXTURES[name]
    import_questionnaire(logged_in, fixture_bytes(name), name)
    weights = [1, 2, 3, 0, 1, 2, 3, 0, 1]  # published sum: 13

    page = logged_in.post(
        reverse("journal:instrument", args=[key]), answers(items, weights), follow=True
    )

    # The crisis support is on the result page the submit leads to (post/redirect/get).
    assert page.status_code == 200
    text = page_text(page)
    assert "Please reach out for support now" in text
    assert "Call or text 988" in text
    response = Response.objects.get(client=client_user, instrument__key=key)
    assert response.status == "submitted"
    assert response.score_total == sum(weights) == 13
    assert "13" in text
    event = SafetyEvent.objects.get(client=client_user)
    assert (event.response, event.rule_key) == (response, "phq9-item-9")


@pytest.mark.parametrize("name", [NLM_PHQ9, SDC_PHQ9])
def test_item_9_at_zero_is_saved_without_a_safety_event_and_scored_to_the_published_sum(
    logged_in, client_user, name
):
    key, items = FIXTURES[name]
    import_questionnaire(logged_in, fixture_bytes(name), name)
    weights = [3, 3, 3, 3, 3, 3, 3, 3, 0]  # published sum: 24

    page = logged_in.post(reverse("journal:instrument", args=[key]), answers(items, weights))

    response = Response.objects.get(client=client_user, instrument__key=key)
    assert page.status_code == 302
    assert urlsplit(page.url).path == reverse("journal:response", args=[response.pk])
    assert response.score_total == 24
    assert not SafetyEvent.objects.exists()
    assert "Please reach out for support now" not in page_text(logged_in.get(page.url))


def without_item_9() -> bytes:
    data = json.loads(fixture_bytes(NLM_PHQ9))
    stripped = copy.deepcopy(data)
    stripped["item"] = [i for i in data["item"] if i["linkId"] != "/44260-8"]
    assert len(stripped["item"]) == len(data["item"]) - 1
    return json.dumps(stripped).encode()


def test_a_questionnaire_without_a_watched_question_is_added_with_a_plain_warning(
    logged_in, client_user
):
    response = import_questionnaire(logged_in, without_item_9())

    assert response.status_code == 302
    instrument = Instrument.objects.get(pack=None)
    assert safety_rules_for(instrument) == []
    (message,) = messages_of(response)
    assert "answers here are not checked for signs of crisis" in message
    assert "show crisis support at once" not in message
    # And indeed nothing is watched: the worst answers store no safety event.
    items = FIXTURES[NLM_PHQ9][1][:8]
    logged_in.post(reverse("journal:instrument", args=[instrument.key]), answers(items, [3] * 8))
    assert Response.objects.get(client=client_user).score_total == 24
    assert not SafetyEvent.objects.exists()


def test_the_same_questionnaire_imported_again_is_the_one_already_there(logged_in):
    first = import_questionnaire(logged_in, fixture_bytes(SDC_PHQ9))
    second = import_questionnaire(logged_in, fixture_bytes(SDC_PHQ9))
    assert second.status_code == 302 and second.url == first.url
    assert Instrument.objects.filter(pack=None).count() == 1
    assert messages_of(second)[-1] == (
        "“Patient Health Questionnaire - 9 Item” was imported before; here it is."
    )


def test_an_imported_questionnaire_never_replaces_the_guides_phq9(logged_in, client_user):
    data = json.loads(fixture_bytes(NLM_PHQ9))
    data["name"] = "phq9"
    response = import_questionnaire(logged_in, json.dumps(data).encode())

    assert response.url == reverse("journal:instrument", args=["phq9-imported"])
    guide_phq9 = Instrument.objects.current().get(key="phq9")
    assert guide_phq9.pack is not None
    # The copy still has the safety rule, on its own key.
    items = FIXTURES[NLM_PHQ9][1]
    page = logged_in.post(response.url, answers(items, [0] * 8 + [2]), follow=True)
    assert page.status_code == 200 and "Call or text 988" in page_text(page)
    assert SafetyEvent.objects.get().response.instrument.key == "phq9-imported"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"resourceType": "Questionnaire",', "This file is not valid JSON"),
        (fixture_bytes(SDC_PHQ9.replace("questionnaire", "questionnaireresponse")), "cannot be"),
        (b"\xff\xfe", "This file is not UTF-8 text"),
    ],
    ids=["malformed", "a-response-not-a-questionnaire", "not-utf8"],
)
def test_a_file_that_is_not_a_questionnaire_is_refused_and_nothing_is_stored(
    logged_in, content, expected
):
    before = row_counts()
    response = import_questionnaire(logged_in, content)
    assert response.status_code == 400
    text = page_text(response)
    assert expected in text
    assert "Nothing was" in text
    assert row_counts() == before


def test_a_questionnaire_with_a_feature_the_app_cannot_show_is_refused_naming_the_item(
    logged_in,
):
    data = json.loads(fixture_bytes(NLM_PHQ9))
    data["item"][1]["enableWhen"] = [
        {"question": "/44250-9", "operator": "exists", "answerBoolean": True}
    ]
    before = row_counts()
    response = import_questionnaire(logged_in, json.dumps(data).encode())
    assert response.status_code == 400
    text = page_text(response)
    assert "This Questionnaire cannot be imported" in text
    assert "44255-8" in text and "enableWhen" in text
    assert row_counts() == before


@pytest.mark.parametrize("name", [NLM_PHQ9, SDC_PHQ9])
def test_the_crisis_screen_of_an_imported_phq9_says_what_the_guides_phq9_says(
    logged_in, guide, name
):
    from tests.data.people import PHQ9_NO_Q9

    guide_page = page_text(
        logged_in.post(
            reverse("journal:instrument", args=["phq9"]),
            PHQ9_NO_Q9 | {"q9": "several-days"},
            follow=True,
        )
    )
    rule = guide.parsed.safety_rules[0]
    notice = " ".join(guide.parsed.not_monitored.split())
    assert " ".join(rule.message.split()) in guide_page and notice in guide_page

    key, items = FIXTURES[name]
    import_questionnaire(logged_in, fixture_bytes(name), name)
    page = logged_in.post(
        reverse("journal:instrument", args=[key]), answers(items, [0] * 8 + [1]), follow=True
    )
    text = page_text(page)
    assert "Call or text 988" in text
    assert " ".join(rule.message.split()) in text
    assert notice in text
