"""Markdown from packs to HTML. Raw HTML in a pack is shown as text, never run."""

from __future__ import annotations

import re
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml

from kap.content.loader import PLACEHOLDER

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})

# Pages never load anything from another origin: an image is shown only from the app's own static
# files or inline as a base64 picture; any other source is replaced by its alt text.
_IMAGE_SRC = re.compile(
    r"^(/static/[\w./-]+|data:image/(png|gif|jpeg|webp);base64,[A-Za-z0-9+/=]+)$"
)
_default_image = _md.renderer.rules["image"]


def _image(self, tokens, idx, options, env):
    token = tokens[idx]
    if _IMAGE_SRC.match(token.attrGet("src") or ""):
        return _default_image(tokens, idx, options, env)
    alt = "".join(child.content for child in token.children or [])
    return f'<span class="image-alt">{escapeHtml(alt)}</span>'


_md.add_render_rule("image", _image)


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
