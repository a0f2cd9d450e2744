import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from kap.journal.models import KapSession
from tests.journal.conftest import field_error, queries_for

NEW = reverse("journal:session-new")


def _url(name, session):
    return reverse(f"journal:{name}", args=[session.pk])


def _when(delta: timedelta) -> str:
    return timezone.localtime(timezone.now() + delta).strftime("%Y-%m-%dT%H:%M")


# --- list ---------------------------------------------------------------------------------------


def test_it_lists_upcoming_planned_sessions_first_soonest_first_then_the_rest_newest_first(
    logged_in, client_user, make_session
):
    make_session(client_user, hours_ago=24 * 30, clinician_name="Old")
    make_session(client_user, hours_ago=24 * 2, clinician_name="Recent")
    make_session(client_user, hours_ago=-24 * 14, status="planned", clinician_name="Later")
    make_session(client_user, hours_ago=-24 * 3, status="planned", clinician_name="Soon")

    response = logged_in.get(reverse("journal:sessions"))

    assert response.status_code == 200
    html = response.content.decode()
    order = [html.index(f"with {name}") for name in ("Soon", "Later", "Recent", "Old")]
    assert order == sorted(order)
    assert html.index("Coming up") < html.index("with Soon") < html.index("Earlier")


def test_the_list_shows_only_my_sessions(logged_in, client_user, stranger, make_session):
    make_session(client_user, clinician_name="Dr Mine")
    make_session(stranger, clinician_name="Dr Theirs")

    response = logged_in.get(reverse("journal:sessions"))

    assert response.status_code == 200
    assert "Dr Mine" in response.content.decode()
    assert "Dr Theirs" not in response.content.decode()


def test_the_list_takes_the_same_number_of_queries_for_3_or_30_sessions(
    logged_in, client_user, make_session, submit, django_assert_num_queries
):
    def add(n):
        for i in range(n):
            s = make_session(client_user, hours_ago=i * 24 - 100)
            submit(client_user, "intention-setting", {"want-to-understand": f"q{i}"}, session=s)

    add(3)
    few = queries_for(logged_in, reverse("journal:sessions"))
    add(27)
    with django_assert_num_queries(few):
        assert logged_in.get(reverse("journal:sessions")).status_code == 200


# --- create -------------------------------------------------------------------------------------


def test_it_adds_a_session_and_stores_what_was_typed(logged_in, client_user):
    response = logged_in.post(
        NEW,
        {
            "starts_at": "2026-03-04T10:30",
            "status": "completed",
            "clinician_name": "Dr Rivera",
            "setting": "clinic",
            "notes": "Felt nervous in the waiting room",
        },
    )

    session = KapSession.objects.get()
    assert response.status_code == 302
    assert response.url == _url("session", session)
    assert session.client == client_user
    assert timezone.localtime(session.starts_at).strftime("%Y-%m-%d %H:%M") == "2026-03-04 10:30"
    assert session.status == "completed"
    assert session.clinician_name == "Dr Rivera"
    assert session.setting == "clinic"
    assert session.notes == "Felt nervous in the waiting room"


def test_it_confirms_the_new_session_with_a_message(logged_in):
    response = logged_in.post(
        NEW, {"starts_at": _when(timedelta(days=7)), "status": "planned"}, follow=True
    )

    assert response.status_code == 200
    assert "Session added." in response.content.decode()


def test_the_setting_may_be_left_unsaid(logged_in):
    response = logged_in.post(NEW, {"starts_at": _when(timedelta(days=7)), "status": "planned"})

    assert response.status_code == 302
    assert KapSession.objects.get().setting == ""


def test_it_refuses_a_completed_session_in_the_future_and_keeps_what_was_typed(logged_in):
    when = _when(timedelta(days=3))
    response = logged_in.post(
        NEW, {"starts_at": when, "status": "completed", "clinician_name": "Dr Rivera"}
    )

    assert response.status_code == 200
    assert "cannot be completed yet" in field_error(response, "id_status")
    html = response.content.decode()
    assert 'value="Dr Rivera"' in html
    assert f'value="{when}"' in html
    assert not KapSession.objects.exists()


def test_it_refuses_a_date_that_is_not_a_date(logged_in):
    response = logged_in.post(NEW, {"starts_at": "next tuesday-ish", "status": "planned"})

    assert response.status_code == 200
    assert "Please give a date and time" in field_error(response, "id_starts_at")
    assert 'value="next tuesday-ish"' in response.content.decode()
    assert not KapSession.objects.exists()


def test_it_refuses_an_unknown_status(logged_in):
    response = logged_in.post(NEW, {"starts_at": _when(timedelta(days=-1)), "status": "dosed"})

    assert response.status_code == 200
    assert field_error(response, "id_status") == "Please choose planned, completed or cancelled."
    assert not KapSession.objects.exists()


def test_the_session_form_asks_for_no_dose_or_medication(logged_in):
    response = logged_in.get(NEW)

    assert response.status_code == 200
    fields = set(response.context["form"].fields)
    assert fields == {"starts_at", "status", "clinician_name", "setting", "notes"}
    assert 'name="dose' not in response.content.decode()
    assert 'name="medication' not in response.content.decode()


def test_the_status_and_setting_are_radio_groups_with_a_legend(logged_in):
    html = logged_in.get(NEW).content.decode()

    assert "<legend>Status</legend>" in html
    assert "<legend>Setting</legend>" in html
    assert "---------" not in html


# --- edit ---------------------------------------------------------------------------------------


def test_it_edits_a_session(logged_in, client_user, make_session):
    session = make_session(client_user, hours_ago=-48, status="planned")

    response = logged_in.post(
        _url("session-edit", session),
        {
            "starts_at": _when(timedelta(hours=-2)),
            "status": "completed",
            "clinician_name": "Dr Lee",
        },
    )

    assert response.status_code == 302
    session.refresh_from_db()
    assert session.status == "completed"
    assert session.clinician_name == "Dr Lee"


def test_editing_refuses_bad_input_and_changes_nothing(logged_in, client_user, make_session):
    session = make_session(client_user, hours_ago=-48, status="planned", clinician_name="Dr Lee")

    response = logged_in.post(
        _url("session-edit", session),
        {"starts_at": "", "status": "planned", "clinician_name": "Someone else"},
    )

    assert response.status_code == 200
    assert field_error(response, "id_starts_at") == "Please give the date and time of the session."
    session.refresh_from_db()
    assert session.clinician_name == "Dr Lee"


def test_it_refuses_a_strangers_session(logged_in, stranger, make_session):
    theirs = make_session(stranger, clinician_name="Dr Theirs", notes="their notes")

    assert logged_in.get(_url("session", theirs)).status_code == 404
    assert logged_in.get(_url("session-edit", theirs)).status_code == 404
    response = logged_in.post(
        _url("session-edit", theirs),
        {"starts_at": "2026-01-01T10:00", "status": "cancelled", "clinician_name": "Me"},
    )
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "completed"
    assert theirs.clinician_name == "Dr Theirs"


def test_a_session_that_does_not_exist_is_a_404(logged_in):
    assert logged_in.get(reverse("journal:session", args=[999])).status_code == 404


# --- detail -------------------------------------------------------------------------------------


def test_it_counts_the_hours_since_a_completed_session_five_hours_ago(
    logged_in, client_user, make_session
):
    session = make_session(client_user, hours_ago=5.2)

    response = logged_in.get(_url("session", session))

    assert response.status_code == 200
    assert "5 hours since your session" in response.content.decode()


def test_it_no_longer_counts_the_hours_after_72_hours(logged_in, client_user, make_session):
    session = make_session(client_user, hours_ago=73)

    response = logged_in.get(_url("session", session))

    assert response.status_code == 200
    assert "since your session" not in response.content.decode()


def test_it_does_not_count_the_hours_for_a_planned_session(logged_in, client_user, make_session):
    session = make_session(client_user, hours_ago=5, status="planned")

    response = logged_in.get(_url("session", session))

    assert response.status_code == 200
    assert "since your session" not in response.content.decode()


def test_it_offers_to_set_an_intention_for_the_session(logged_in, client_user, make_session):
    session = make_session(client_user, hours_ago=-48, status="planned")

    response = logged_in.get(_url("session", session))

    assert response.status_code == 200
    link = reverse("journal:instrument", args=["intention-setting"]) + f"?session={session.pk}"
    assert f'href="{link}"' in response.content.decode()
    assert "Set an intention" in response.content.decode()


def test_it_shows_the_intention_for_the_session_with_the_questions_asked(
    logged_in, client_user, make_session, submit
):
    session = make_session(client_user, hours_ago=-48, status="planned")
    other = make_session(client_user, hours_ago=-96, status="planned")
    submit(client_user, "intention-setting", {"want-to-understand": "why I brace"}, session=session)
    submit(client_user, "intention-setting", {"want-to-understand": "other day"}, session=other)

    response = logged_in.get(_url("session", session))

    html = response.content.decode()
    assert response.status_code == 200
    assert "What do I want to understand?" in html
    assert "why I brace" in html
    assert "other day" not in html


def test_a_completed_session_offers_insights_the_worksheet_and_its_steps(
    logged_in, client_user, make_session, submit
):
    session = make_session(client_user, hours_ago=30)
    worksheet = submit(
        client_user,
        "integration-worksheet",
        {"felt-different": "lighter", "might-do-next": "walk at lunch\nphone Jo"},
        session=session,
    )

    response = logged_in.get(_url("session", session))

    html = response.content.decode()
    assert response.status_code == 200
    assert 'action="' + reverse("journal:insight-add", args=[session.pk]) + '"' in html
    link = reverse("journal:instrument", args=["integration-worksheet"]) + f"?session={session.pk}"
    assert f'href="{link}"' in html
    assert reverse("journal:response", args=[worksheet.pk]) in html
    assert "walk at lunch" in html
    assert "phone Jo" in html


def test_a_planned_session_shows_the_open_questions_to_bring(
    logged_in, client_user, make_session, submit
):
    session = make_session(client_user, hours_ago=-48, status="planned")
    submit(
        client_user,
        "first-session-preparation",
        {"concerns-or-questions": "Can I bring music?"},
    )

    response = logged_in.get(_url("session", session))

    assert response.status_code == 200
    assert "Can I bring music?" in response.content.decode()


@pytest.mark.parametrize("status", ["planned", "cancelled"])
def test_only_a_completed_session_shows_the_insight_form(
    logged_in, client_user, make_session, status
):
    session = make_session(client_user, hours_ago=-48, status=status)

    response = logged_in.get(_url("session", session))

    assert response.status_code == 200
    assert reverse("journal:insight-add", args=[session.pk]) not in response.content.decode()


def test_a_planned_session_that_has_passed_invites_an_update(logged_in, client_user, make_session):
    session = make_session(client_user, hours_ago=48, status="planned")

    listing = logged_in.get(reverse("journal:sessions"))
    detail = logged_in.get(_url("session", session))

    assert listing.status_code == 200
    assert _url("session-edit", session) in listing.content.decode()
    assert "Did this session take place?" in detail.content.decode()


def test_a_cancelled_session_does_not_ask_for_an_intention(logged_in, client_user, make_session):
    session = make_session(client_user, hours_ago=-48, status="cancelled")

    response = logged_in.get(_url("session", session))

    assert response.status_code == 200
    assert "Set an intention" not in response.content.decode()


def test_years_of_sessions_are_pages_newest_first_with_what_is_coming_up_on_the_first(
    logged_in, client_user, make_session
):
    for n in range(45):
        make_session(client_user, hours_ago=24 * 30 * (n + 1), clinician_name=f"Dr {n:02d}.")
    make_session(client_user, hours_ago=-24 * 3, status="planned", clinician_name="Dr Soon.")
    url = reverse("journal:sessions")

    first = logged_in.get(url).content.decode()
    second = logged_in.get(url, {"page": 2}).content.decode()
    last = logged_in.get(url, {"page": 3}).content.decode()

    def shown(page):
        return re.findall(r"with (Dr \d\d)\.", page)

    assert "with Dr Soon." in first and "Coming up" in first
    assert shown(first) == [f"Dr {n:02d}" for n in range(20)]
    assert 'rel="next" href="?page=2"' in first and 'rel="prev"' not in first
    assert "Coming up" not in second and "Dr Soon." not in second
    assert shown(second) == [f"Dr {n:02d}" for n in range(20, 40)]
    assert 'rel="prev" href="?page=1"' in second and 'rel="next" href="?page=3"' in second
    assert shown(last) == [f"Dr {n:02d}" for n in range(40, 45)]
    assert 'rel="next"' not in last
    # A page that is not a number, or past the end, is the nearest page there is.
    assert shown(logged_in.get(url, {"page": "x"}).content.decode()) == shown(first)
    assert shown(logged_in.get(url, {"page": 99}).content.decode()) == shown(last)
