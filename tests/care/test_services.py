"""kap.care.services, called directly: links made, changed and ended, each consent recorded once,
and the journal's safety events reaching care only through kap.journal.signals."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from kap.accounts.models import CareLink, Invite
from kap.care import services
from kap.care.models import AlertNotification, AuditEntry
from kap.journal.models import SafetyEvent
from kap.journal.signals import safety_event_recorded
from tests.care.conftest import phq9_answers

IP = "203.0.113.7"


def consents(client):
    return list(
        AuditEntry.objects.filter(subject=client, action="consent")
        .order_by("pk")
        .values_list("actor", "ip", "what")
    )


@pytest.fixture
def invite(therapist):
    code = services.create_invite(sender=therapist, kind=Invite.Kind.CLIENT, email="", days=7)
    return services.find_invite(code)


def test_an_invitation_is_found_by_its_code_and_only_its_hash_is_stored(therapist):
    code = services.create_invite(
        sender=therapist, kind=Invite.Kind.CLIENT, email="alex@example.com", days=3
    )
    found = services.find_invite(code)
    assert found.code_hash == services.hash_code(code) != code
    assert (found.created_by, found.clinic, found.email) == (
        therapist,
        therapist.clinic,
        "alex@example.com",
    )
    assert services.can_be_accepted(found)
    assert services.find_invite("not-" + code) is None
    assert services.find_invite("x" * 201) is None


def test_accepting_links_the_client_and_records_their_consent(client_user, therapist, invite):
    link = services.accept_client_invite(
        invite=invite, client=client_user, scopes=["scores", "safety"], ip=IP
    )
    assert (link.client, link.therapist, link.scopes) == (
        client_user,
        therapist,
        ["scores", "safety"],
    )
    invite.refresh_from_db()
    assert invite.used_by == client_user
    assert consents(client_user) == [
        (client_user.pk, IP, "link accepted with dr.lee@example.com: scores, safety")
    ]


def test_a_used_or_withdrawn_invitation_changes_nothing(client_user, stranger, invite):
    services.accept_client_invite(invite=invite, client=client_user, scopes=[], ip=IP)
    with pytest.raises(services.InviteUnusable):
        services.accept_client_invite(invite=invite, client=stranger, scopes=[], ip=IP)

    services.withdraw_invite(invite)
    assert not services.can_be_accepted(invite)
    assert CareLink.objects.filter(client=stranger).count() == 0
    assert consents(stranger) == []


def test_a_second_link_with_the_same_therapist_is_refused(client_user, therapist, link):
    link(client_user, therapist)
    code = services.create_invite(sender=therapist, kind=Invite.Kind.CLIENT, email="", days=7)
    with pytest.raises(services.AlreadyLinked):
        services.accept_client_invite(
            invite=services.find_invite(code), client=client_user, scopes=[], ip=IP
        )
    assert consents(client_user) == []


def test_changing_and_ending_are_recorded_once_and_an_ended_link_stays_ended(
    client_user, therapist, link
):
    made = link(client_user, therapist, scopes=["scores"])
    assert services.change_scopes(made, ["safety"], ip=IP)
    services.end_link(made, ip=IP)
    services.end_link(made, ip=IP)
    assert not services.change_scopes(made, ["scores"], ip=IP)

    made.refresh_from_db()
    assert made.scopes == ["safety"] and made.ended_at is not None
    assert [what for _, _, what in consents(client_user)] == [
        "sharing changed with dr.lee@example.com: safety",
        "link ended with dr.lee@example.com: nothing",
    ]


# --- The journal announces, care listens ------------------------------------------------------


def test_a_submitted_safety_event_alerts_the_therapist_through_the_signal(
    client_user, therapist, linked, submit, django_capture_on_commit_callbacks
):
    heard = []

    def listen(sender, *, event, **kwargs):
        heard.append((sender, event))

    safety_event_recorded.connect(listen)
    try:
        with django_capture_on_commit_callbacks(execute=False):
            submit(client_user, "phq9", phq9_answers(6, item9=1))
    finally:
        safety_event_recorded.disconnect(listen)

    event = SafetyEvent.objects.get()
    assert heard == [(SafetyEvent, event)]
    # The journal no longer calls care: the therapist's alert came by the signal.
    assert AlertNotification.objects.get().therapist == therapist


def test_the_journal_imports_nothing_from_care_or_exports():
    journal = Path(__file__).resolve().parents[2] / "kap" / "journal"
    found = [
        f"{path.name}: {node.module}"
        for path in journal.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom)
        and (node.module or "").startswith(("kap.care", "kap.exports"))
    ]
    assert found == []
