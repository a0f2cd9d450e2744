from django import template

register = template.Library()


@register.filter
def duration(seconds: int | None) -> str:
    """3 min 20 s, 5 min, 45 s."""
    if seconds is None:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    if not minutes:
        return f"{secs} s"
    return f"{minutes} min {secs} s" if secs else f"{minutes} min"
