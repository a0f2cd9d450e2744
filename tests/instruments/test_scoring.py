"""Scoring is a pure function; PHQ-9 and GAD-7 are checked against every possible answer set."""

import itertools

import pytest

from kap.content.loader import read_pack
from kap.content.scoring import IncompleteAnswers, score, triggered
from tests.conftest import PACK_DIR

BUNDLE = read_pack(PACK_DIR)
SPECS = {s.key: s for s in BUNDLE.instruments}
VALUES = ["not-at-all", "several-days", "more-than-half", "nearly-every-day"]


def phq9_band(total: int) -> str:
    # Kroenke, Spitzer & Williams (2001): 5, 10, 15, 20 are the cut points.
    if total <= 4:
        return "Minimal"
    if total <= 9:
        return "Mild"
    if total <= 14:
        return "Moderate"
    if total <= 19:
        return "Moderately severe"
    return "Severe"


def gad7_band(total: int) -> str:
    # Spitzer et al. (2006): 5, 10, 15 are the cut points.
    return (
        "Minimal"
        if total <= 4
        else "Mild"
        if total <= 9
        else "Moderate"
        if total <= 14
        else "Severe"
    )


def test_every_phq9_answer_set_scores_as_published():
    spec = SPECS["phq9"]
    keys = [f"q{i}" for i in range(1, 10)]
    seen = 0
    for combo in itertools.product(range(4), repeat=9):
        answers = {k: VALUES[v] for k, v in zip(keys, combo, strict=True)}
        result = score(spec, answers)
        expected = sum(combo)
        assert result.total == expected
        assert result.band.label == phq9_band(expected)
        seen += 1
    assert seen == 4**9


def test_every_gad7_answer_set_scores_as_published():
    spec = SPECS["gad7"]
    keys = [f"q{i}" for i in range(1, 8)]
    for combo in itertools.product(range(4), repeat=7):
        answers = {k: VALUES[v] for k, v in zip(keys, combo, strict=True)}
        result = score(spec, answers)
        assert result.total == sum(combo)
        assert result.band.label == gad7_band(sum(combo))


def test_phq9_item_ten_is_recorded_but_not_scored():
    spec = SPECS["phq9"]
    answers = {f"q{i}": "several-days" for i in range(1, 10)}
    without = score(spec, answers).total
    answers["q10"] = "extremely-difficult"
    assert score(spec, answers).total == without == 9


@pytest.mark.parametrize("key", ["phq9", "gad7"])
def test_a_missing_answer_is_refused_never_scored_as_zero(key):
    spec = SPECS[key]
    answers = {i.key: "not-at-all" for i in spec.items if i.scored}
    answers.pop("q3")
    with pytest.raises(IncompleteAnswers) as exc:
        score(spec, answers)
    assert exc.value.missing == ["q3"]


def test_the_signs_checklist_counts_ticks():
    spec = SPECS["signs-you-might-benefit"]
    answers = {i.key: n % 2 == 0 for n, i in enumerate(spec.items)}
    assert score(spec, answers).total == 4
    assert score(spec, {}).total == 0


def test_the_closing_outcomes_score_their_mean():
    spec = SPECS["closing-outcomes"]
    answers = dict(zip([i.key for i in spec.items], [2, 4, 6, 8, 10], strict=True))
    assert score(spec, answers).total == 6
    answers["self-compassion"] = 11
    with pytest.raises(ValueError, match="between 0 and 10"):
        score(spec, answers)


def test_reflections_have_no_score():
    assert score(SPECS["self-assessment"], {"already-tried": "walking"}) is None


def test_item_nine_above_not_at_all_is_a_safety_event():
    spec = SPECS["phq9"]
    rules = BUNDLE.spec.safety_rules
    answers = {f"q{i}": "not-at-all" for i in range(1, 10)}
    assert triggered(rules, spec, answers) == []
    for value in VALUES[1:]:
        answers["q9"] = value
        assert [r.key for r in triggered(rules, spec, answers)] == ["phq9-item-9"]
    assert triggered(rules, SPECS["gad7"], {f"q{i}": "nearly-every-day" for i in range(1, 8)}) == []
