"""The FHIR download: a person's submitted answers as a FHIR R4 Bundle, with the resources
built by kap.exports.fhir.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.db import models

from kap.content.models import Instrument
from kap.exports import fhir
from kap.journal.models import Response, ResponseVersion


def patient_id(user) -> str:
    """An opaque, stable id for the person in FHIR references: no e-mail, no database key."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"fhir-patient:{user.pk}".encode(), hashlib.sha256
    )
    return digest.hexdigest()[:32]


def _questionnaire_id(instrument: Instrument) -> str:
    return f"{instrument.key[:56]}-v{instrument.version}"


def fhir_bundle(user, *, base_url: str) -> dict:
    """Submitted answers as FHIR R4: each instrument used as a Questionnaire, each response as a
    QuestionnaireResponse, and each LOINC-coded total (PHQ-9, GAD-7) as an Observation."""
    subject = f"Patient/{patient_id(user)}"
    responses = list(
        Response.objects.for_client(user)
        .submitted()
        .select_related("instrument")
        .annotate(
            edited=models.Exists(ResponseVersion.objects.filter(response=models.OuterRef("pk")))
        )
        .order_by("submitted_at", "pk")
    )
    instruments: dict[int, Instrument] = {}
    for r in responses:
        instruments.setdefault(r.instrument.pk, r.instrument)
    resources: list[dict] = []
    for inst in sorted(instruments.values(), key=lambda i: (i.key, i.version)):
        q = fhir.questionnaire(inst.parsed.original, base_url=base_url)
        q["id"] = _questionnaire_id(inst)
        resources.append(q)
    observations: list[dict] = []
    for n, r in enumerate(responses, start=1):
        spec = r.instrument.parsed.original  # the pack's own words, as stored
        qr_id = f"response-{n}"
        resources.append(
            fhir.questionnaire_response(
                spec,
                r.answers,
                response_id=qr_id,
                questionnaire_url=fhir.canonical_url(spec, base_url=base_url),
                authored=r.submitted_at or r.updated_at,
                subject_ref=subject,
                # An answer edited after it was first submitted is "amended" in FHIR.
                status="amended" if r.edited else "completed",
                base_url=base_url,
            )
        )
        if r.score_total is not None:
            obs = fhir.score_observation(
                spec,
                r.score_total,
                observation_id=f"score-{n}",
                effective=r.submitted_at or r.updated_at,
                subject_ref=subject,
                derived_from_ref=f"QuestionnaireResponse/{qr_id}",
            )
            if obs is not None:
                observations.append(obs)
    return fhir.bundle(resources + observations, base_url=base_url)
