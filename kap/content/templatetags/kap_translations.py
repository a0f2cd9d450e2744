"""{% translation_reviews as flags %}: the pack translations awaiting clinical review, as the
request's clinic admin sees them (kap.content.reviews.flags_for); [] for anyone else. For
content/translation_review.html, which the clinic page includes without passing anything."""

from __future__ import annotations

from django import template

from kap.content.reviews import flags_for

register = template.Library()


@register.simple_tag(takes_context=True)
def translation_reviews(context) -> list:
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    return flags_for(user) if user is not None else []
