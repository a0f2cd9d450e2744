"""Storing a validated pack in the database (the `sync_to_db` step of the import pipeline)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from kap.content.loader import PackBundle, PackError, PackInvalid, read_pack
from kap.content.models import Instrument, Pack, Page, Scope

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


def _store(bundle: PackBundle) -> SyncResult:
    spec = bundle.spec
    # A pack loaded here is the server's: its keys are a namespace of their own, so nothing a
    # person imported can block it (kap.content.models.Scope).
    pack = Pack.objects.select_for_update().filter(scope=Scope.SERVER, key=spec.key).first()
    if pack is not None and pack.checksum == bundle.checksum:
        return SyncResult(pack, False, [])
    if pack is not None and pack.version >= spec.version:
        raise PackInvalid(
            [
                PackError(
                    "pack.yaml",
                    "version",
                    f"pack {spec.key!r} version {pack.version} is already loaded with different"
                    f" content; give the changed pack a higher version",
                )
            ]
        )

    errors = []
    existing = {
        (i.key, i.version): i
        for i in Instrument.objects.server().filter(key__in=[s.key for s in bundle.instruments])
    }
    for s in bundle.instruments:
        old = existing.get((s.key, s.version))
        if old is not None and old.checksum != bundle.instrument_checksums[s.key]:
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
        "version": spec.version,
        "language": spec.language,
        "spec": spec.model_dump(mode="json"),
        "checksum": bundle.checksum,
    }
    if pack is None:
        pack = Pack.objects.create(scope=Scope.SERVER, key=spec.key, **fields)
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
        )
        for p in bundle.pages
    )
    new = [
        Instrument(
            scope=Scope.SERVER,
            pack=pack,
            key=s.key,
            version=s.version,
            kind=s.kind,
            title=s.title,
            spec=s.model_dump(mode="json"),
            checksum=bundle.instrument_checksums[s.key],
        )
        for s in bundle.instruments
        if (s.key, s.version) not in existing
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
