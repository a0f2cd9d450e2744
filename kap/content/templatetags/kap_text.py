"""Template filters for what people wrote, shared by every app's templates."""

from __future__ import annotations

from django import template

from kap.lib.limits import SHOWN_IN_SUMMARIES
from kap.lib.widgets import first_control_id

register = template.Library()

SHORTENED = " … (shortened)"


@register.filter
def control_id(bound) -> str:
    """The id an error summary's link to this field goes to (kap.lib.widgets.first_control_id)."""
    return first_control_id(bound)


@register.filter
def clip(text, limit: int = SHOWN_IN_SUMMARIES) -> str:
    """The text, or its first `limit` characters (at a word break when one is near) and a note
    that it was shortened: a summary or a brief stays a few pages whatever a person wrote."""
    text = "" if text is None else str(text)
    limit = int(limit)
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ", max(0, limit - 40))
    if space > 0:
        cut = cut[:space]
    return cut.rstrip() + SHORTENED
