"""All the practices' JavaScript stays small: under 16 KB once comments and indentation go.

(It was 15 KB before the scripts spoke Spanish: each word they show now carries the key of its
translation, T("you_finished", "You finished"), about 0.6 KB in all.)"""

import re
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "kap" / "static" / "kap" / "practices"
LIMIT = 16_000


def stripped(source: str) -> str:
    """A trivial minification: no comments, no indentation, no blank lines."""
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    lines = (re.sub(r"^\s*//.*$|\s+//\s.*$", "", line).strip() for line in source.splitlines())
    return "\n".join(line for line in lines if line)


def test_the_practice_javascript_is_under_16_kb_minified():
    files = sorted(STATIC.glob("*.js"))
    assert {f.name for f in files} == {"practice.js", "practice-outbox.js", "pacer.js", "cues.js"}
    total = sum(len(stripped(f.read_text()).encode()) for f in files)
    assert total < LIMIT, total


def test_the_strip_keeps_code():
    assert stripped("/* a\n comment */\n  const a = 1; // why\n\n// whole line\nb();") == (
        "const a = 1;\nb();"
    )
