"""An instrument is added as data, not code: no instrument key is written in the app's code.

What the app does with an instrument (the intention, the worksheet, the measures followed over
time, the sharing scope its answers go under, the practice page it gets) is said by its pack
(kap/content/packs/*/pack.yaml, read through kap.content.roles). A key written in Python, a
template or a script would make a second pack, a clinic's pack or a renamed instrument behave
differently from the built-in one.
"""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1] / "kap"
PACKS = ROOT / "content" / "packs"
SCANNED = {".py", ".html", ".txt", ".js", ".css"}


def instrument_keys() -> set[str]:
    keys = set()
    for pack in PACKS.glob("*/pack.yaml"):
        for rel in yaml.safe_load(pack.read_text())["instruments"]:
            keys.add(yaml.safe_load((pack.parent / rel).read_text())["key"])
    return keys


def code_files():
    for path in ROOT.rglob("*"):
        if path.suffix not in SCANNED or not path.is_file():
            continue
        if PACKS in path.parents or "migrations" in path.parts or "vendor" in path.parts:
            continue
        yield path


def test_the_packs_have_instrument_keys_to_look_for():
    assert {"phq9", "gad7", "intention-setting"} <= instrument_keys()


def key_pattern(keys: set[str]) -> re.Pattern:
    """A key as a string literal, a template argument or a URL part: "phq9", 'phq9', /phq9/."""
    alternatives = "|".join(map(re.escape, sorted(keys)))
    return re.compile(r"""(["'/])(""" + alternatives + r""")\1""")


def test_no_instrument_key_is_written_in_code_or_templates():
    pattern = key_pattern(instrument_keys())
    found = [
        f"{path.relative_to(ROOT.parent)}:{n}: {line.strip()}"
        for path in code_files()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == [], "instrument keys in code:\n" + "\n".join(found)


def test_the_check_finds_a_key_written_in_code():
    # A key in quotes is found; the same word in prose is not.
    pattern = key_pattern(instrument_keys())
    assert pattern.search('SCORED = ("phq9", "gad7")')
    assert pattern.search("{% url 'journal:instrument' 'intention-setting' %}")
    assert not pattern.search("try a grounding practice")
