"""Safety alerts for linked therapists (filled in by the care views work)."""

from __future__ import annotations


def on_safety_event(event) -> None:
    """Called inside the transaction that stored a SafetyEvent. Must not send anything itself:
    it queues work to run after commit."""
