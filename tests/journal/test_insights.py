from django.db import connection
from django.urls import reverse

from kap.journal.models import Insight
from tests.journal.conftest import field_error


def _add(session):
    return reverse("journal:insight-add", args=[session.pk])


def test_it_saves_an_insight_for_the_session(logged_in, client_user, make_session):
    session = make_session(client_user)

    response = logged_in.post(_add(session), {"text": "The fear was smaller than I thought"})

    assert response.status_code == 302
    assert response.url == reverse("journal:session", args=[session.pk]) + "#insights"
    insight = Insight.objects.get()
    assert insight.client == client_user
    assert insight.session == session
    assert insight.text == "The fear was smaller than I thought"


def test_it_confirms_and_shows_the_insight_on_the_session_page(
    logged_in, client_user, make_session
):
    session = make_session(client_user)

    response = logged_in.post(_add(session), {"text": "Warmth in my chest"}, follow=True)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Insight saved." in html
    assert "Warmth in my chest" in html


def test_it_keeps_several_short_insights(logged_in, client_user, make_session):
    session = make_session(client_user)

    for text in ("one", "two", "three"):
        assert logged_in.post(_add(session), {"text": text}).status_code == 302

    assert sorted(Insight.objects.filter(session=session).values_list("text", flat=True)) == [
        "one",
        "three",
        "two",
    ]


def test_it_refuses_an_empty_insight_with_the_message_next_to_the_field(
    logged_in, client_user, make_session
):
    session = make_session(client_user)

    response = logged_in.post(_add(session), {"text": "   "})

    assert response.status_code == 200
    assert field_error(response, "id_text") == "Write a word or two first."
    assert not Insight.objects.exists()


def test_insight_text_is_encrypted_at_rest(logged_in, client_user, make_session):
    session = make_session(client_user)
    canary = "purple-otter-canary remembered the lake"

    assert logged_in.post(_add(session), {"text": canary}).status_code == 302

    with connection.cursor() as cursor:
        cursor.execute("SELECT text FROM journal_insight")
        (raw,) = cursor.fetchone()
    assert "purple-otter" not in raw
    assert raw.startswith("enc1:")
    assert Insight.objects.get().text == canary


def test_it_refuses_to_add_an_insight_to_a_strangers_session(logged_in, stranger, make_session):
    theirs = make_session(stranger)

    assert logged_in.get(_add(theirs)).status_code == 404
    assert logged_in.post(_add(theirs), {"text": "mine"}).status_code == 404
    assert not Insight.objects.exists()


def test_a_get_on_the_add_url_leads_back_to_the_session(logged_in, client_user, make_session):
    session = make_session(client_user)

    response = logged_in.get(_add(session))

    assert response.status_code == 302
    assert response.url == reverse("journal:session", args=[session.pk]) + "#insights"


def test_it_edits_an_insight(logged_in, client_user, make_session):
    session = make_session(client_user)
    insight = Insight.objects.create(client=client_user, session=session, text="first words")

    page = logged_in.get(reverse("journal:insight-edit", args=[insight.pk]))
    response = logged_in.post(
        reverse("journal:insight-edit", args=[insight.pk]), {"text": "better words"}
    )

    assert page.status_code == 200
    assert "first words" in page.content.decode()
    assert response.status_code == 302
    insight.refresh_from_db()
    assert insight.text == "better words"


def test_editing_refuses_empty_text_and_keeps_the_insight(logged_in, client_user, make_session):
    insight = Insight.objects.create(
        client=client_user, session=make_session(client_user), text="keep me"
    )

    response = logged_in.post(reverse("journal:insight-edit", args=[insight.pk]), {"text": ""})

    assert response.status_code == 200
    assert field_error(response, "id_text") == "Write a word or two first."
    insight.refresh_from_db()
    assert insight.text == "keep me"


def test_it_deletes_an_insight(logged_in, client_user, make_session):
    session = make_session(client_user)
    insight = Insight.objects.create(client=client_user, session=session, text="let it go")

    response = logged_in.post(reverse("journal:insight-delete", args=[insight.pk]))

    assert response.status_code == 302
    assert response.url == reverse("journal:session", args=[session.pk]) + "#insights"
    assert not Insight.objects.filter(pk=insight.pk).exists()


def test_it_refuses_a_strangers_insight(logged_in, stranger, make_session):
    theirs = Insight.objects.create(client=stranger, session=make_session(stranger), text="theirs")
    edit = reverse("journal:insight-edit", args=[theirs.pk])
    delete = reverse("journal:insight-delete", args=[theirs.pk])

    assert logged_in.get(edit).status_code == 404
    assert logged_in.post(edit, {"text": "changed"}).status_code == 404
    assert logged_in.get(delete).status_code == 404
    assert logged_in.post(delete).status_code == 404
    theirs.refresh_from_db()
    assert theirs.text == "theirs"
