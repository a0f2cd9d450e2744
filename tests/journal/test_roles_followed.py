"""Today, the session page, the questions and support pages, the check-in forms and reminders do
what the pack says (its roles:, measures: and safety_rules:), not what code once assumed."""

import copy
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from kap.content.models import Pack
from kap.journal.models import KapSession, Response
from kap.journal.reminders import calendar_ics, due_reminders


def repack(guide, **changes):
    """The guide as if its pack.yaml said `changes` (rolled back with the test's transaction)."""
    spec = copy.deepcopy(guide.spec)
    spec.update(changes)
    # A new checksum: the parsed pack and its roles are cached by it.
    Pack.objects.filter(pk=guide.pk).update(spec=spec, checksum=uuid.uuid4().hex)


def without(mapping: dict, *keys: str) -> dict:
    return {k: v for k, v in mapping.items() if k not in keys}


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_the_intention_is_the_instrument_the_pack_names(guide, logged_in, client_user, submit):
    repack(guide, roles={**guide.spec["roles"], "intention": "self-assessment"})
    s = KapSession.objects.create(client=client_user, starts_at=timezone.now() + timedelta(days=2))
    session_page = reverse("journal:session", args=[s.pk])

    for body in (page(logged_in, "/"), page(logged_in, session_page)):
        assert f"/i/self-assessment/?session={s.pk}" in body
        assert "/i/intention-setting/" not in body

    # An answer to the named instrument is the session's intention: no longer asked for.
    submit(client_user, "self-assessment", {"most-stuck-patterns": "rushing"}, session=s)
    assert "Set an intention for your next session" not in page(logged_in, "/")
    assert "rushing" in page(logged_in, session_page)
    assert "intention set" in page(logged_in, reverse("journal:sessions"))


@pytest.mark.django_db
def test_a_role_no_pack_fills_has_no_suggestion_and_no_link(guide, logged_in, client_user):
    repack(guide, roles=without(guide.spec["roles"], "screening", "preparation", "support"))
    body = page(logged_in, "/")
    assert "Signs you might benefit" not in body
    assert "Prepare for your first session" not in body
    assert "PHQ-9 check-in" in body  # the measures are still there
    assert "/i/first-session-preparation/" not in page(logged_in, reverse("journal:questions"))
    assert "For a longer reflection" not in page(logged_in, reverse("journal:support"))

    repack(guide, roles=without(guide.spec["roles"], "intention", "worksheet"))
    s = KapSession.objects.create(
        client=client_user, starts_at=timezone.now() - timedelta(hours=5), status="completed"
    )
    body = page(logged_in, reverse("journal:session", args=[s.pk]))
    assert "Set an intention" not in body and "integration worksheet" not in body
    assert "Integration worksheet" not in page(logged_in, "/")
    page(logged_in, reverse("journal:sessions"))


@pytest.mark.django_db
def test_the_questions_and_support_pages_link_to_the_instruments_the_roles_name(guide, logged_in):
    body = page(logged_in, reverse("journal:questions"))
    assert (
        '<a href="/i/first-session-preparation/">Preparing for Your First KAP Session</a>' in body
    )
    assert '<a href="/i/build-support/">Build Support Around Change</a>' in page(
        logged_in, reverse("journal:support")
    )
    repack(guide, roles={**guide.spec["roles"], "support": "insight-into-action"})
    assert "/i/insight-into-action/" in page(logged_in, reverse("journal:support"))


def _phq9(client_user, submit, days_ago: int) -> Response:
    r = submit(client_user, "phq9", {f"q{i}": "not-at-all" for i in range(1, 10)})
    Response.objects.filter(pk=r.pk).update(submitted_at=timezone.now() - timedelta(days=days_ago))
    return r


@pytest.mark.django_db
def test_a_measure_is_suggested_again_after_its_own_interval_under_its_own_label(
    guide, logged_in, client_user, submit
):
    phq9, gad7 = guide.spec["measures"]
    repack(guide, measures=[{**phq9, "label": "Mood (PHQ-9)", "again_after_days": 28}, gad7])
    assert "Mood (PHQ-9) check-in" in page(logged_in, "/")
    _phq9(client_user, submit, days_ago=20)
    assert "Mood (PHQ-9) check-in" not in page(logged_in, "/")
    assert not [d for d in due_reminders(client_user) if d.key.startswith("phq9:")]
    Response.objects.filter(client=client_user).update(
        submitted_at=timezone.now() - timedelta(days=30)
    )
    assert "Four weeks have passed since the last one" in page(logged_in, "/")
    # The e-mail never names the instrument (it passes through other people's servers).
    assert [d.text for d in due_reminders(client_user) if d.key.startswith("phq9:")] == [
        "A short check-in is there when you are ready: it takes a few minutes."
    ]


@pytest.mark.django_db
def test_a_measure_without_again_after_days_is_not_suggested_again(
    guide, logged_in, client_user, submit
):
    phq9, gad7 = guide.spec["measures"]
    repack(guide, measures=[without(phq9, "again_after_days"), gad7])
    assert "PHQ-9 check-in" in page(logged_in, "/")  # never taken: suggested once
    _phq9(client_user, submit, days_ago=400)
    body = page(logged_in, "/")
    assert "PHQ-9 check-in" not in body and "GAD-7 check-in" in body
    assert [d.key.split(":")[0] for d in due_reminders(client_user) if d.kind == "scores"] == [
        "gad7"
    ]
    feed = calendar_ics(client_user).decode()
    assert "scores-gad7-" in feed and "scores-phq9-" not in feed


@pytest.mark.django_db
def test_a_pack_without_measures_suggests_and_reminds_of_none(guide, logged_in, client_user):
    repack(guide, measures=[])
    body = page(logged_in, "/")
    assert "Signs you might benefit" in body  # the rest of Today is there
    assert "PHQ-9" not in body and "GAD-7" not in body
    assert [d for d in due_reminders(client_user) if d.kind == "scores"] == []
    assert b"scores-" not in calendar_ics(client_user)


@pytest.mark.django_db
def test_the_crisis_note_is_on_the_forms_a_safety_rule_watches(
    guide, logged_in, client_user, submit
):
    note = "crisis support is here"
    assert note in page(logged_in, "/i/phq9/")
    assert note not in page(logged_in, "/i/gad7/")
    r = _phq9(client_user, submit, days_ago=1)
    assert note in page(logged_in, reverse("journal:response-edit", args=[r.pk]))

    repack(guide, safety_rules=[])
    assert note not in page(logged_in, "/i/phq9/")
