"""The words about change and about each session: pure functions, no database."""

from datetime import UTC, datetime

import pytest
import yaml

from kap.content.specs import Measure, PackSpec
from kap.progress.change import Change, change_between
from kap.progress.trends import SessionCounts
from tests.conftest import PACK_DIR

# The measures as the guide's pack publishes them (response_fraction, remission_below).
MEASURES = {
    m.instrument: m
    for m in PackSpec.model_validate(yaml.safe_load((PACK_DIR / "pack.yaml").read_text())).measures
}


def words(first, latest, key="phq9", count=2) -> str:
    measure = MEASURES[key]
    change = change_between(measure.label, measure, first, latest, count)
    return " ".join(change.sentences()) if change else ""


def test_a_drop_of_half_or_more_is_called_a_response_in_words():
    text = words(14, 6)
    assert "Your latest PHQ-9 (6) is 57% lower than your first (14)." in text
    assert "Researchers call a drop of half or more a ‘response’." in text
    assert "remission" not in text
    assert "not a diagnosis" in text


def test_a_phq9_under_five_after_a_response_is_also_called_remission():
    text = words(14, 4)
    assert "71% lower" in text
    assert "‘response’" in text
    assert "It is also below 5, which researchers call ‘remission’." in text


def test_a_smaller_drop_is_described_without_research_words():
    text = words(14, 10)
    assert "Your latest PHQ-9 (10) is 29% lower than your first (14)." in text
    assert "response" not in text
    assert "remission" not in text


def test_one_score_gets_no_words_about_change():
    assert change_between("PHQ-9", MEASURES["phq9"], 14, 14, 1) is None


def test_a_score_that_was_always_low_is_not_called_remission():
    change = Change("PHQ-9", 4, 2, remission_below=5, response_fraction=0.5)
    assert change.is_response
    assert not change.is_remission


def test_remission_is_only_for_the_phq9():
    assert not Change("GAD-7", 14, 4, response_fraction=0.5).is_remission
    assert "remission" not in words(14, 4, key="gad7")
    assert "‘response’" in words(14, 4, key="gad7")


def test_a_first_score_of_zero_never_divides_by_zero():
    text = words(0, 3)
    assert "higher than your first (0)" in text
    assert "response" not in text


def test_the_same_score_is_said_plainly():
    assert words(9, 9) == "Your latest PHQ-9 (9) is the same as your first."


def test_exactly_half_counts_as_a_response():
    assert Change("PHQ-9", 10, 5, response_fraction=0.5).is_response
    assert not Change("PHQ-9", 10, 5.5, response_fraction=0.5).is_response


def test_a_measure_without_a_published_response_rule_gets_no_research_words():
    text = " ".join(Change("Mood scale", 14, 2).sentences())
    assert "86% lower" in text
    assert "response" not in text
    assert "remission" not in text


def test_another_response_fraction_is_said_as_a_percentage():
    measure = Measure(instrument="other", label="Other", response_fraction=0.6)
    text = " ".join(change_between("Other", measure, 10, 6, 2).sentences())
    assert "Researchers call a drop of 40% or more a ‘response’." in text


WHEN = datetime(2026, 3, 3, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    "counts, sentence",
    [
        ((4, 0, 3, 2), "After session 3 you wrote 4 insights and 2 of 3 action steps are done."),
        ((1, 0, 0, 0), "After session 3 you wrote 1 insight."),
        (
            (2, 1, 2, 0),
            "After session 3 you wrote 2 insights and 1 integration worksheet, "
            "and you set 2 action steps.",
        ),
        ((0, 0, 1, 1), "After session 3, your action step is done."),
        (
            (0, 0, 0, 0),
            "After session 3 nothing is written yet. A few words are enough, whenever you like.",
        ),
    ],
)
def test_each_session_is_described_in_one_plain_sentence(counts, sentence):
    insights, worksheets, steps, done = counts
    assert SessionCounts(3, 1, WHEN, insights, worksheets, steps, done).sentence == sentence


@pytest.mark.parametrize(
    ("value", "english", "spanish"),
    [
        (7, "7", "7"),
        (7.0, "7", "7"),
        (6.5, "6.5", "6,5"),
        (3.25, "3.3", "3,3"),
        (14.96, "15", "15"),
        (4.35, "4.4", "4,4"),
        (0.04, "0", "0"),
        (-0.04, "0", "0"),
    ],
)
def test_a_number_has_one_decimal_at_most_a_half_rounded_up(value, english, spanish):
    from django.utils import translation

    from kap.progress.change import number

    with translation.override("en"):
        assert number(value) == english
    with translation.override("es"):
        assert number(value) == spanish
