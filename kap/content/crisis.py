"""Crisis resources by region, from the default pack."""

from __future__ import annotations

from django.conf import settings

from kap.content.models import Pack
from kap.content.specs import PackSpec, Region


def default_pack() -> Pack | None:
    return Pack.objects.filter(key=settings.DEFAULT_PACK).first()


def regions_for(spec: PackSpec, preferred: str = "") -> list[tuple[str, Region]]:
    """All regions, the person's own (or the pack's default) first."""
    first = preferred if preferred in spec.crisis_resources else spec.default_region
    ordered = [(first, spec.crisis_resources[first])]
    ordered += [(code, r) for code, r in spec.crisis_resources.items() if code != first]
    return ordered


def region_choices() -> list[tuple[str, str]]:
    pack = default_pack()
    if pack is None:
        return []
    return [(code, r.name) for code, r in pack.parsed.crisis_resources.items()]
