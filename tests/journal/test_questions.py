from datetime import timedelta

from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from kap.journal.models import QuestionToBring
from kap.journal.records import open_questions
from tests.journal.conftest import field_error, queries_for

QUESTIONS = reverse("journal:questions")
NEW = reverse("journal:question-new")


def _asked(q):
    return reverse("journal:question-asked", args=[q.pk])


def test_it_lists_open_questions_first_then_asked_ones(logged_in, client_user):
    QuestionToBring.objects.create(
        client=client_user, text="Already asked?", asked_at=timezone.now()
    )
    QuestionToBring.objects.create(client=client_user, text="Still open?")

    response = logged_in.get(QUESTIONS)

    html = response.content.decode()
    assert response.status_code == 200
    assert html.index("Still open?") < html.index("Add a question") < html.index("Already asked?")


def test_questions_written_in_the_preparation_reflection_appear(logged_in, client_user, submit):
    submit(
        client_user,
        "first-session-preparation",
        {"concerns-or-questions": "How long does it last?\nCan I eat before?"},
    )

    response = logged_in.get(QUESTIONS)

    assert response.status_code == 200
    assert "How long does it last?" in response.content.decode()
    assert "Can I eat before?" in response.content.decode()


def test_ticking_a_question_marks_it_asked(logged_in, client_user):
    q = QuestionToBring.objects.create(client=client_user, text="Music?")

    response = logged_in.post(_asked(q))

    assert response.status_code == 302
    assert response.url == QUESTIONS
    q.refresh_from_db()
    assert q.asked_at is not None


def test_ticking_an_asked_question_moves_it_back_to_open(logged_in, client_user):
    q = QuestionToBring.objects.create(client=client_user, text="Music?", asked_at=timezone.now())

    response = logged_in.post(_asked(q), follow=True)

    assert response.status_code == 200
    assert "Moved back to your open questions." in response.content.decode()
    q.refresh_from_db()
    assert q.asked_at is None


def test_ticking_returns_to_the_page_it_came_from(logged_in, client_user):
    q = QuestionToBring.objects.create(client=client_user, text="Music?")

    response = logged_in.post(_asked(q), {"next": "/today/"})

    assert response.status_code == 302
    assert response.url == "/today/"


def test_ticking_never_returns_to_another_site(logged_in, client_user):
    q = QuestionToBring.objects.create(client=client_user, text="Music?")

    response = logged_in.post(_asked(q), {"next": "https://evil.example/"})

    assert response.status_code == 302
    assert response.url == QUESTIONS


def test_it_refuses_a_strangers_question(logged_in, stranger):
    theirs = QuestionToBring.objects.create(client=stranger, text="Their question")

    assert logged_in.get(_asked(theirs)).status_code == 404
    assert logged_in.post(_asked(theirs)).status_code == 404
    theirs.refresh_from_db()
    assert theirs.asked_at is None
    assert "Their question" not in logged_in.get(QUESTIONS).content.decode()


def test_it_adds_a_question_by_hand(logged_in, client_user):
    response = logged_in.post(NEW, {"text": "Is it normal to feel tired the day after?"})

    assert response.status_code == 302
    q = QuestionToBring.objects.get()
    assert q.client == client_user
    assert q.text == "Is it normal to feel tired the day after?"
    assert q.asked_at is None


def test_it_refuses_an_empty_question(logged_in):
    response = logged_in.post(NEW, {"text": ""})

    assert response.status_code == 200
    assert field_error(response, "id_text") == "Write the question first, even a few words."
    assert not QuestionToBring.objects.exists()


def test_open_questions_are_mine_and_not_yet_asked_oldest_first(client_user, stranger):
    now = timezone.now()
    second = QuestionToBring.objects.create(client=client_user, text="b", created_at=now)
    first = QuestionToBring.objects.create(
        client=client_user, text="a", created_at=now - timedelta(days=1)
    )
    QuestionToBring.objects.create(client=client_user, text="asked", asked_at=now)
    QuestionToBring.objects.create(client=stranger, text="theirs")

    assert open_questions(client_user) == [first, second]


def test_the_include_lists_open_questions_with_a_tick_button_each(client_user):
    q = QuestionToBring.objects.create(client=client_user, text="Can I bring a blanket?")
    request = RequestFactory().get("/today/")
    request.user = client_user

    html = render_to_string(
        "journal/records/_questions_to_bring.html",
        {"questions": open_questions(client_user)},
        request=request,
    )

    assert "Can I bring a blanket?" in html
    assert f'action="{_asked(q)}"' in html
    assert 'name="next" value="/today/"' in html
    assert "I asked this" in html


def test_the_list_takes_the_same_number_of_queries_for_3_or_30_questions(
    logged_in, client_user, django_assert_num_queries
):
    def add(n):
        for i in range(n):
            QuestionToBring.objects.create(
                client=client_user, text=f"q{i}", asked_at=timezone.now() if i % 2 else None
            )

    add(3)
    few = queries_for(logged_in, QUESTIONS)
    add(27)
    with django_assert_num_queries(few):
        assert logged_in.get(QUESTIONS).status_code == 200


def test_the_latest_twenty_asked_are_listed_and_the_rest_are_counted_with_a_link_to_the_timeline(
    logged_in, client_user
):
    now = timezone.now()
    for n in range(25):
        QuestionToBring.objects.create(
            client=client_user, text=f"Asked number {n:02d}?", asked_at=now - timedelta(days=n)
        )
    for n in range(3):
        QuestionToBring.objects.create(client=client_user, text=f"Open number {n}?")

    html = logged_in.get(QUESTIONS).content.decode()

    assert all(f"Open number {n}?" in html for n in range(3))
    listed = [f"Asked number {n:02d}?" for n in range(25) if f"Asked number {n:02d}?" in html]
    assert listed == [f"Asked number {n:02d}?" for n in range(20)]  # the latest, newest first
    assert html.index("Asked number 00?") < html.index("Asked number 19?")
    assert "5 earlier questions are in" in html
    assert 'href="/timeline/?kind=question"' in html


def test_asked_questions_that_all_fit_need_no_link_to_the_timeline(logged_in, client_user):
    QuestionToBring.objects.create(client=client_user, text="Asked?", asked_at=timezone.now())

    html = logged_in.get(QUESTIONS).content.decode()

    assert "Asked?" in html and "earlier question" not in html
