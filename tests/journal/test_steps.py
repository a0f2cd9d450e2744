import re

import pytest
from django.urls import reverse

from kap.journal.models import ActionStep, CheckIn
from tests.journal.conftest import field_error, queries_for

STEPS = reverse("journal:steps")
NEW = reverse("journal:step-new")


def _check_in(step):
    return reverse("journal:step-check-in", args=[step.pk])


def _answer(step, status, note=""):
    return {f"step-{step.pk}-status": status, f"step-{step.pk}-note": note}


@pytest.fixture
def step(client_user, make_session):
    return ActionStep.objects.create(
        client=client_user, session=make_session(client_user), text="Walk at lunch"
    )


def test_it_lists_open_steps_first_then_done_and_let_go(logged_in, client_user):
    ActionStep.objects.create(client=client_user, text="Finished thing", status="done")
    ActionStep.objects.create(client=client_user, text="Released thing", status="let-go")
    ActionStep.objects.create(client=client_user, text="Ongoing thing")

    response = logged_in.get(STEPS)

    html = response.content.decode()
    assert response.status_code == 200
    assert html.index("Ongoing thing") < html.index("Done or let go") < html.index("Finished thing")
    assert html.index("Done or let go") < html.index("Released thing")


def test_the_steps_page_uses_no_words_of_streaks_or_failure(logged_in, client_user):
    ActionStep.objects.create(client=client_user, text="Walk")

    html = logged_in.get(STEPS).content.decode().lower()

    for word in ("streak", "missed", "overdue", "failed", "badge"):
        assert word not in html


@pytest.mark.parametrize(
    "answer, stored",
    [("done", "done"), ("working", "open"), ("let-go", "let-go")],
)
def test_a_check_in_records_how_it_is_going_and_moves_the_step(logged_in, step, answer, stored):
    if answer == "working":
        step.status = "done"
        step.save()

    response = logged_in.post(_check_in(step), _answer(step, answer, "it helped"))

    assert response.status_code == 302
    assert response.url == STEPS + f"#step-{step.pk}"
    step.refresh_from_db()
    assert step.status == stored
    checkin = CheckIn.objects.get()
    assert checkin.step == step
    assert checkin.status == answer
    assert checkin.note == "it helped"


def test_a_check_in_shows_a_calm_confirmation(logged_in, step):
    response = logged_in.post(_check_in(step), _answer(step, "let-go"), follow=True)

    assert response.status_code == 200
    assert "That is a fine choice too." in response.content.decode()


def test_a_check_in_without_a_choice_asks_for_one_and_stores_nothing(logged_in, step):
    response = logged_in.post(_check_in(step), _answer(step, "", "half a note"))

    assert response.status_code == 200
    assert field_error(response, f"id_step-{step.pk}-status") == "Please choose how it is going."
    assert 'value="half a note"' in response.content.decode()
    assert not CheckIn.objects.exists()
    step.refresh_from_db()
    assert step.status == "open"


def test_a_check_in_with_an_unknown_answer_is_refused(logged_in, step):
    response = logged_in.post(_check_in(step), _answer(step, "abandoned"))

    assert response.status_code == 200
    assert field_error(response, f"id_step-{step.pk}-status")
    assert not CheckIn.objects.exists()


def test_each_step_shows_its_latest_check_in_and_how_many_there_are(logged_in, step):
    CheckIn.objects.create(step=step, status="working", note="slow start")
    CheckIn.objects.create(step=step, status="working", note="twice this week")

    response = logged_in.get(STEPS)

    html = response.content.decode()
    assert response.status_code == 200
    assert "Still working on it — twice this week" in html
    assert "(2 in all)" in html
    assert "slow start" not in html  # the earlier ones are on the step's check-in page


def test_the_check_in_page_shows_the_history_of_its_step(logged_in, step):
    CheckIn.objects.create(step=step, status="working", note="slow start")
    CheckIn.objects.create(step=step, status="working", note="twice this week")

    response = logged_in.get(_check_in(step))

    html = response.content.decode()
    assert response.status_code == 200
    assert "<h1" in html and "Walk at lunch" in html
    assert "slow start" in html
    assert "twice this week" in html
    main = html[html.index("<main") : html.index("</main>")]
    assert main.count("<form") == 1


def test_the_steps_page_has_one_form_and_a_link_per_step_however_many_there_are(
    logged_in, client_user
):
    for i in range(12):
        ActionStep.objects.create(client=client_user, text=f"step {i}")

    html = logged_in.get(STEPS).content.decode()

    main = html[html.index("<main") : html.index("</main>")]
    assert main.count("<form") == 1  # adding a step; each check-in is on a page of its own
    assert main.count('type="radio"') == 0
    for step in ActionStep.objects.all():
        assert f'href="{_check_in(step)}"' in main


def test_a_check_in_page_offers_no_blank_answer_and_nothing_preselected(logged_in, step):
    html = logged_in.get(_check_in(step)).content.decode()

    radios = re.findall(r'<input type="radio"[^>]*>', html)
    assert [re.search(r'value="([^"]*)"', r).group(1) for r in radios] == [
        "done",
        "working",
        "let-go",
    ]
    assert not any("checked" in r for r in radios)
    assert "Select an option" not in html


def test_it_refuses_a_strangers_step(logged_in, stranger):
    theirs = ActionStep.objects.create(client=stranger, text="their step")

    assert logged_in.get(_check_in(theirs)).status_code == 404
    assert logged_in.post(_check_in(theirs), _answer(theirs, "done")).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "open"
    assert not CheckIn.objects.exists()
    assert "their step" not in logged_in.get(STEPS).content.decode()


def test_it_adds_a_step_by_hand_linked_to_a_session(logged_in, client_user, make_session):
    session = make_session(client_user)

    response = logged_in.post(NEW, {"text": "Stretch before bed", "session": session.pk})

    assert response.status_code == 302
    step = ActionStep.objects.get()
    assert step.client == client_user
    assert step.text == "Stretch before bed"
    assert step.session == session
    assert step.status == "open"


def test_it_adds_a_step_without_a_session(logged_in, client_user):
    response = logged_in.post(NEW, {"text": "Drink water", "session": ""})

    assert response.status_code == 302
    assert ActionStep.objects.get().session is None


def test_it_refuses_an_empty_step(logged_in):
    response = logged_in.post(NEW, {"text": "", "session": ""})

    assert response.status_code == 200
    assert field_error(response, "id_text") == "Write the step in a few words first."
    assert not ActionStep.objects.exists()


def test_it_refuses_to_link_a_step_to_a_strangers_session(logged_in, stranger, make_session):
    theirs = make_session(stranger)

    response = logged_in.post(NEW, {"text": "Sneaky", "session": theirs.pk})

    assert response.status_code == 200
    assert field_error(response, "id_session") == "Please choose one of your sessions."
    assert 'value="Sneaky"' in response.content.decode()
    assert not ActionStep.objects.exists()


def test_the_new_step_page_preselects_the_session(logged_in, client_user, make_session):
    session = make_session(client_user)

    response = logged_in.get(NEW + f"?session={session.pk}")

    assert response.status_code == 200
    assert response.context["form"]["session"].value() == session.pk


def test_the_new_step_page_refuses_a_strangers_session(logged_in, stranger, make_session):
    assert logged_in.get(NEW + f"?session={make_session(stranger).pk}").status_code == 404


def test_the_steps_page_takes_the_same_number_of_queries_for_3_or_30_steps(
    logged_in, client_user, make_session, django_assert_num_queries
):
    def add(n):
        for i in range(n):
            s = ActionStep.objects.create(
                client=client_user, session=make_session(client_user), text=f"step {i}"
            )
            CheckIn.objects.create(step=s, status="working", note=f"note {i}")

    add(3)
    few = queries_for(logged_in, STEPS)
    add(27)
    with django_assert_num_queries(few):
        assert logged_in.get(STEPS).status_code == 200


def test_years_of_closed_steps_show_the_latest_and_point_to_the_rest(
    logged_in, client_user, monkeypatch
):
    """Every open step is shown; of those done or let go only the latest (the rest are in the
    timeline), so the page does not read and decrypt years of steps to open."""
    from kap.journal import views_records
    from kap.lib import crypto

    monkeypatch.setattr(views_records, "CLOSED_SHOWN", 5)
    for i in range(2):
        ActionStep.objects.create(client=client_user, text=f"open step {i}")
    for i in range(12):
        ActionStep.objects.create(client=client_user, text=f"closed step {i}", status="done")
    decrypted = []
    original = crypto.decrypt
    monkeypatch.setattr(crypto, "decrypt", lambda v: decrypted.append(1) or original(v))
    html = logged_in.get(STEPS).content.decode()
    assert "open step 0" in html and "open step 1" in html
    assert "closed step 11" in html and "closed step 7" in html and "closed step 6" not in html
    assert "7 earlier steps are in" in html and "?kind=step" in html
    assert len(decrypted) <= 2 + 5 + 2  # the steps shown (and the add form's choices), not all
