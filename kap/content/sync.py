"""Storing a validated pack in the database (the `sync_to_db` step of the import pipeline): the
server's packs (`kap content load`) and a clinic's (published from the web, kap.care.views_packs)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from kap.content.loader import PackBundle, PackError, PackInvalid, instrument_checksum, read_pack
from kap.content.models import Instrument, Pack, Page, Scope
from kap.content.specs import InstrumentSpec
from kap.content.translations import instrument_record, pack_record

DEFAULT_PACKS_DIR = Path(__file__).resolve().parent / "packs"


@dataclass
class SyncResult:
    pack: Pack
    changed: bool
    new_instruments: list[str]


def default_pack_path(key: str) -> Path:
    return DEFAULT_PACKS_DIR / key


@transaction.atomic
def load_pack(folder: Path | str) -> SyncResult:
    """Load a pack. Same pack twice: no-op. A changed instrument must carry a new version."""
    bundle = read_pack(folder)
    return _store(bundle)


@transaction.atomic
def store_clinic_pack(bundle: PackBundle, clinic) -> SyncResult:
    """Store a validated pack as `clinic`'s own (a clinic admin's upload, published).

    Same pack twice: no-op. Unlike `kap content load`, a web upload is not refused for an old
    version number: a changed instrument (or pack) whose number is already taken gets the next
    one, and the earlier versions stay, as the answers given to them point at them."""
    return _store(bundle, scope=Scope.CLINIC, clinic=clinic, renumber=True)


def _same_content(stored: Instrument, spec: InstrumentSpec) -> bool:
    """Whether `spec` is what `stored` holds, whatever version number each carries."""
    return stored.checksum == instrument_checksum(
        spec.model_copy(update={"version": stored.version})
    )


def _renumbered(latest: Instrument | None, spec: InstrumentSpec) -> InstrumentSpec | None:
    """What publishing `spec` stores beside `latest` (the newest stored version of its key):
    nothing when that holds the same; else `spec`, numbered after `latest` if its number is
    taken."""
    if latest is None:
        return spec
    if _same_content(latest, spec):
        return None
    if spec.version <= latest.version:
        return spec.model_copy(update={"version": latest.version + 1})
    return spec


def _newest(owned: dict, keys: list[str]) -> tuple[dict, dict]:
    """The stored instruments of these keys in one scope and owner: by (key, version), and the
    newest of each key."""
    existing: dict[tuple[str, int], Instrument] = {}
    newest: dict[str, Instrument] = {}
    rows = Instrument.objects.filter(**owned, key__in=keys).select_related("pack")
    for row in rows.order_by("key", "version"):
        existing[(row.key, row.version)] = newest[row.key] = row
    return existing, newest


@dataclass(frozen=True)
class Planned:
    """What publishing an uploaded pack would do with one of its instruments (for its report)."""

    key: str
    status: str  # "new", "changed", "unchanged" or "taken" (by another of the clinic's packs)
    version: int  # the version it would be stored (or is kept) as
    previous: int | None = None  # the version stored now
    taken_by: str = ""  # the other pack's key


def plan_clinic_pack(pack_key: str, specs: list[InstrumentSpec], clinic) -> list[Planned]:
    """For each instrument of an upload, what `store_clinic_pack` would do with it now."""
    owned = {"scope": Scope.CLINIC, "clinic": clinic, "owner": None}
    _, newest = _newest(owned, [s.key for s in specs])
    out = []
    for s in specs:
        latest = newest.get(s.key)
        if latest is not None and (latest.pack is None or latest.pack.key != pack_key):
            taken = latest.pack.key if latest.pack else ""
            out.append(Planned(s.key, "taken", latest.version, latest.version, taken))
            continue
        new = _renumbered(latest, s)
        if latest is None:
            out.append(Planned(s.key, "new", s.version))
        elif new is None:
            out.append(Planned(s.key, "unchanged", latest.version, latest.version))
        else:
            out.append(Planned(s.key, "changed", new.version, latest.version))
    return out


def _store(
    bundle: PackBundle, *, scope: int = Scope.SERVER, clinic=None, renumber: bool = False
) -> SyncResult:
    """Store a pack into one scope: the server's (no owner) or one clinic's. Keys are a namespace
    per scope and owner (kap.content.models.Scope): nothing a person imported or a clinic
    published can block the server's pack, and no clinic's pack touches another's content.

    `renumber` (the web): a changed instrument or pack gets the next free version instead of
    being refused."""
    spec = bundle.spec
    owned = {"scope": scope, "clinic": clinic, "owner": None}
    pack = Pack.objects.select_for_update().filter(**owned, key=spec.key).first()
    if pack is not None and pack.checksum == bundle.checksum:
        return SyncResult(pack, False, [])
    version = spec.version
    if pack is not None and pack.version >= spec.version:
        if not renumber:
            raise PackInvalid(
                [
                    PackError(
                        "pack.yaml",
                        "version",
                        f"pack {spec.key!r} version {pack.version} is already loaded with"
                        " different content; give the changed pack a higher version",
                    )
                ]
            )
        version = pack.version + 1

    existing, newest = _newest(owned, [s.key for s in bundle.instruments])
    errors = []
    to_store: list[tuple[InstrumentSpec, str]] = []
    # Rows that hold an instrument of the pack as it is now: their translations are the pack's.
    kept: dict[str, Instrument] = {}
    for s in bundle.instruments:
        checksum = bundle.instrument_checksums[s.key]
        if renumber:
            latest = newest.get(s.key)
            if latest is not None and (pack is None or latest.pack_id != pack.pk):
                other = latest.pack.key if latest.pack_id else "none"
                errors.append(
                    PackError(
                        s.key,
                        "key",
                        f"instrument {s.key!r} is already part of the pack {other!r};"
                        " give it another key",
                    )
                )
                continue
            stored = _renumbered(latest, s)
            if stored is not None:
                to_store.append((stored, instrument_checksum(stored)))
            elif latest is not None:
                kept[s.key] = latest
            continue
        old = existing.get((s.key, s.version))
        if old is None:
            to_store.append((s, checksum))
        elif old.checksum == checksum:
            kept[s.key] = old
        else:
            errors.append(
                PackError(
                    s.key,
                    "version",
                    f"instrument {s.key!r} version {s.version} is already stored with different"
                    " content; give the changed instrument a new version",
                )
            )
    if errors:
        raise PackInvalid(errors)

    fields = {
        "title": spec.title,
        "version": version,
        "language": spec.language,
        "spec": {**spec.model_dump(mode="json"), "version": version},
        "checksum": bundle.checksum,
        "translations": {lang: pack_record(t) for lang, t in bundle.translations.items()},
    }
    if pack is None:
        pack = Pack.objects.create(**owned, key=spec.key, **fields)
    else:
        for name, value in fields.items():
            setattr(pack, name, value)
        pack.save()

    pack.pages.all().delete()
    Page.objects.bulk_create(
        Page(
            pack=pack,
            slug=p.slug,
            title=p.title,
            order=p.order,
            body=p.body,
            instrument_keys=p.instruments,
            translations={
                lang: shown for lang, t in bundle.translations.items() if (shown := t.page(p.slug))
            },
        )
        for p in bundle.pages
    )

    def translations(s: InstrumentSpec) -> dict:
        texts = {
            lang: t.instruments[s.key]
            for lang, t in bundle.translations.items()
            if s.key in t.instruments
        }
        return instrument_record(s, spec.language, texts)

    # An instrument whose English is unchanged keeps its row, its version and the answers given
    # to it; only what it says in other languages is written again.
    for s in bundle.instruments:
        row = kept.get(s.key)
        if row is not None and row.translations != (record := translations(s)):
            Instrument.objects.filter(pk=row.pk).update(translations=record)
    new = [
        Instrument(
            **owned,
            pack=pack,
            key=s.key,
            version=s.version,
            kind=s.kind,
            title=s.title,
            spec=s.model_dump(mode="json"),
            checksum=checksum,
            translations=translations(s),
        )
        for s, checksum in to_store
    ]
    Instrument.objects.bulk_create(new)
    return SyncResult(pack, True, [f"{i.key} v{i.version}" for i in new])


def ensure_default_pack() -> SyncResult | None:
    """Load the built-in pack on first run (and when the shipped pack gains a version)."""
    from django.conf import settings

    path = default_pack_path(settings.DEFAULT_PACK)
    if not path.is_dir():
        return None
    return load_pack(path)
