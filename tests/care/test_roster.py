import re
from datetime import timedelta

import pytest
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kap.accounts.models import CareLink, User
from kap.care.models import AlertAcknowledgement, AuditEntry
from kap.content.models import Instrument
from kap.content.roles import roles_for
from kap.journal.models import KapSession, Response, SafetyEvent
from tests.care.conftest import ALL_SCOPES, gad7_answers, phq9_answers

# Measured: session, user, OTP device, the packs (whose measures are the score columns), count,
# one page of links, the latest few scores of the page's clients for their sparklines (one
# query, kap.care.roster.recent_scores), and the audit rows (savepoint, last hash, one INSERT,
# release; on PostgreSQL also the advisory lock that keeps the chain straight) — whatever the
# number of clients.
ROSTER_QUERIES = 11 + (connection.vendor == "postgresql")


def add_clients(therapist, count: int, start: int = 0) -> list[User]:
    """`count` linked clients, each with two PHQ-9s, a GAD-7, a planned session and, for every
    third one, an open safety alert — made in a handful of bulk queries."""
    password = make_password(None)
    clients = User.objects.bulk_create(
        User(
            email=f"c{start + i}@example.com",
            display_name=f"Client {start + i:04d}",
            password=password,
        )
        for i in range(count)
    )
    CareLink.objects.bulk_create(
        CareLink(client=c, therapist=therapist, scopes=ALL_SCOPES) for c in clients
    )
    phq9 = Instrument.objects.current().get(key="phq9")
    gad7 = Instrument.objects.current().get(key="gad7")
    now = timezone.now()
    responses = []
    for n, c in enumerate(clients):
        responses += [
            Response(
                client=c,
                instrument=phq9,
                status="submitted",
                answers=phq9_answers(18),
                score_total=18,
                submitted_at=now - timedelta(days=30),
            ),
            Response(
                client=c,
                instrument=phq9,
                status="submitted",
                answers=phq9_answers(9),
                score_total=9 + n % 5,
                submitted_at=now - timedelta(days=1),
            ),
            Response(
                client=c,
                instrument=gad7,
                status="submitted",
                answers=gad7_answers(7),
                score_total=7,
                submitted_at=now - timedelta(days=2),
            ),
        ]
    Response.objects.bulk_create(responses)
    KapSession.objects.bulk_create(
        KapSession(client=c, starts_at=now + timedelta(days=1 + n % 9))
        for n, c in enumerate(clients)
    )
    SafetyEvent.objects.bulk_create(
        SafetyEvent(client=r.client, response=r, rule_key="phq9-item-9") for r in responses[1::9]
    )
    return clients


def roster_queries(client, url="/care/") -> tuple[int, str]:
    # A first request stamps the session's activity (once a minute), and the packs are parsed
    # once per process (kap.content.roles); measure the page alone.
    client.get("/care/invite/")
    roles_for(None)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx), response.content.decode()


def test_it_takes_the_same_few_queries_for_5_and_500_clients(as_therapist, therapist, guide):
    sorts = ["alerts", "name", "next", "phq9", "gad7"]
    add_clients(therapist, 5)
    few = {sort: roster_queries(as_therapist, f"/care/?sort={sort}")[0] for sort in sorts}

    add_clients(therapist, 495, start=5)
    many = {sort: roster_queries(as_therapist, f"/care/?sort={sort}")[0] for sort in sorts}
    last_page, html = roster_queries(as_therapist, "/care/?sort=gad7&page=20")

    assert few == many == dict.fromkeys(sorts, ROSTER_QUERIES)
    assert last_page == ROSTER_QUERIES
    assert "500 linked clients, page 20 of 20" in html
    # Every row's two PHQ-9 scores are a sparkline (one GAD-7 score is too few for one).
    assert html.count('class="sparkline"') == 25


def test_it_lists_open_safety_alerts_first_whatever_the_sort(
    as_therapist, therapist, client_user, linked, submit, make_user, link
):
    calm = make_user("calm@example.com", display_name="Aaron Calm")
    link(calm, therapist)
    submit(calm, "phq9", phq9_answers(20))
    submit(client_user, "phq9", phq9_answers(4, item9=1))

    html = as_therapist.get("/care/?sort=phq9").content.decode()

    assert html.index("Alex") < html.index("Aaron Calm")
    assert "Alert: 1 open" in html


def test_an_acknowledged_alert_is_no_longer_open(
    as_therapist, therapist, client_user, linked, submit
):
    submit(client_user, "phq9", phq9_answers(4, item9=1))
    event = SafetyEvent.objects.get()
    AlertAcknowledgement.objects.create(event=event, therapist=therapist)

    html = as_therapist.get("/care/").content.decode()

    assert "Alert:" not in html
    assert "None open" in html


def test_a_colleagues_acknowledgement_does_not_hide_the_alert(
    as_therapist, therapist, colleague, client_user, linked, link, submit
):
    link(client_user, colleague)
    submit(client_user, "phq9", phq9_answers(4, item9=1))
    AlertAcknowledgement.objects.create(event=SafetyEvent.objects.get(), therapist=colleague)

    assert "Alert: 1 open" in as_therapist.get("/care/").content.decode()


def test_it_shows_the_latest_score_and_its_change_from_the_first(
    as_therapist, client_user, linked, submit
):
    submit(client_user, "phq9", phq9_answers(16))
    submit(client_user, "phq9", phq9_answers(12))
    submit(client_user, "phq9", phq9_answers(9))
    submit(client_user, "gad7", gad7_answers(8))

    html = as_therapist.get("/care/").content.decode()

    assert "9 (-7)" in html
    assert '8 <span class="muted">(first score)</span>' in html


def test_what_is_not_shared_shows_as_not_shared_and_nothing_else(
    as_therapist, therapist, client_user, link, submit, make_session, guide
):
    link(client_user, therapist, scopes=[])
    submit(client_user, "phq9", phq9_answers(17, item9=2))
    make_session(client_user, hours_from_now=30)

    html = as_therapist.get("/care/").content.decode()

    rows = html.split("<tbody")[1]
    assert rows.count("not shared") == 4
    assert "Alert" not in rows
    # The score is nowhere in the words from the rows on (ids in links may hold any digits).
    assert "17" not in re.sub(r"<[^>]*>", " ", rows)
    assert 'class="sparkline"' not in rows
    assert "None planned" not in html and "None yet" not in html


def test_sorting_by_a_score_does_not_reveal_scores_that_were_not_shared(
    as_therapist, therapist, make_user, link, submit, guide
):
    hidden = make_user("hidden@example.com", display_name="Zed Hidden")
    link(hidden, therapist, scopes=["sessions"])
    submit(hidden, "phq9", phq9_answers(27 - 3, item9=0))
    for name, total in (("Bo Low", 3), ("Cy High", 20)):
        person = make_user(f"{name.split()[0].lower()}@example.com", display_name=name)
        link(person, therapist)
        submit(person, "phq9", phq9_answers(total))

    html = as_therapist.get("/care/?sort=phq9").content.decode()

    # Sorted as if it had no score at all: after those who share, then by name.
    assert html.index("Cy High") < html.index("Bo Low") < html.index("Zed Hidden")


def test_it_pages_25_clients_at_a_time(as_therapist, therapist, guide):
    add_clients(therapist, 30)

    first = as_therapist.get("/care/?sort=name").content.decode()
    second = as_therapist.get("/care/?sort=name&page=2").content.decode()

    assert "Client 0024" in first and "Client 0025" not in first
    assert "Client 0025" in second and "Client 0029" in second
    assert "page 2 of 2" in second


def test_an_ended_link_is_not_on_the_roster(as_therapist, client_user, linked):
    linked.ended_at = timezone.now()
    linked.save()

    html = as_therapist.get("/care/").content.decode()

    assert "Alex" not in html
    assert "No clients are linked to you yet" in html


def test_each_client_shown_on_the_roster_gets_an_audit_row(as_therapist, therapist, guide):
    clients = add_clients(therapist, 3)

    as_therapist.get("/care/", REMOTE_ADDR="203.0.113.7")

    rows = AuditEntry.objects.filter(what="roster")
    assert sorted(rows.values_list("subject_id", flat=True)) == sorted(c.pk for c in clients)
    assert set(rows.values_list("ip", flat=True)) == {"203.0.113.7"}
    assert set(rows.values_list("actor", flat=True)) == {therapist.pk}
    from kap.care.audit import verify

    assert verify() == (3, [])


@pytest.mark.parametrize("role", ["client", "admin"])
def test_it_is_not_there_for_anyone_but_a_therapist(client, make_user, clinic, role):
    from tests.care.conftest import verify

    verify(client, make_user(f"{role}@example.org", role=role, clinic=clinic))

    assert client.get("/care/").status_code == 404


def test_the_score_columns_and_sorts_are_the_packs_measures(as_therapist, therapist, linked):
    from kap.content.roles import roles_for

    measures = roles_for(therapist).measures
    html = as_therapist.get("/care/?sort=gad7").content.decode()

    for m in measures:
        assert f'{m.label} <span class="muted">(change from first)</span></th>' in html
        assert f"Latest {m.label}" in html
    assert 'aria-current="true">Latest GAD-7</a>' in html
    # A sort that is no measure (nor one of the fixed ones) is the default.
    html = as_therapist.get("/care/?sort=not-a-measure").content.decode()
    assert 'aria-current="true">Open safety alerts</a>' in html


def test_a_sparkline_draws_the_latest_scores_oldest_first(
    as_therapist, therapist, client_user, linked, submit, make_user, link
):
    from kap.care.roster import SPARK_POINTS

    totals = [20, 19, 17, 16, 15, 13, 12, 10, 9, 7, 5]
    now = timezone.now()
    for days, total in zip(range(len(totals), 0, -1), totals, strict=True):
        r = submit(client_user, "phq9", phq9_answers(total))
        Response.objects.filter(pk=r.pk).update(submitted_at=now - timedelta(days=days))
    private = make_user("private@example.com", display_name="Pat Private")
    link(private, therapist, scopes=["sessions", "safety"])
    for total in (22, 4):
        submit(private, "phq9", phq9_answers(total))

    html = as_therapist.get("/care/").content.decode()

    shown = ", ".join(str(t) for t in totals[-SPARK_POINTS:])
    assert f'aria-label="PHQ-9, the last {SPARK_POINTS} scores, oldest first: {shown}"' in html
    row = html.split("Pat Private")[1].split("</tr>")[0]
    assert "sparkline" not in row and "22" not in row
