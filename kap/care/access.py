"""Which client a therapist may see, and what of them. Every therapist view reaches client data
through get_link_for_therapist; who may open a view at all is said by kap.accounts.decorators."""

from __future__ import annotations

from django.http import Http404

from kap.accounts.models import CareLink, Scope


def get_link_for_therapist(request, client_id: int, scope: str | None = None) -> CareLink:
    """The active link between this therapist and that client, or 404 — also when the client
    has not shared `scope`. Consent is read on every request, so turning it off works at once."""
    link = (
        CareLink.objects.active()
        .select_related("client")
        .filter(therapist=request.user, client_id=client_id)
        .first()
    )
    if link is None or (scope is not None and not link.shares(scope)):
        raise Http404("Not shared with you.")
    return link


SCOPE_LABELS = dict(Scope.choices)
