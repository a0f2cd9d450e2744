from django.db import connection
from django.urls import reverse

from kap.journal.models import SupportItem
from tests.journal.conftest import field_error

SUPPORT = reverse("journal:support")


def _delete(item):
    return reverse("journal:support-delete", args=[item.pk])


def test_it_shows_three_lists_of_support(logged_in, client_user):
    SupportItem.objects.create(client=client_user, category="therapy", text="Dr Lee, Thursdays")
    SupportItem.objects.create(client=client_user, category="people", text="My sister")
    SupportItem.objects.create(client=client_user, category="routines", text="Morning walk")

    response = logged_in.get(SUPPORT)

    html = response.content.decode()
    assert response.status_code == 200
    therapy = html.index('<h2 id="therapy-title">Ongoing therapy</h2>')
    people = html.index('<h2 id="people-title">Supportive relationships</h2>')
    routines = html.index('<h2 id="routines-title">Consistent routines</h2>')
    assert therapy < html.index("Dr Lee, Thursdays") < people
    assert people < html.index("My sister") < routines
    assert routines < html.index("Morning walk")


def test_it_adds_an_item_to_the_support_map(logged_in, client_user):
    response = logged_in.post(SUPPORT, {"category": "people", "text": "Sam from choir"})

    assert response.status_code == 302
    assert response.url == SUPPORT + "#people"
    item = SupportItem.objects.get()
    assert item.client == client_user
    assert item.category == "people"
    assert item.text == "Sam from choir"


def test_support_text_is_encrypted_at_rest(logged_in):
    logged_in.post(SUPPORT, {"category": "people", "text": "secret-friend-canary"})

    with connection.cursor() as cursor:
        cursor.execute("SELECT text FROM journal_supportitem")
        (raw,) = cursor.fetchone()
    assert raw.startswith("enc1:")
    assert "canary" not in raw


def test_it_asks_for_a_kind_of_support_and_keeps_what_was_typed(logged_in):
    response = logged_in.post(SUPPORT, {"category": "", "text": "Sam from choir"})

    assert response.status_code == 200
    assert field_error(response, "id_category") == "Please choose a kind of support."
    assert 'value="Sam from choir"' in response.content.decode()
    assert not SupportItem.objects.exists()


def test_it_refuses_an_unknown_kind_of_support(logged_in):
    response = logged_in.post(SUPPORT, {"category": "money", "text": "A loan"})

    assert response.status_code == 200
    assert field_error(response, "id_category")
    assert not SupportItem.objects.exists()


def test_it_refuses_an_empty_item(logged_in):
    response = logged_in.post(SUPPORT, {"category": "routines", "text": ""})

    assert response.status_code == 200
    assert field_error(response, "id_text") == "Write who or what helps, in a few words."
    assert not SupportItem.objects.exists()


def test_it_removes_an_item(logged_in, client_user):
    item = SupportItem.objects.create(client=client_user, category="routines", text="Yoga")

    response = logged_in.post(_delete(item), follow=True)

    assert response.status_code == 200
    assert "Removed from your support map." in response.content.decode()
    assert not SupportItem.objects.filter(pk=item.pk).exists()


def test_it_refuses_a_strangers_support_item(logged_in, stranger):
    theirs = SupportItem.objects.create(client=stranger, category="people", text="Their friend")

    assert logged_in.get(_delete(theirs)).status_code == 404
    assert logged_in.post(_delete(theirs)).status_code == 404
    assert SupportItem.objects.filter(pk=theirs.pk).exists()
    assert "Their friend" not in logged_in.get(SUPPORT).content.decode()
