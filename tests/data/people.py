"""A person with one of every kind of record a client can keep, for the tests of "Your data".

Importable without pytest (the erasure test runs it in a child process against a real SQLite
file), so it takes only Django models and services.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.utils import timezone

REPO = Path(__file__).resolve().parents[2]
FHIR_FIXTURES = REPO / "tests" / "fixtures" / "fhir"
NLM_PHQ9 = "nlm-lhcforms-phq9-questionnaire.json"
SDC_PHQ9 = "hl7-sdc-phq9-questionnaire.json"

# Free text that must come back exactly: accents, CJK, emoji (astral plane), a zero-width joiner,
# newlines of both kinds, a tab, markup and quotes.
TRICKY = (
    "Ünïcödé — 日本語 🌿🦋 👩\u200d👩\u200d👧\nsecond line\r\nthird\tline "
    "<script>alert('x')</script> & \"quoted\" </textarea>"
)

PHQ9_NO_Q9 = {f"q{i}": "several-days" for i in range(1, 9)} | {"q9": "not-at-all"}


@dataclass
class Person:
    user: object
    phrase: str
    objects: dict = field(default_factory=dict)


def imported_phq9(owner):
    """The NLM PHQ-9 as a questionnaire `owner` imported from FHIR (personal, no pack)."""
    from kap.exports import questionnaire_import

    return questionnaire_import.import_questionnaire(
        owner=owner, raw=(FHIR_FIXTURES / NLM_PHQ9).read_bytes()
    )[0]


def _current(key: str):
    from kap.content.models import Instrument

    return Instrument.objects.current().get(key=key)


def build_person(user, phrase: str, *, therapist=None) -> Person:
    """Every kind of record, each holding `phrase` where it has free text.

    Needs the default pack loaded (the `guide` fixture or `kap_setup`).
    """
    from kap.accounts.models import CareLink
    from kap.journal.models import (
        ActionStep,
        CheckIn,
        Insight,
        KapSession,
        QuestionToBring,
        ReminderPreference,
        SupportItem,
    )
    from kap.journal.services import edit_response, save_draft, submit_response
    from kap.practices.models import PracticeLog

    now = timezone.now()
    text = f"{phrase} {TRICKY}"
    p = Person(user=user, phrase=phrase)
    o = p.objects

    o["session"] = KapSession.objects.create(
        client=user,
        starts_at=now - timedelta(days=10),
        status="completed",
        clinician_name="Dr. Müller 🌿",
        setting="clinic",
        notes=f"{text} session notes",
    )
    o["planned"] = KapSession.objects.create(
        client=user, starts_at=now + timedelta(days=4), status="planned"
    )

    def submit(key, answers, session=None, instrument=None):
        return submit_response(
            client=user,
            instrument=instrument or _current(key),
            session=session,
            answers=answers,
        ).response

    o["intention"] = submit(
        "intention-setting",
        {"want-to-understand": f"{text} intention", "own-words": "Gently."},
        session=o["session"],
    )
    # A worksheet whose "what I might do next" lines become action steps, then edited (history).
    worksheet = submit(
        "integration-worksheet",
        {
            "insight-emerged": f"{text} worksheet answer",
            "might-do-next": f"{phrase} walk every morning\nCall my sister",
        },
        session=o["session"],
    )
    o["worksheet"] = edit_response(
        response=worksheet,
        answers={
            "insight-emerged": f"{text} worksheet answer, edited",
            "might-do-next": f"{phrase} walk every morning\nCall my sister",
            "felt-different": "Lighter.",
        },
        base_version=worksheet.version,
    ).response
    # A preparation whose concerns become questions to bring.
    o["preparation"] = submit(
        "first-session-preparation",
        {"goals": f"{text} goals", "concerns-or-questions": f"{phrase} What about sleep?"},
    )
    o["phq9"] = submit("phq9", PHQ9_NO_Q9 | {"q9": "several-days", "q10": "somewhat-difficult"})
    o["gad7"] = submit("gad7", {f"q{i}": "not-at-all" for i in range(1, 8)})
    o["outcomes"] = submit(
        "closing-outcomes",
        {
            "openness-and-flexibility": 7,
            "less-heaviness": 6,
            "clarity-and-perspective": 8,
            "self-compassion": 5,
            "renewed-possibility": 9,
        },
    )
    o["checklist"] = submit(
        "signs-you-might-benefit", {"stuck-despite-insight": True, "loss-of-meaning": False}
    )
    fhir_phq9 = imported_phq9(user)
    o["imported"] = submit(
        None,
        {item.key: "more-than-half-the-days" for item in fhir_phq9.parsed.items[:9]},
        instrument=fhir_phq9,
    )
    # Drafts: one on its own, one for a session.
    o["draft"] = save_draft(
        client=user,
        instrument=_current("self-assessment"),
        session=None,
        answers={"most-stuck-patterns": f"{text} draft"},
        base_version=None,
    )
    o["session_draft"] = save_draft(
        client=user,
        instrument=_current("capture-insights"),
        session=o["session"],
        answers={"key-thoughts": f"{phrase} half a thought"},
        base_version=None,
    )

    o["insight"] = Insight.objects.create(client=user, session=o["session"], text=f"{text} insight")
    o["loose_insight"] = Insight.objects.create(client=user, text=f"{phrase} without a session")
    o["step"] = ActionStep.objects.create(client=user, text=f"{text} action step")
    CheckIn.objects.create(step=o["step"], status="working", note=f"{text} check-in note")
    CheckIn.objects.create(step=o["step"], status="done", note="")
    ActionStep.objects.create(client=user, text="=SUM(A1:A9) looks like a formula", status="let-go")
    o["question"] = QuestionToBring.objects.create(client=user, text=f"{text} question")
    QuestionToBring.objects.create(client=user, text=f"{phrase} asked already", asked_at=now)
    for category in ("therapy", "people", "routines"):
        SupportItem.objects.create(client=user, category=category, text=f"{text} {category}")

    grounding, awareness = _current("grounding"), _current("gentle-awareness")
    o["practice"] = PracticeLog.objects.create(
        uuid=uuid.uuid4(),
        client=user,
        instrument=grounding,
        started_at=now - timedelta(days=2),
        planned_seconds=300,
        elapsed_seconds=287,
        completed=True,
        settled_before=3,
        settled_after=7,
        pace={"key": "box", "label": "Box", "inhale": 4, "hold_in": 4, "exhale": 4, "hold_out": 4},
        notings={"thought": 3, "emotion": 1},
    )
    PracticeLog.objects.create(
        uuid=uuid.uuid4(),
        client=user,
        instrument=awareness,
        started_at=now - timedelta(days=1),
        planned_seconds=600,
        elapsed_seconds=120,
        completed=False,
        source="manual",
    )
    ReminderPreference.objects.create(client=user, email_enabled=True, include_clinician=False)
    if therapist is not None:
        CareLink.objects.create(client=user, therapist=therapist, scopes=["scores", "safety"])
    return p
