from __future__ import annotations

from django.db import models

from kap.content.specs import InstrumentSpec, PackSpec


class Pack(models.Model):
    key = models.SlugField(max_length=60, unique=True)
    title = models.CharField(max_length=200)
    version = models.PositiveIntegerField()
    language = models.CharField(max_length=10)
    spec = models.JSONField()
    checksum = models.CharField(max_length=64)
    loaded_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.key} v{self.version}"

    @property
    def parsed(self) -> PackSpec:
        key = (self.pk, self.checksum)
        spec = _PACK_CACHE.get(key)
        if spec is None:
            spec = _PACK_CACHE[key] = PackSpec.model_validate(self.spec)
        return spec


class Page(models.Model):
    pack = models.ForeignKey(Pack, models.CASCADE, related_name="pages")
    slug = models.SlugField(max_length=60)
    title = models.CharField(max_length=200)
    order = models.PositiveIntegerField()
    body = models.TextField()  # Markdown
    instrument_keys = models.JSONField(default=list)

    class Meta:
        ordering = ["order"]
        constraints = [models.UniqueConstraint(fields=["pack", "slug"], name="page_unique_slug")]

    def __str__(self) -> str:
        return self.title


class InstrumentQuerySet(models.QuerySet):
    def current(self) -> InstrumentQuerySet:
        """The newest version of each instrument key."""
        newer = Instrument.objects.filter(
            key=models.OuterRef("key"), version__gt=models.OuterRef("version")
        )
        return self.filter(~models.Exists(newer))


class Instrument(models.Model):
    pack = models.ForeignKey(
        Pack, models.PROTECT, related_name="instruments", null=True, blank=True
    )
    key = models.SlugField(max_length=60)
    version = models.PositiveIntegerField()
    kind = models.CharField(max_length=20)
    title = models.CharField(max_length=200)
    spec = models.JSONField()
    checksum = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = InstrumentQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "version"], name="instrument_unique_version")
        ]

    def __str__(self) -> str:
        return f"{self.key} v{self.version}"

    @property
    def parsed(self) -> InstrumentSpec:
        return parsed_spec(self.pk, self.checksum, self.spec)


_PACK_CACHE: dict[tuple[int, str], PackSpec] = {}
_SPEC_CACHE: dict[tuple[int, str], InstrumentSpec] = {}


def parsed_spec(pk: int, checksum: str, data: dict) -> InstrumentSpec:
    # Instrument rows never change once stored (a new version is a new row), so a spec parsed
    # once per process stays right; the checksum guards against a reused primary key in tests.
    key = (pk, checksum)
    spec = _SPEC_CACHE.get(key)
    if spec is None:
        spec = _SPEC_CACHE[key] = InstrumentSpec.model_validate(data)
    return spec
