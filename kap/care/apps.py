"""The care app: therapists and clinics, the sharing they are given, and the alerts they hear."""

from django.apps import AppConfig


class CareConfig(AppConfig):
    name = "kap.care"
    label = "care"

    def ready(self) -> None:
        # The journal announces a safety event; care alerts the therapists who share safety.
        from kap.care.alerts import alert_therapists
        from kap.journal.signals import safety_event_recorded

        safety_event_recorded.connect(alert_therapists, dispatch_uid="kap.care.alerts")
        # A clinic admin marked a translation reviewed: the audit trail writes it down.
        from kap.care.audit import record_translation_review
        from kap.content.signals import translation_reviewed

        translation_reviewed.connect(record_translation_review, dispatch_uid="kap.care.audit")
