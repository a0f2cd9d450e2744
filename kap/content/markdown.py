"""Markdown from packs to HTML. Raw HTML in a pack is shown as text, never run."""

from __future__ import annotations

from functools import lru_cache

from markdown_it import MarkdownIt

from kap.content.loader import PLACEHOLDER

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


@lru_cache(maxsize=256)
def render(text: str) -> str:
    return _md.render(text)


def split_on_instruments(text: str) -> list[tuple[str, str]]:
    """[("html", "<p>..."), ("instrument", "key"), ...] in reading order."""
    parts: list[tuple[str, str]] = []
    pos = 0
    for m in PLACEHOLDER.finditer(text):
        parts.append(("html", render(text[pos : m.start()])))
        parts.append(("instrument", m.group(1)))
        pos = m.end()
    parts.append(("html", render(text[pos:])))
    return [p for p in parts if p[1].strip()]
