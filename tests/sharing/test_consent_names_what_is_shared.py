"""The consent screen names exactly what each kind shares.

For every scope, a client with one record of every kind accepts an invitation sharing that scope
alone; the lines the invitation listed under it must be exactly the records the therapist then
finds on the client's page and brief — no more, no fewer. "Questions to bring" in particular is
named under "Worksheets and reflections", which is where a therapist sees it.
"""

from __future__ import annotations

import html
import re
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from kap.accounts.models import CareLink, Scope
from kap.care.sharing import response_scopes
from kap.content.crisis import default_pack, safety_rules_for
from kap.content.models import Instrument
from kap.journal.models import (
    ActionStep,
    CheckIn,
    Insight,
    KapSession,
    QuestionToBring,
    SafetyEvent,
)
from kap.journal.services import submit_response
from kap.practices.models import PracticeLog
from tests.care.conftest import verify
from tests.sharing.conftest import CODE

URL = f"/invite/{CODE}/"
TOKEN = "saffron-heron-6620"


def listed(response) -> dict[str, list[str]]:
    """Scope → the keys of the lines the page lists under it ("this shares …")."""
    page = response.content.decode()
    out: dict[str, list[str]] = {}
    for scope, body in re.findall(r'<ul data-scope="([a-z-]+)">(.*?)</ul>', page, flags=re.S):
        out[scope] = re.findall(r'<li data-shares="([a-z0-9-]+)">', body)
    return out


def labels(response, scope: str) -> list[str]:
    page = response.content.decode()
    body = re.search(rf'<ul data-scope="{scope}">(.*?)</ul>', page, flags=re.S)
    found = [] if body is None else re.findall(r"<li[^>]*>(.*?)</li>", body[1], flags=re.S)
    return [html.unescape(line) for line in found]


def answers_for(instrument: Instrument, rules) -> dict:
    """A complete, valid set of answers; a safety-watched item gets its first option above the
    rule's threshold, so that the response also records a safety event."""
    spec = instrument.parsed
    above = {r.item: r.above for r in rules if r.instrument == spec.key}
    out: dict = {}
    for item in spec.items:
        kind = spec.item_type(item)
        if kind == "check":
            out[item.key] = True
        elif kind == "text":
            out[item.key] = "A few words."
        elif kind == "rating":
            out[item.key] = item.min
        else:
            options = spec.options_for(item)
            if item.key in above:
                options = [o for o in options if (o.weight or 0) > above[item.key]]
            out[item.key] = options[0].value
    return out


def one_of_everything(client) -> None:
    """A submitted response to every instrument with questions, and one record of every other
    kind a client keeps."""
    pack = default_pack()
    for instrument in Instrument.objects.current().filter(pack=pack):
        if instrument.parsed.items:
            submit_response(
                client=client,
                instrument=instrument,
                session=None,
                answers=answers_for(instrument, safety_rules_for(instrument)),
            )
    now = timezone.now()
    QuestionToBring.objects.create(client=client, text=f"{TOKEN} question")
    Insight.objects.create(client=client, text=f"{TOKEN} insight")
    step = ActionStep.objects.create(client=client, text=f"{TOKEN} step")
    CheckIn.objects.create(step=step, status="working", note=f"{TOKEN} check-in")
    PracticeLog.objects.create(
        uuid=uuid.uuid4(),
        client=client,
        instrument=Instrument.objects.current().get(key="grounding"),
        started_at=now - timedelta(days=1),
        planned_seconds=300,
        elapsed_seconds=300,
        completed=True,
        settled_before=3,
        settled_after=7,
    )
    KapSession.objects.create(
        client=client,
        starts_at=now - timedelta(days=2),
        status="completed",
        clinician_name=f"{TOKEN} clinician",
    )
    assert SafetyEvent.objects.filter(client=client).exists()


def seen_by_therapist(pages: list[str]) -> set[str]:
    """What the therapist's pages show, named as the consent screen names it: an instrument by
    its key (a shared response on the timeline carries its title), other records by kind."""
    client_page = pages[0]
    title_to_key = dict(Instrument.objects.values_list("title", "key"))
    titles = re.findall(
        r'<li class="entry entry-response">\s*<h3>(.*?)</h3>', client_page, flags=re.S
    )
    seen = {title_to_key[html.unescape(t.strip())] for t in titles}
    text = "\n".join(pages)
    markers = {
        "questions": f"{TOKEN} question",
        "insights": f"{TOKEN} insight",
        "action-steps": f"{TOKEN} step",
        "sessions": f"{TOKEN} clinician",
    }
    seen |= {key for key, marker in markers.items() if marker in text}
    if 'class="entry entry-practice"' in client_page:
        seen.add("practices")
    if 'class="entry entry-safety"' in client_page:
        seen.add("safety-events")
    return seen


@pytest.fixture
def invite(make_invite, therapist):
    return make_invite(therapist)


@pytest.mark.parametrize("scope", Scope.values)
def test_each_kind_lists_exactly_what_the_therapist_then_sees_under_it(
    client, guide, client_user, therapist, invite, scope
):
    one_of_everything(client_user)
    client.force_login(client_user)
    consent = client.get(URL)
    assert consent.status_code == 200
    promised = listed(consent)
    assert set(promised) == set(Scope.values)  # a list under every kind
    assert promised[scope], f"{scope} lists nothing"

    response = client.post(URL, {"scopes": [scope]})
    assert response.status_code == 302
    assert CareLink.objects.get(client=client_user).scopes == [scope]
    # The settings page, where the choice can be changed, lists the same.
    assert listed(client.get("/account/sharing/")) == promised

    verify(client, therapist)
    pages = []
    for url in (f"/care/clients/{client_user.pk}/", f"/care/clients/{client_user.pk}/brief/"):
        page = client.get(url)
        assert page.status_code == 200, url
        pages.append(page.content.decode())

    assert seen_by_therapist(pages) == set(promised[scope])


def test_questions_to_bring_are_named_under_worksheets_and_reflections(
    client, guide, client_user, therapist, invite
):
    """The issue as reported: questions reached the therapist under "Worksheets and
    reflections" without the consent screen saying so."""
    client.force_login(client_user)
    consent = client.get(URL)
    questions = [line for line in labels(consent, "worksheets") if "Questions to bring" in line]
    assert len(questions) == 1
    assert not any(
        "Questions to bring" in line
        for scope in Scope.values
        if scope != "worksheets"
        for line in labels(consent, scope)
    )

    client.post(URL, {"scopes": ["worksheets"]})
    QuestionToBring.objects.create(client=client_user, text=f"{TOKEN} What about sleep?")
    verify(client, therapist)
    page = client.get(f"/care/clients/{client_user.pk}/").content.decode()
    assert f"{TOKEN} What about sleep?" in page


def test_each_instrument_is_named_by_its_title_and_says_whether_its_words_are_shared(
    client, guide, client_user, invite
):
    client.force_login(client_user)
    consent = client.get(URL)
    scores = labels(consent, "scores")
    assert "Patient Health Questionnaire (PHQ-9) — its score and band, not your answers" in scores
    worksheets = labels(consent, "worksheets")
    assert "Self-Assessment Reflection — your answers in full" in worksheets
    # An instrument no kind shares is named under none.
    assert not any(
        "Signs You Might Benefit" in line for s in Scope.values for line in labels(consent, s)
    )
    # The checkbox points at its list, so that a screen reader reads it with the choice.
    page = consent.content.decode()
    assert 'aria-describedby="id_scopes-worksheets-help id_scopes-worksheets-shares"' in page


def test_the_roster_shows_scores_only_of_instruments_the_scores_kind_shares(guide, therapist):
    """The roster reads its score columns (the measures of the therapist's packs) under
    "scores" (kap.care.roster); they must be among the instruments the consent screen lists
    there."""
    from kap.content.roles import roles_for

    measures = [m.instrument for m in roles_for(therapist).measures]
    assert measures
    assert set(measures) <= set(response_scopes(None)[Scope.SCORES])
