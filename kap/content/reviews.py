"""Clinical review of a pack's translations, one clinic at a time.

A pack says its translation into a language awaits clinical review (pack.yaml:
`translations: {es: {review: awaiting-clinical-review}}`). Each clinic's admins see that, for the
server's packs and their clinic's own, until someone at their clinic marks it reviewed; the review
is of the translation's text as it stood (its digest), so a later version of the pack whose
translated text changed is flagged again, and one whose translated text did not is not.
Therapists and clients never see the flag: the translation is shown to them all the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import get_language_info, pgettext_lazy

from kap.content.models import Pack, Scope, TranslationReview
from kap.content.translations import shown_pack_title

AWAITING = "awaiting-clinical-review"
# A language's name inside a sentence ("the Spanish translation", "la traducción al español"):
# Django's names are capitalized as in a menu.
IN_A_SENTENCE = {"es": pgettext_lazy("language name inside a sentence", "Spanish")}


@dataclass(frozen=True)
class Flag:
    """One translation of one pack, as a clinic's admins see it."""

    pack: Pack
    language: str
    digest: str
    review: TranslationReview | None  # this clinic's review of this very text; None: awaiting

    @property
    def title(self) -> str:
        """The pack's title, in the language of the page."""
        return shown_pack_title(self.pack.translations, self.pack.language, self.pack.title)

    @property
    def language_name(self) -> str:
        """The language's name, in the language of the page ("Spanish", "español")."""
        primary = self.language.split("-")[0]
        if primary in IN_A_SENTENCE:
            return str(IN_A_SENTENCE[primary])
        try:
            return str(get_language_info(self.language)["name_translated"])
        except KeyError:
            return self.language


def clinic_packs(clinic_id: int):
    """The packs a clinic's people read: the server's and the clinic's own."""
    return Pack.objects.filter(Q(scope=Scope.SERVER) | Q(scope=Scope.CLINIC, clinic_id=clinic_id))


def flags_for(user) -> list[Flag]:
    """The translations awaiting clinical review that this person's clinic has (or has not yet)
    reviewed: for a clinic admin only; [] for anyone else. Two queries."""
    if not getattr(user, "is_clinic_admin", False) or not getattr(user, "clinic_id", None):
        return []
    packs = clinic_packs(user.clinic_id).only(
        "key", "title", "version", "language", "translations", "scope", "clinic_id"
    )
    wanted = [
        (pack, lang, record["digest"])
        for pack in packs.order_by("scope", "title", "pk")
        for lang, record in sorted((pack.translations or {}).items())
        if record.get("review") == AWAITING and record.get("digest")
    ]
    if not wanted:
        return []
    reviews = TranslationReview.objects.filter(
        clinic_id=user.clinic_id, digest__in={digest for _, _, digest in wanted}
    ).select_related("reviewed_by")
    found = {(r.pack_key, r.language, r.digest): r for r in reviews}
    return [Flag(p, lang, d, found.get((p.key, lang, d))) for p, lang, d in wanted]


def mark_reviewed(user, pack: Pack, language: str) -> tuple[TranslationReview, bool]:
    """Record that `user`'s clinic reviewed the current text of `pack`'s translation into
    `language` (which must await review). Returns (the review, whether it is new)."""
    record = pack.translations[language]
    return TranslationReview.objects.get_or_create(
        clinic_id=user.clinic_id,
        pack_key=pack.key,
        language=language,
        digest=record["digest"],
        defaults={
            "pack_version": pack.version,
            "reviewed_by": user,
            "reviewed_at": timezone.now(),
        },
    )
