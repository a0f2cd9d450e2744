from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kap.lib.fields import EncryptedTextField


class Role(models.TextChoices):
    CLIENT = "client", _("Client")
    THERAPIST = "therapist", _("Therapist")
    ADMIN = "admin", _("Clinic admin")


class UserManager(BaseUserManager["User"]):
    def create_user(self, email: str, password: str | None = None, **fields) -> User:
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email__iexact=username or "")


class Clinic(models.Model):
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    # The clinic's own opening words for its invitation e-mails (kap.care.invitations); none:
    # the standard, discreet wording. The link, the code and the expiry always follow.
    # (Nullable, with no default: adding it encrypts nothing while migrating.)
    invitation_text = EncryptedTextField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name


class User(AbstractBaseUser):
    email = models.EmailField(unique=True)
    display_name = models.CharField(_("name"), max_length=120, blank=True)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.CLIENT)
    # Which region's crisis resources to show first; blank means the pack's default.
    region = models.CharField(max_length=10, blank=True)
    # Therapists and clinic admins belong to a clinic; clients do not (they link to therapists).
    clinic = models.ForeignKey(Clinic, models.PROTECT, null=True, blank=True, related_name="staff")
    # An IANA name such as "Europe/Paris" (kap.lib.timezones); blank: the server's TIME_ZONE.
    # Also a database default: a server still on the previous release (a rolling upgrade), or
    # a migration's historical model, inserts people without naming it.
    time_zone = models.CharField(max_length=64, blank=True, default="", db_default="")
    # The language pages, e-mails and documents are in ("en", "es": settings.LANGUAGES); blank
    # means the browser's (Accept-Language). A database default, as for time_zone.
    language = models.CharField(max_length=8, blank=True, default="", db_default="")
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    # Counts the changes to what Today is built from (kap.journal.stamps): Today's cache is keyed
    # on it. A database default too, so that code inserting people without naming it still works.
    journal_stamp = models.PositiveBigIntegerField(default=0, db_default=0, editable=False)
    # When the three steps after signing up (kap.journal.views_onboarding) were offered: None
    # until then. Only sign-up leaves it empty; accounts made any other way (an invitation, an
    # admin, `kap users add`, everyone before this field) count as having had it.
    onboarded_at = models.DateTimeField(null=True, blank=True, default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    def __str__(self) -> str:
        return self.display_name or self.email

    @property
    def is_client(self) -> bool:
        return self.role == Role.CLIENT

    @property
    def is_therapist(self) -> bool:
        return self.role == Role.THERAPIST

    @property
    def is_clinic_admin(self) -> bool:
        return self.role == Role.ADMIN


class Scope(models.TextChoices):
    """What a client may share with a linked therapist, kind by kind."""

    SCORES = "scores", _("Scores (PHQ-9, GAD-7, outcomes)")
    SAFETY = "safety", _("Safety alerts")
    INTENTIONS = "intentions", _("Intentions")
    INSIGHTS = "insights", _("Insights")
    WORKSHEETS = "worksheets", _("Worksheets and reflections")
    STEPS = "steps", _("Action steps")
    PRACTICES = "practices", _("Practices")
    SESSIONS = "sessions", _("KAP sessions")


class CareLinkQuerySet(models.QuerySet):
    def active(self) -> CareLinkQuerySet:
        return self.filter(ended_at=None)

    def for_therapist(self, therapist) -> CareLinkQuerySet:
        return self.filter(therapist=therapist)

    def for_client(self, client) -> CareLinkQuerySet:
        return self.filter(client=client)


class CareLink(models.Model):
    """A client's link to one therapist. The client chooses the scopes and can end it."""

    client = models.ForeignKey(User, models.CASCADE, related_name="care_links")
    therapist = models.ForeignKey(User, models.CASCADE, related_name="client_links")
    scopes = models.JSONField(default=list)  # list of Scope values
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    objects = CareLinkQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["client", "therapist"],
                condition=models.Q(ended_at=None),
                name="one_active_link_per_pair",
            )
        ]

    def __str__(self) -> str:
        return f"{self.client} ↔ {self.therapist}"

    def shares(self, scope: str) -> bool:
        return self.ended_at is None and scope in self.scopes


class Invite(models.Model):
    """A single-use, expiring invitation: therapist → client, or clinic admin → therapist."""

    class Kind(models.TextChoices):
        CLIENT = "client", _("Client of a therapist")
        THERAPIST = "therapist", _("Therapist of a clinic")

    kind = models.CharField(max_length=10, choices=Kind.choices)
    created_by = models.ForeignKey(User, models.CASCADE, related_name="invites_sent")
    clinic = models.ForeignKey(Clinic, models.CASCADE, null=True, blank=True)
    # Only a hash of the code is stored: a leaked database does not leak usable invitations.
    code_hash = models.CharField(max_length=64, unique=True)
    email = models.EmailField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(
        User, models.SET_NULL, null=True, blank=True, related_name="invites_used"
    )
    # Withdrawn by whoever manages it: its link stops working (and says so).
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    # How long it was made valid for: sent again, it is valid this long again.
    valid_days = models.PositiveSmallIntegerField(default=7, db_default=7)
    # A client invitation made by a clinic admin: the therapist the client links with (one made
    # by a therapist leaves this empty: the sender is the therapist).
    therapist = models.ForeignKey(
        User, models.CASCADE, null=True, blank=True, related_name="invites_for"
    )

    @property
    def is_usable(self) -> bool:
        return (
            self.used_at is None and self.withdrawn_at is None and self.expires_at > timezone.now()
        )

    @property
    def for_therapist(self) -> User:
        """For a client invitation: the therapist the client links with on accepting it."""
        return self.therapist if self.therapist_id else self.created_by

    @property
    def inviting_clinic(self) -> Clinic | None:
        """The clinic the invitation comes from: its own, else its sender's (None for a
        therapist in no clinic)."""
        return self.clinic or self.created_by.clinic

    @property
    def clinic_name(self) -> str:
        clinic = self.inviting_clinic
        return clinic.name if clinic else ""


class SetupCode(models.Model):
    """A one-time code for the first-run set-up (kap.accounts.setup_code), printed on the server
    console. Only its hash is kept; every code goes once the first account exists."""

    code_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()


class ThrottleHit(models.Model):
    """One attempt counted by kap.accounts.throttle (a password-reset request, a set-up code
    tried). The key is a keyed hash of the e-mail address or client address, never the value."""

    scope = models.CharField(max_length=40)
    key = models.CharField(max_length=64)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["scope", "key", "at"])]
