from django import template
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def duration(seconds: int | None) -> str:
    """3 min 20 s, 5 min, 45 s."""
    if seconds is None:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    if not minutes:
        return _("%(seconds)s s") % {"seconds": secs}
    if secs:
        return _("%(minutes)s min %(seconds)s s") % {"minutes": minutes, "seconds": secs}
    return _("%(minutes)s min") % {"minutes": minutes}
