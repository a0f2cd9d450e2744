"""One rule turns a stored answer into words (kap.content.answers), for every kind of item."""

import pytest

from kap.content.answers import answer_words
from kap.content.specs import InstrumentSpec

SPEC = InstrumentSpec.model_validate(
    {
        "key": "mixed",
        "version": 1,
        "kind": "reflection",
        "title": "Every kind of item",
        "items": [
            {"key": "tick", "text": "Ticked?", "type": "check"},
            {
                "key": "pick",
                "text": "Which?",
                "type": "choice",
                "options": [{"value": "several-days", "label": "Several days"}],
            },
            {"key": "rate", "text": "How much?", "type": "rating"},
            {"key": "write", "text": "In your words"},
        ],
    }
)


def words(key, value):
    return answer_words(SPEC, SPEC.items_by_key[key], value)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("tick", True, "Yes"),
        ("tick", False, "No"),
        ("pick", "several-days", "Several days"),
        # An option an older version had (and this one has not) reads as it was stored.
        ("pick", "gone-option", "gone-option"),
        ("rate", 7, "7"),
        ("rate", 0, "0"),
        ("write", "  A few words.\n", "A few words."),
    ],
)
def test_each_kind_of_answer_reads_as_the_response_page_shows_it(key, value, expected):
    assert words(key, value) == expected


@pytest.mark.parametrize("key", ["tick", "pick", "rate", "write"])
@pytest.mark.parametrize("value", [None, ""])
def test_nothing_stored_is_no_answer(key, value):
    assert words(key, value) == ""
