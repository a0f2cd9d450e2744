from django.conf import settings

# Which place of the navigation a page belongs to, by its URL name ("namespace:name" or
# "namespace:*" for a whole app). The navigation marks that place with aria-current.
PLACES = {
    "home": "today",
    "journal:today": "today",
    "journal:sessions": "sessions",
    "journal:session-new": "sessions",
    "journal:session": "sessions",
    "journal:session-edit": "sessions",
    "journal:insight-add": "sessions",
    "journal:insight-edit": "sessions",
    "journal:insight-delete": "sessions",
    "journal:instruments": "check-ins",
    "journal:instrument": "check-ins",
    "journal:response": "check-ins",
    "journal:response-edit": "check-ins",
    "journal:reminders": "reminders",
    "journal:timeline": "timeline",
    "practices:*": "practices",
    "progress:*": "progress",
    "sharing": "sharing",
    "sharing-views": "sharing",
    "sharing-link": "sharing",
    "sharing-end": "sharing",
    "invite-code": "sharing",
    "guide-index": "guide",
    "guide-page": "guide",
    "guide-pack-page": "guide",
    "account": "account",
    "password_change": "account",
    "password_change_done": "account",
    "two-factor": "account",
    "exports:*": "account",
    "login": "login",
    "crisis": "crisis",
    "care:roster": "clients",
    "care:client": "clients",
    "care:brief": "clients",
    "care:invite": "invite",
    "care:clinic": "clinic",
    "care:clinic-admin-add": "clinic",
    "care:clinic-invitations": "invitations",
    "care:clinic-packs": "packs",
    "care:clinic-pack": "packs",
    "care:clinic-pack-upload": "packs",
    "care:clinic-pack-preview": "packs",
    "translation-review": "clinic",
}
# The places that are not in the bar at the bottom of a phone, but under "More".
MORE = {
    "client": {"reminders", "timeline", "sharing", "guide", "account"},
    "staff": {"account"},
}


def site(request):
    """The product's name (KAP_SITE_NAME, never the host the request came to) and where in the
    navigation the page is."""
    here = _place(request)
    user = getattr(request, "user", None)
    role = (
        "client"
        if user is not None and user.is_authenticated and user.is_client
        else "staff"
        if user is not None and user.is_authenticated
        else "anonymous"
    )
    return {
        "site_name": settings.SITE_NAME,
        "offline": settings.OFFLINE,
        "nav_here": here,
        "nav_here_in_more": here in MORE.get(role, set()),
    }


def _place(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return ""
    name = match.view_name
    return PLACES.get(name) or PLACES.get(f"{match.namespace}:*", "")
