"""All the practices' JavaScript stays small: under 15 KB once comments and indentation go."""

import re
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "kap" / "static" / "kap" / "practices"
LIMIT = 15_000


def stripped(source: str) -> str:
    """A trivial minification: no comments, no indentation, no blank lines."""
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    lines = (re.sub(r"^\s*//.*$|\s+//\s.*$", "", line).strip() for line in source.splitlines())
    return "\n".join(line for line in lines if line)


def test_the_practice_javascript_is_under_15_kb_minified():
    files = sorted(STATIC.glob("*.js"))
    assert {f.name for f in files} == {"practice.js", "practice-outbox.js", "pacer.js", "cues.js"}
    total = sum(len(stripped(f.read_text()).encode()) for f in files)
    assert total < LIMIT, total


def test_the_strip_keeps_code():
    assert stripped("/* a\n comment */\n  const a = 1; // why\n\n// whole line\nb();") == (
        "const a = 1;\nb();"
    )
