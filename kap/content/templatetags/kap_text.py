"""Template filters for what people wrote, shared by every app's templates."""

from __future__ import annotations

from django import template

from kap.lib.widgets import first_control_id

register = template.Library()


@register.filter
def control_id(bound) -> str:
    """The id an error summary's link to this field goes to (kap.lib.widgets.first_control_id)."""
    return first_control_id(bound)
