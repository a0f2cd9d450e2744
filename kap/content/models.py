from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.db.models.query_utils import DeferredAttribute
from django.utils import timezone
from django.utils.translation import gettext_lazy

from kap.content.specs import InstrumentSpec, PackSpec
from kap.content.translations import active_language, shown_instrument, shown_pack, shown_title
from kap.lib.prepared import Prepared


class Scope(models.IntegerChoices):
    """Who content belongs to, and so who sees it. Ordered from the broadest to the narrowest:
    where one person sees the same key in two scopes, the narrower one is theirs (see
    InstrumentQuerySet.for_person)."""

    # loaded by the operator (`kap content load`, the built-in guide)
    SERVER = 0, gettext_lazy("Server")
    CLINIC = 1, gettext_lazy("Clinic")  # a clinic's own content, seen by its people only
    # imported by one person, seen by them (and whom they share with)
    PERSONAL = 2, gettext_lazy("Personal")


def _owned_by_scope() -> Q:
    """Server content has no owner, clinic content a clinic only, personal content a person only."""
    return (
        Q(scope=Scope.SERVER, clinic__isnull=True, owner__isnull=True)
        | Q(scope=Scope.CLINIC, clinic__isnull=False, owner__isnull=True)
        | Q(scope=Scope.PERSONAL, clinic__isnull=True, owner__isnull=False)
    )


class Owned(models.Model):
    """The scope and owner every pack and instrument has. Erased with its owner (CASCADE)."""

    scope = models.PositiveSmallIntegerField(choices=Scope.choices, default=Scope.SERVER)
    clinic = models.ForeignKey(
        "accounts.Clinic", models.CASCADE, null=True, blank=True, related_name="+"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.CASCADE, null=True, blank=True, related_name="+"
    )

    class Meta:
        abstract = True


class Pack(Owned):
    key = models.SlugField(max_length=60)
    title = models.CharField(max_length=200)
    version = models.PositiveIntegerField()
    language = models.CharField(max_length=10)
    spec = models.JSONField()
    checksum = models.CharField(max_length=64)
    loaded_at = models.DateTimeField(auto_now=True)
    # Each translation of the pack's own text (kap.content.translations.pack_record), by
    # language: {"es": {"review": ..., "digest": ..., "texts": {path: text}}}.
    translations = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=_owned_by_scope(), name="pack_owned_by_scope"),
            # Keys are unique within a scope: the server's, each clinic's, each person's.
            models.UniqueConstraint(
                fields=["key"], condition=Q(scope=Scope.SERVER), name="pack_unique_server_key"
            ),
            models.UniqueConstraint(
                fields=["clinic", "key"],
                condition=Q(scope=Scope.CLINIC),
                name="pack_unique_clinic_key",
            ),
            models.UniqueConstraint(
                fields=["owner", "key"],
                condition=Q(scope=Scope.PERSONAL),
                name="pack_unique_personal_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} v{self.version}"

    @property
    def parsed(self) -> PackSpec:
        """The pack's spec, its words in the request's language (kap.content.translations):
        crisis resources, its note, safety messages. (The checksum covers the translations.)"""
        key = (self.pk, self.checksum, active_language())
        spec = _PACK_CACHE.get(key)
        if spec is None:
            spec = _PACK_CACHE[key] = shown_pack(
                PackSpec.model_validate(self.spec), self.translations
            )
        return spec


class Page(models.Model):
    pack = models.ForeignKey(Pack, models.CASCADE, related_name="pages")
    slug = models.SlugField(max_length=60)
    title = models.CharField(max_length=200)
    order = models.PositiveIntegerField()
    body = models.TextField()  # Markdown
    instrument_keys = models.JSONField(default=list)
    # The page in each language the pack is translated into: {"es": {"title": ..., "body": ...}}
    # (kap.content.translations.shown_page).
    translations = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["order"]
        constraints = [models.UniqueConstraint(fields=["pack", "slug"], name="page_unique_slug")]

    def __str__(self) -> str:
        return self.title


def clinics_of(user):
    """The clinics whose content this person sees, as something `clinic_id__in=` takes: a staff
    member's own clinic; for a client, the clinics of the therapists they are linked to now."""
    if user is None or not user.pk:
        return []
    if getattr(user, "clinic_id", None):
        return [user.clinic_id]
    # (Through the person's own links: content sits below accounts and imports none of it.)
    return user.care_links.filter(ended_at=None, therapist__clinic__isnull=False).values(
        "therapist__clinic_id"
    )


def _visible(user) -> Q:
    q = Q(scope=Scope.SERVER)
    if user is None or not user.pk:
        return q
    q |= Q(scope=Scope.CLINIC, clinic_id__in=clinics_of(user))
    return q | Q(scope=Scope.PERSONAL, owner_id=user.pk)


class InstrumentQuerySet(models.QuerySet):
    """Visibility of instruments lives here and nowhere else.

    - `visible_to(user)`: every version a person may see — the server's, their clinic's and
      their own personal ones (a therapist looking at a client's records passes the client).
    - `for_person(user)`: what each key means for that person — the newest version within its
      scope and, should two scopes share a key (a pack loaded after someone imported the same
      key), the narrower scope: the person's own, then their clinic's, then the server's.
      Nobody else's content ever replaces theirs.
    - `resolve(user, key)`: the same for one key, read from the (key, version) indexes.
    """

    def server(self) -> InstrumentQuerySet:
        return self.filter(scope=Scope.SERVER)

    def visible_to(self, user) -> InstrumentQuerySet:
        return self.filter(_visible(user))

    def current(self) -> InstrumentQuerySet:
        """The newest version of each instrument key, within its own scope and owner."""
        newer = Instrument.objects.filter(
            Q(scope=Scope.SERVER)
            | Q(scope=Scope.CLINIC, clinic=OuterRef("clinic"))
            | Q(scope=Scope.PERSONAL, owner=OuterRef("owner")),
            key=OuterRef("key"),
            scope=OuterRef("scope"),
            version__gt=OuterRef("version"),
        )
        return self.filter(~Exists(newer))

    def for_person(self, user) -> InstrumentQuerySet:
        narrower = Instrument.objects.filter(
            _visible(user), key=OuterRef("key"), scope__gt=OuterRef("scope")
        )
        return self.visible_to(user).current().filter(~Exists(narrower))

    def resolve(self, user, key: str) -> Instrument | None:
        """The instrument `key` means for `user` (see the class), in one query compiled once
        per process (kap.lib.prepared: every form's autosave asks). Always over the whole table,
        whatever queryset it is called on; the instrument alone, its pack loaded when read."""
        if user is None or not user.pk:
            return self._resolving(user, key).first()
        if getattr(user, "clinic_id", None):
            found = _RESOLVE_STAFF(user.pk, user.clinic_id, key)
        else:
            found = _RESOLVE_CLIENT(user.pk, key)
        return next(iter(found), None)

    def _resolving(self, user, key: str) -> InstrumentQuerySet:
        return self.visible_to(user).filter(key=key).order_by("-scope", "-version")


class _ShownTitle(DeferredAttribute):
    """`instrument.title` reads in the request's language, wherever it is shown (lists, Today,
    alerts, the brief): the stored title (English) is what is saved and queried. Translated only
    when the row's translations were loaded with it (not under `.only("title")`), so reading a
    title never costs a query."""

    def __get__(self, instance, cls=None):
        if instance is None:
            return self
        value = super().__get__(instance, cls)
        return shown_title(instance.__dict__.get("translations"), value)

    def __set__(self, instance, value):
        instance.__dict__[self.field.attname] = value


class ShownTitleField(models.CharField):
    """A CharField whose value reads translated (_ShownTitle) but is stored as written."""

    descriptor_class = _ShownTitle

    def stored(self, obj) -> str:
        """The value as stored (loaded first if it was deferred), never as shown."""
        if self.attname not in obj.__dict__:
            obj.refresh_from_db(fields=[self.attname])
        return obj.__dict__[self.attname]

    def pre_save(self, model_instance, add):
        return self.stored(model_instance)

    def value_from_object(self, obj):
        return self.stored(obj)

    def deconstruct(self):
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.CharField", args, kwargs


class Instrument(Owned):
    pack = models.ForeignKey(
        Pack, models.PROTECT, related_name="instruments", null=True, blank=True
    )
    key = models.SlugField(max_length=60)
    version = models.PositiveIntegerField()
    kind = models.CharField(max_length=20)
    title = ShownTitleField(max_length=200)
    spec = models.JSONField()
    checksum = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    # Beside the spec, never in it (so never in its checksum or version): the language it is
    # written in, its translation policy and its texts in other languages
    # (kap.content.translations.instrument_record). Written again when its pack is loaded.
    translations = models.JSONField(default=dict, blank=True)

    objects = InstrumentQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=_owned_by_scope(), name="instrument_owned_by_scope"),
            # Keys are unique within a scope, so a person's import never blocks a pack load
            # and no scope can replace another's instrument.
            models.UniqueConstraint(
                fields=["key", "version"],
                condition=Q(scope=Scope.SERVER),
                name="instrument_unique_server_version",
            ),
            models.UniqueConstraint(
                fields=["clinic", "key", "version"],
                condition=Q(scope=Scope.CLINIC),
                name="instrument_unique_clinic_version",
            ),
            models.UniqueConstraint(
                fields=["owner", "key", "version"],
                condition=Q(scope=Scope.PERSONAL),
                name="instrument_unique_personal_version",
            ),
        ]
        # Finding a key for a person (resolve, current) whatever its scope.
        indexes = [models.Index(fields=["key", "version"], name="instrument_key_version")]

    def __str__(self) -> str:
        return f"{self.key} v{self.version}"

    @property
    def parsed(self) -> InstrumentSpec:
        """The spec as a person reading the request's language sees it: translated text, the
        same keys, values, weights and scoring (kap.content.translations.shown_instrument)."""
        original = self.source_spec
        record = self.translations
        if not record:
            return original
        key = (self.pk, self.checksum, record.get("digest", ""), active_language())
        spec = _SHOWN_CACHE.get(key)
        if spec is None:
            spec = _SHOWN_CACHE[key] = shown_instrument(original, record)
        return spec

    @property
    def source_spec(self) -> InstrumentSpec:
        """The spec as its pack wrote it, untranslated: for what matches or compares words."""
        return parsed_spec(self.pk, self.checksum, self.spec)


def _person(pk: int, clinic_id: int | None = None):
    return get_user_model()(pk=pk, clinic_id=clinic_id)


_RESOLVE_CLIENT = Prepared(
    lambda pk, key: Instrument.objects.all()._resolving(_person(pk), key)[:1], kinds=(int, str)
)
_RESOLVE_STAFF = Prepared(
    lambda pk, clinic, key: Instrument.objects.all()._resolving(_person(pk, clinic), key)[:1],
    kinds=(int, int, str),
)

_PACK_CACHE: dict[tuple[int, str, str], PackSpec] = {}
_SPEC_CACHE: dict[tuple[int, str], InstrumentSpec] = {}
_SHOWN_CACHE: dict[tuple[int, str, str, str], InstrumentSpec] = {}


def parsed_spec(pk: int, checksum: str, data: dict) -> InstrumentSpec:
    # Instrument rows never change once stored (a new version is a new row), so a spec parsed
    # once per process stays right; the checksum guards against a reused primary key in tests.
    key = (pk, checksum)
    spec = _SPEC_CACHE.get(key)
    if spec is None:
        spec = _SPEC_CACHE[key] = InstrumentSpec.model_validate(data)
    return spec


class PackUpload(models.Model):
    """A pack a clinic admin uploaded (a zip), kept aside until one of the clinic's admins
    publishes it: nobody else sees it, and no client sees any of it before then.

    The zip is kept as uploaded so that publishing reads exactly what was checked; the report
    (problems, or the instruments for the preview) is kept so that the pages showing it do not
    unpack it again. Erased with its clinic."""

    clinic = models.ForeignKey("accounts.Clinic", models.CASCADE, related_name="+")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)
    filename = models.CharField(max_length=200)
    archive = models.BinaryField()
    # [file, field path, reason] for each problem, as `kap content check` prints them.
    problems = models.JSONField(default=list)
    pack_key = models.CharField(max_length=60, blank=True)
    pack_title = models.CharField(max_length=200, blank=True)
    pack_version = models.PositiveIntegerField(null=True, blank=True)
    instruments = models.JSONField(default=list)  # the validated specs, in the pack's order
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    published_pack = models.ForeignKey(
        Pack, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    published_version = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-uploaded_at", "-pk"]
        indexes = [models.Index(fields=["clinic", "uploaded_at"], name="packupload_clinic")]

    def __str__(self) -> str:
        return self.filename

    @property
    def is_valid(self) -> bool:
        return not self.problems

    def instrument_spec(self, key: str) -> InstrumentSpec | None:
        """The uploaded instrument `key`, parsed, for its preview (None if the pack has none)."""
        data = next((d for d in self.instruments if d.get("key") == key), None)
        return InstrumentSpec.model_validate(data) if data is not None else None


class TranslationReview(models.Model):
    """A clinic's word that one of its clinicians has reviewed a pack's translation into one
    language, as it stood (its digest: kap.content.translations.LanguageText.digest). Until
    then the clinic's admins see the translation flagged as awaiting clinical review; a later
    version of the pack whose translated text changed is flagged again (kap.content.reviews)."""

    clinic = models.ForeignKey("accounts.Clinic", models.CASCADE, related_name="+")
    pack_key = models.SlugField(max_length=60)
    pack_version = models.PositiveIntegerField()
    language = models.CharField(max_length=10)
    digest = models.CharField(max_length=64)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-reviewed_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "pack_key", "language", "digest"],
                name="translationreview_unique_text",
            )
        ]

    def __str__(self) -> str:
        return f"{self.pack_key} v{self.pack_version} ({self.language})"
