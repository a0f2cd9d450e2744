"""/account/sharing/: a client chooses, kind by kind, what each linked therapist sees."""

from datetime import timedelta

import pytest
from django.http import Http404
from django.utils import timezone

from kap.care.access import get_link_for_therapist
from tests.sharing.conftest import as_therapist, queries_for

URL = "/account/sharing/"


@pytest.fixture
def link(client_user, therapist, make_link):
    return make_link(client_user, therapist, ["scores", "insights", "safety"])


def _save(link) -> str:
    return f"/account/sharing/{link.pk}/"


def _end(link) -> str:
    return f"/account/sharing/{link.pk}/end/"


def _scopes(link, *scopes) -> dict:
    return {f"link-{link.pk}-scopes": list(scopes)}


def test_the_page_says_plainly_what_sharing_means(logged_in, link):
    response = logged_in.get(URL)

    html = response.content.decode()
    assert response.status_code == 200
    assert "Your therapist sees only what you turn on here." in html
    assert (
        "is not monitored in\nreal time: turning on safety alerts does not mean someone is "
        "watching around the clock." in html
    )
    assert "Dr Rivera" in html and "Harbour Clinic" in html
    assert "Linked since" in html


def test_it_shows_each_kind_ticked_as_stored(logged_in, link):
    html = logged_in.get(URL).content.decode()

    for scope in ("scores", "insights", "safety"):
        assert f'value="{scope}" id="id_link-{link.pk}-scopes-{scope}"' in html
    assert html.count(" checked>") == 3


def test_saving_changes_what_is_shared_and_the_therapist_side_sees_it_at_once(
    logged_in, link, client_user, therapist
):
    response = logged_in.post(_save(link), _scopes(link, "scores", "steps"))

    assert response.status_code == 302
    link.refresh_from_db()
    assert link.scopes == ["scores", "steps"]
    request = as_therapist(therapist)
    assert get_link_for_therapist(request, client_user.pk, scope="steps") == link
    with pytest.raises(Http404):
        get_link_for_therapist(request, client_user.pk, scope="insights")


def test_turning_everything_off_shares_nothing(logged_in, link):
    response = logged_in.post(_save(link), {}, follow=True)

    assert response.status_code == 200
    assert "sees nothing from your account" in response.content.decode()
    link.refresh_from_db()
    assert link.scopes == []


def test_an_unknown_kind_is_refused_and_nothing_changes(logged_in, link):
    response = logged_in.post(_save(link), _scopes(link, "scores", "diary"))

    html = response.content.decode()
    assert response.status_code == 400
    assert "Nothing was changed" in html
    assert "not one we know" in html
    link.refresh_from_db()
    assert link.scopes == ["scores", "insights", "safety"]


def test_a_change_is_recorded_in_the_audit_trail(logged_in, link, client_user):
    from kap.care.models import AuditEntry

    logged_in.post(_save(link), _scopes(link, "scores"))

    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.subject, entry.action) == (client_user, client_user, "consent")
    assert entry.what == "sharing changed with rivera@harbour.example: scores"


def test_ending_asks_first(logged_in, link):
    response = logged_in.get(_end(link))

    assert response.status_code == 200
    assert "End your link with Dr Rivera?" in response.content.decode()
    link.refresh_from_db()
    assert link.ended_at is None


def test_ending_a_link_cuts_the_therapist_off_at_once(logged_in, link, client_user, therapist):
    response = logged_in.post(_end(link))

    assert response.status_code == 302
    link.refresh_from_db()
    assert link.ended_at is not None
    with pytest.raises(Http404):
        get_link_for_therapist(as_therapist(therapist), client_user.pk)


def test_an_ended_link_is_listed_as_history_without_choices(logged_in, link):
    logged_in.post(_end(link))

    html = logged_in.get(URL).content.decode()
    assert "Earlier links" in html
    assert "Dr Rivera" in html
    assert 'type="checkbox"' not in html


def test_an_ended_link_cannot_be_changed(logged_in, link):
    link.ended_at = timezone.now() - timedelta(days=1)
    link.save()

    response = logged_in.post(_save(link), _scopes(link, "sessions"))

    assert response.status_code == 302
    link.refresh_from_db()
    assert link.scopes == ["scores", "insights", "safety"]


def test_another_clients_link_is_a_404(logged_in, stranger, therapist, make_link):
    theirs = make_link(stranger, therapist, ["scores"])

    assert logged_in.get(_end(theirs)).status_code == 404
    assert logged_in.post(_end(theirs)).status_code == 404
    assert logged_in.post(_save(theirs), _scopes(theirs, "insights")).status_code == 404
    theirs.refresh_from_db()
    assert theirs.scopes == ["scores"]
    assert theirs.ended_at is None


@pytest.mark.parametrize("persona", ["therapist", "clinic_admin"])
@pytest.mark.parametrize(
    "url", [URL, "/account/sharing/views/", "/account/sharing/1/", "/account/sharing/1/end/"]
)
def test_staff_get_a_404_on_the_sharing_pages(client, request, link, persona, url):
    from tests.security.support import log_in_with_second_factor

    log_in_with_second_factor(client, request.getfixturevalue(persona))

    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 404
    link.refresh_from_db()
    assert link.ended_at is None


def test_the_page_takes_the_same_queries_for_one_link_or_several(
    logged_in, client_user, link, make_link, make_user, clinic
):
    before = queries_for(logged_in, URL)
    for n in range(4):
        other = make_user(f"t{n}@harbour.example", role="therapist", clinic=clinic)
        make_link(client_user, other, ["scores"], ended_at=timezone.now() if n % 2 else None)

    assert queries_for(logged_in, URL) == before


# --- Safety alerts ------------------------------------------------------------------------------


@pytest.fixture
def safety_event(client_user, guide):
    from kap.content.models import Instrument
    from kap.journal.models import Response, SafetyEvent

    response = Response.objects.create(
        client=client_user,
        instrument=Instrument.objects.current().get(key="phq9"),
        status="submitted",
        submitted_at=timezone.now(),
        answers={},
    )
    return SafetyEvent.objects.create(client=client_user, response=response, rule_key="phq9-item-9")


def test_an_acknowledged_alert_shows_who_saw_it_but_never_their_note(
    logged_in, link, therapist, safety_event
):
    from kap.care.models import AlertAcknowledgement

    AlertAcknowledgement.objects.create(
        event=safety_event, therapist=therapist, note="Called her, agreed on a plan for tonight"
    )

    html = logged_in.get(URL).content.decode()

    assert "Your therapist Dr Rivera saw this alert on" in html
    assert "Called her" not in html
    assert "agreed on a plan" not in html


def test_an_alert_nobody_has_acknowledged_says_so(logged_in, link, safety_event):
    html = logged_in.get(URL).content.decode()

    assert "No therapist has marked this alert as seen." in html


def test_alerts_cost_the_same_queries_however_many_were_seen(
    logged_in, link, therapist, safety_event, client_user
):
    from kap.care.models import AlertAcknowledgement
    from kap.journal.models import SafetyEvent

    before = queries_for(logged_in, URL)
    for n in range(3):
        event = SafetyEvent.objects.create(
            client=client_user, response=safety_event.response, rule_key=f"rule-{n}"
        )
        AlertAcknowledgement.objects.create(event=event, therapist=therapist)

    assert queries_for(logged_in, URL) == before


def test_a_client_with_no_link_is_told_linking_is_optional(logged_in):
    response = logged_in.get(URL)

    assert response.status_code == 200
    assert "You are not linked with a therapist. Linking is optional" in (response.content.decode())
