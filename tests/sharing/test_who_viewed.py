"""/account/sharing/views/: every read of a client's records, by whom and when."""

from kap.care.audit import record
from tests.sharing.conftest import queries_for

URL = "/account/sharing/views/"


def _view(actor, subject, what="client timeline"):
    return record(actor=actor, subject=subject, action="view", what=what, ip="127.0.0.1")


def test_it_lists_views_of_my_records_newest_first(logged_in, client_user, therapist):
    _view(therapist, client_user, "client timeline")
    _view(therapist, client_user, "pre-session brief")

    response = logged_in.get(URL)

    html = response.content.decode()
    assert response.status_code == 200
    assert "Dr Rivera" in html and "rivera@harbour.example" in html
    assert html.index("Viewed: pre-session brief") < html.index("Viewed: client timeline")
    assert "127.0.0.1" not in html


def test_in_spanish_it_says_what_was_read_in_spanish(logged_in, client_user, therapist):
    """The trail stores what was read in English, for every reader; the client reads it in theirs."""
    _view(therapist, client_user, "client timeline")
    record(
        actor=therapist,
        subject=client_user,
        action="export",
        what="pre-session brief (PDF)",
        ip="127.0.0.1",
    )
    client_user.language = "es"
    client_user.save(update_fields=["language"])

    html = logged_in.get(URL).content.decode()

    assert "cronología del cliente" in html
    assert "informe previo a la sesión (PDF)" in html
    assert "client timeline" not in html


def test_it_shows_only_my_rows(logged_in, client_user, stranger, therapist):
    _view(therapist, stranger, "someone else's insights")
    _view(therapist, client_user, "client timeline")

    html = logged_in.get(URL).content.decode()

    assert "client timeline" in html
    assert "someone else" not in html


def test_my_own_consent_changes_are_not_listed_as_views(logged_in, client_user):
    record(actor=client_user, subject=client_user, action="consent", what="link ended", ip=None)

    html = logged_in.get(URL).content.decode()

    assert "link ended" not in html
    assert "Nobody has viewed your records yet." in html


def test_a_view_by_a_deleted_account_still_shows_their_address(logged_in, client_user, make_user):
    gone = make_user("gone@harbour.example", role="therapist", display_name="Dr Gone")
    _view(gone, client_user)
    gone.delete()

    html = logged_in.get(URL).content.decode()

    assert "gone@harbour.example" in html


def test_it_takes_the_same_queries_for_3_or_30_rows(logged_in, client_user, make_user, clinic):
    therapists = [
        make_user(f"t{n}@harbour.example", role="therapist", display_name=f"T{n}", clinic=clinic)
        for n in range(3)
    ]
    for t in therapists:
        _view(t, client_user)
    with_3 = queries_for(logged_in, URL)
    for n in range(27):
        _view(therapists[n % 3], client_user)

    assert queries_for(logged_in, URL) == with_3


def test_it_pages_long_lists(logged_in, client_user, therapist):
    for _ in range(51):
        _view(therapist, client_user)

    first = logged_in.get(URL).content.decode()
    second = logged_in.get(URL + "?page=2").content.decode()

    assert "Page 1 of 2" in first
    assert second.count("Viewed: client timeline") == 1
