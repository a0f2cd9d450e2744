"""What the packs a person can see say their instruments are for: the one place code asks.

No instrument key is written in code. A pack's `roles:` names the instrument that plays each role
(the intention, the worksheet, ...), its `measures:` the scored instruments followed over time
(with their published response and remission rules), and its `sharing:` which sharing scope shares
the answers to which instrument (kap.content.specs, PackSpec). Code asks here:

    roles = roles_for(request.user)
    roles.key("intention")              # the intention's instrument key, or None
    roles.measures                      # the measures, in the pack's order
    roles.shared_under(instrument.key)  # "scores", "worksheets", ... or None

A person sees the server's packs and their clinics' (kap.content.models.clinics_of). Where both name a role, the clinic's pack
wins (as a narrower scope wins for an instrument key); among server packs, the default pack
(settings.DEFAULT_PACK) comes first, then the others by key.

A questionnaire a person imported (kap.exports.fhir_import) has no pack. One that carries the
LOINC panel code of a measure the server knows (the PHQ-9's is 44249-1) is that measure too: it is
followed on Progress beside it, under its own title (`measures_for`), and shared as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q

from kap.content.models import Instrument, Pack, Scope, clinics_of
from kap.content.specs import Measure, PackSpec
from kap.content.translations import active_language
from kap.lib.prepared import Prepared


@dataclass(frozen=True)
class Roles:
    roles: dict[str, str] = field(default_factory=dict)  # role → instrument key
    measures: tuple[Measure, ...] = ()
    sharing: dict[str, str] = field(default_factory=dict)  # instrument key → sharing scope
    # LOINC panel code → the measure with that code (for imported questionnaires).
    coded: dict[str, Measure] = field(default_factory=dict)

    def key(self, role: str) -> str | None:
        return self.roles.get(role)

    def keys(self, *roles: str) -> list[str]:
        """The instrument keys of these roles that some pack fills, in the order asked."""
        return [self.roles[r] for r in roles if r in self.roles]

    def measure(self, key: str) -> Measure | None:
        return next((m for m in self.measures if m.instrument == key), None)

    @property
    def measure_keys(self) -> list[str]:
        return [m.instrument for m in self.measures]

    def shared_under(self, key: str) -> str | None:
        return self.sharing.get(key)

    def shared_keys(self, scope: str) -> list[str]:
        """Keys of the instruments whose answers this sharing scope shares."""
        return [k for k, s in self.sharing.items() if s == scope]


def _seen_by(person):
    where = Q(scope=Scope.SERVER) | Q(scope=Scope.CLINIC, clinic_id__in=clinics_of(person))
    return Pack.objects.filter(where).defer("spec")


# The same query for every person of a kind, compiled once (it runs on nearly every page): a
# client's packs go by their links (clinics_of), a staff member's by their clinic.
_CLIENTS = Prepared(lambda client_id: _seen_by(get_user_model()(pk=client_id)))
_STAFF = Prepared(lambda clinic_id: _seen_by(get_user_model()(pk=1, clinic_id=clinic_id)))


def _packs(person) -> list[Pack]:
    """The packs whose roles count for this person, the one that wins first."""
    if person is None or not person.pk:
        packs = list(_seen_by(person))
    elif getattr(person, "clinic_id", None):
        packs = list(_STAFF(person.clinic_id))
    else:
        packs = list(_CLIENTS(person.pk))
    packs.sort(key=lambda p: (-p.scope, p.key != settings.DEFAULT_PACK, p.key))
    return packs


def _combine(specs: list[tuple[PackSpec, dict[str, str | None]]]) -> Roles:
    roles: dict[str, str] = {}
    measures: dict[str, Measure] = {}
    sharing: dict[str, str] = {}
    coded: dict[str, Measure] = {}
    for spec, codes in specs:
        for role, key in spec.roles.items():
            roles.setdefault(role, key)
        for m in spec.measures:
            if m.instrument not in measures:
                measures[m.instrument] = m
                if codes.get(m.instrument):
                    coded.setdefault(codes[m.instrument], m)
        for scope, keys in spec.sharing.items():
            for key in keys:
                sharing.setdefault(key, scope)
    return Roles(roles, tuple(measures.values()), sharing, coded)


_CACHE: dict[tuple, Roles] = {}


def roles_for(person) -> Roles:
    """What the packs this person sees say (one query; parsed once per set of pack versions and
    language: a measure's label is the pack's text)."""
    packs = _packs(person)
    ident = (active_language(), *((p.pk, p.checksum) for p in packs))
    found = _CACHE.get(ident)
    if found is None:
        specs = []
        for pack in packs:
            spec = pack.parsed
            measured = [m.instrument for m in spec.measures]
            codes = dict(
                Instrument.objects.filter(pack=pack, key__in=measured)
                .order_by("key", "version")
                .values_list("key", "spec__code")
            )
            specs.append((spec, codes))
        found = _CACHE[ident] = _combine(specs)
    return found


@dataclass(frozen=True)
class Followed:
    """A measure followed for one person: a pack's, or a questionnaire they imported that is the
    same measure (by its LOINC panel code)."""

    key: str  # the instrument key its responses are stored under
    label: str  # "PHQ-9", or the imported questionnaire's title
    measure: Measure


def measures_for(person, roles: Roles | None = None) -> list[Followed]:
    """The measures followed on this person's Progress and brief: the packs', then their own
    imports of the same measures. Pass `roles` (roles_for(person)) when it is at hand already,
    to save its query."""
    roles = roles_for(person) if roles is None else roles
    out = [Followed(m.instrument, m.label, m) for m in roles.measures]
    if roles.coded and getattr(person, "pk", None):
        imported = (
            Instrument.objects.current()
            .filter(scope=Scope.PERSONAL, owner_id=person.pk)
            .order_by("key")
        )
        out += imported_measures(roles, imported)
    return out


def imported_measures(roles: Roles, instruments) -> list[Followed]:
    """Of these instruments, the personal imports that are one of these measures (they carry its
    LOINC panel code and are scored), as measures_for finds them: for a page that loads a
    person's instruments in a query of its own anyway (kap.progress.trends)."""
    out = []
    for instrument in instruments:
        if instrument.scope != Scope.PERSONAL:
            continue
        spec = instrument.parsed
        measure = roles.coded.get(spec.code or "")
        if measure is not None and spec.scoring is not None:
            out.append(Followed(instrument.key, instrument.title, measure))
    return out
