"""The guide's own words are the pack's source (issue 19): every line of the resource guide, its
headings, prose and list items, is in the built-in pack as written, in the guide's American
spelling, so that every language translates the same text."""

import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from kap.content.loader import read_pack
from tests.conftest import PACK_DIR

REPO = PACK_DIR.parents[3]
# The resource guide as written: the repository's copy of the team's shared/guide file.
GUIDE_TXT = REPO / "tests" / "fixtures" / "guide" / "kap-resource-guide.txt"
SHARED_GUIDE_TXT = REPO.parent / "shared" / "guide" / "kap-resource-guide.txt"

_md = MarkdownIt("commonmark")

_DASH = re.compile(r"\s*(?:[\u2012\u2013\u2014\u2015]|--)\s*")
_LIST_MARKER = re.compile(r"^\s*(?:#{1,6}\s+|[-*+\u2022\u25e6\u25aa](?:\s+|$)|>\s*)")
_EMPHASIS = re.compile(r"\*\*|__|(?<![\w*])[*_](?=\S)|(?<=\S)[*_](?![\w*])|`")
# Where a line of the guide may begin or end inside a longer paragraph: at a sentence's edge.
_SENTENCE_END = (".", "!", "?", ":", '."', '?"', '!"')


def normalise(text: str) -> str:
    """The words of `text` without the marks that vary between editors: whitespace, curly or
    straight quotes, kinds of dash, bullet characters and Markdown list markers and emphasis."""
    text = text.replace("\u00a0", " ")
    text = re.sub("[\u2018\u2019\u201a\u201b\u2032]", "'", text)
    text = re.sub("[\u201c\u201d\u201e\u201f\u2033]", '"', text)
    text = text.replace("\u2010", "-").replace("\u2011", "-")
    text = _DASH.sub(" - ", text)
    text = _LIST_MARKER.sub("", text)
    text = _EMPHASIS.sub("", text)
    return re.sub(r"\s+", " ", text).strip()


def guide_lines(path: Path = GUIDE_TXT) -> list[str]:
    """Every non-empty line of the guide (a bullet with nothing after it is empty)."""
    lines = (normalise(line) for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def pack_units(folder: Path) -> list[str]:
    """The pack's text, one unit at a time: every text field of pack.yaml and the instruments
    (titles, prompts, intros, items, steps, help...) and every heading, paragraph and list item
    of the pages. A line of the guide is looked for within one unit, never across two."""
    bundle = read_pack(folder)
    texts = _strings(bundle.spec.model_dump(mode="json"))
    for spec in bundle.instruments:
        texts += _strings(spec.model_dump(mode="json"))
    for page in bundle.pages:
        texts += [t.content for t in _md.parse(page.body) if t.type == "inline"]
    return [u for u in (normalise(t) for t in texts) if u]


def found(line: str, units: list[str]) -> bool:
    """Whether `line` is a whole unit, or (a sentence or more) whole sentences of one."""
    if line in units:
        return True
    if not line.endswith(_SENTENCE_END):
        return False  # a heading or list item stands on its own, not inside other words
    edge = re.compile(r'(?:^|(?<=[.!?:"] ))' + re.escape(line) + r"(?= |$)")
    return any(edge.search(u) for u in units)


def missing_lines(folder: Path) -> list[str]:
    units = pack_units(folder)
    return [line for line in guide_lines() if not found(line, units)]


def test_every_line_of_the_guide_is_in_the_pack_as_written():
    lines = guide_lines()
    assert len(lines) == 122, "the guide's headings, prose and items, counted once"
    missing = missing_lines(PACK_DIR)
    assert not missing, "not in the pack as the guide words it:\n" + "\n".join(missing)


def test_a_paraphrased_line_is_found_out(pack_copy):
    page = pack_copy / "pages" / "01-understanding-kap.md"
    page.write_text(
        page.read_text().replace(
            "This can feel frustrating.",
            "That gap between knowing and changing can be discouraging.",
        )
    )
    item = pack_copy / "instruments" / "build-support.yaml"
    item.write_text(item.read_text().replace("text: Consistent routines", "text: Steady routines"))
    apps = pack_copy / "pages" / "10-books-and-apps.md"
    apps.write_text(apps.read_text().replace("- Calm\n", ""))
    assert missing_lines(pack_copy) == ["This can feel frustrating.", "Consistent routines", "Calm"]


def test_a_heading_inside_other_words_does_not_count():
    units = [normalise("Calm (4 in, 6 out)"), normalise("Recommended Books and Apps")]
    assert not found("Calm", units)
    assert not found("Books", units)
    assert found("Books", units + ["Books"])


@pytest.mark.parametrize(
    "in_pack, in_guide",
    [
        ("**Take slow, steady breaths**", "- **Take slow, steady breaths**"),
        ('"What do I want to understand?"', "- **“What do I want to understand?”**"),
        ("the brain's ability", "the brain’s ability"),
        ("clearly — yet still", "clearly—yet still"),
        ("How to Change Your Mind -- Michael Pollan", "How to Change Your Mind — Michael Pollan"),
        ("*A Practical Guide*", "A Practical Guide"),
        ("• Calm", "Calm"),
        ("one\n  line", "one line"),
    ],
)
def test_only_marks_are_normalised_away(in_pack, in_guide):
    assert normalise(in_pack) == normalise(in_guide)


@pytest.mark.parametrize(
    "in_pack, in_guide",
    [
        ("A practical guide", "A Practical Guide"),  # capitals are the guide's wording
        ("reorganise", "reorganize"),  # and so is its spelling
        ("This can feel frustrating", "This can feel frustrating."),
    ],
)
def test_words_are_not_normalised_away(in_pack, in_guide):
    assert normalise(in_pack) != normalise(in_guide)


def _british(word: str) -> str:
    """The British form of one of the guide's American spellings."""
    return word.replace("iz", "is").replace("havior", "haviour")


def test_the_pack_keeps_the_guides_american_spelling():
    words = set(re.findall(r"[A-Za-z]*(?:iz|havior)[a-z]*", GUIDE_TXT.read_text()))
    assert {"reorganize", "realizations", "stabilize", "Prioritizing", "behavior"} <= words
    british = {_british(w).lower() for w in words} | {"practise", "practised", "practising"}
    text = " ".join(pack_units(PACK_DIR)).lower()
    assert not [w for w in sorted(british) if re.search(rf"\b{w}\b", text)]


@pytest.mark.skipif(not SHARED_GUIDE_TXT.is_file(), reason="no shared guide beside the repository")
def test_the_repositorys_copy_of_the_guide_is_the_shared_one():
    assert GUIDE_TXT.read_bytes() == SHARED_GUIDE_TXT.read_bytes()
